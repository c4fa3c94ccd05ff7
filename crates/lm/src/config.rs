//! Settings of the module's sync side.

use std::path::PathBuf;
use std::time::Duration;

use store::StoreOptions;

use crate::sync::source::Timeouts;

/// How the module learns about new changes once caught up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Pull every interval (default 60 s).
    Interval(Duration),
    /// Hold a `_changes?feed=longpoll` request open for up to this long.
    Longpoll(Duration),
}

/// Settings of a module instance.
#[derive(Debug, Clone)]
pub struct ModuleConfig {
    /// Directory of the store files.
    pub data_dir: PathBuf,
    /// The operator's service URL (registration goes to `{service_url}/lm/v1/register`).
    pub service_url: String,
    /// Incremental pulls once caught up.
    pub poll: Poll,
    /// Changes per `_changes` request.
    pub batch_limit: u64,
    /// Pages are gathered into one store transaction (with the last page's checkpoint) until
    /// it holds this many changes, or the list is caught up: fewer, larger commits make the
    /// initial pull several times faster, and a crash still leaves a page boundary.
    pub commit_changes: usize,
    /// First retry delay after a failure; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// HTTP timeouts.
    pub timeouts: Timeouts,
    /// Store tuning.
    pub store: StoreOptions,
    /// The participant (INN) this instance serves; `init` with another participant's token is
    /// refused. `None`: any.
    pub participant_inn: Option<String>,
}

impl ModuleConfig {
    /// Defaults for a data directory and service URL.
    pub fn new(data_dir: impl Into<PathBuf>, service_url: impl Into<String>) -> ModuleConfig {
        ModuleConfig {
            data_dir: data_dir.into(),
            service_url: service_url.into(),
            poll: Poll::Interval(Duration::from_secs(60)),
            batch_limit: 10_000,
            commit_changes: 100_000,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            timeouts: Timeouts::default(),
            store: StoreOptions::default(),
            participant_inn: None,
        }
    }
}
