//! The local module (`znak lm`): the sync engine that replicates the operator's lists into the
//! store, the status lifecycle of protocol.md §3.2–3.3, and the HTTP API v1/v2 ([`api`]).
//! [`Module`] is the library API the HTTP layer and the CLI build on; every timing rule reads an
//! injected [`Clock`].

pub mod api;
pub mod clock;
pub mod config;
pub mod diag;
pub mod lifecycle;
pub mod memory;
pub mod module;
pub mod settings;
pub mod sync;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ModuleConfig, Poll};
pub use lifecycle::Status;
pub use module::{DbSnapshot, InitError, InitRequest, Module, StatusSnapshot, active_lists};
pub use settings::{Settings, SettingsError};
