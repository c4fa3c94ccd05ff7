//! `znak demo`: the whole system in one process, on loopback, in a temporary directory.
//!
//! The operator emulator issues codes and blocks some; a local module registers, syncs the
//! lists and reports its progress; then a till session plays through the till checker: online
//! answers, the link cut (fault knob), offline decisions inside the deadline with the module's
//! `Inst`/`Ver` in tag 1265, a repeat sale refused by the sold DB, and the link back.
//! Everything is real: sockets, stores, sync, the race. The printed timeline is the product.

mod scene;
mod timeline;

pub use scene::{DemoError, Summary, run};
pub use timeline::Timeline;
