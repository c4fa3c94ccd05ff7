//! The till checker: the till side of permissive mode (protocol.md §1.2–1.13, §2).
//!
//! [`Checker::check`] sends the full KM online (`codes/check` on the fastest CDN host) and,
//! in parallel, the KI to the local module, waits at most one deadline (1.5 s), decides on the
//! answer that counts ([`decision`]) and forms tag 1265 ([`tag`]). The CDN rules ([`cdn`]) live
//! in a state file shared by every till process on the machine ([`shared_state`]).
//! [`blocking::BlockingChecker`] wraps it for synchronous POS code; [`gateway`] serves it over
//! local HTTP.

pub mod blocking;
pub mod cdn;
mod checker;
pub mod clock;
mod conclude;
pub mod config;
pub mod decision;
pub mod gateway;
pub mod module;
pub mod online;
pub mod outcome;
pub mod queue;
mod race;
pub mod readiness;
pub mod receipt;
pub mod shared_state;
pub mod tag;

pub use checker::{CheckError, CheckRequest, Checker, SetupError};
pub use config::TillConfig;
pub use outcome::{CheckOutcome, Decision, Source};
pub use receipt::ReceiptItem;
