//! What the HTTP API needs from the rest of the module (store, sync engine, lifecycle). The API
//! is generic over it so that it knows nothing of redb or replication; the production
//! implementation is in `crate::node`.

use std::collections::BTreeMap;
use std::future::Future;

use protocol::lm::{ModuleState, OperationMode, SyncProgress};

pub use crate::sync::progress::Progress;

/// A failure below the API: the store cannot be read or written, init was refused, …
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The request cannot be carried out in this state (e.g. init while initialising); 409.
    #[error("{0}")]
    Conflict(String),
    /// The operator refused what the caller sent (the participant token of `init`); 400.
    #[error("{0}")]
    Refused(String),
    /// The operator could not be reached or failed; 502.
    #[error("{0}")]
    Upstream(String),
    /// The disk holding the store is full: nothing was written, the same call succeeds once
    /// space is freed; 507.
    #[error("{0}")]
    OutOfSpace(String),
    /// Internal fault (store unreadable, poisoned after an I/O failure); 500.
    #[error("{0}")]
    Internal(String),
}

/// One replicated database as `status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbReport {
    /// `blocked_cis`, `blocked_gtin`, `grey_gtin`, `min_price`.
    pub name: &'static str,
    /// Entries in the local table.
    pub local_count: u64,
    /// `doc_count` the source reported at the last pull, if any.
    pub server_count: Option<u64>,
    /// The first full pull of this database has completed.
    pub pulled: bool,
    /// The running (or last) pull: documents received, expected, when (metrics, admin page).
    pub progress: Option<Progress>,
}

/// Everything `status` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub state: ModuleState,
    pub mode: OperationMode,
    /// Empty strings before the first init.
    pub inst: String,
    pub inn: String,
    pub service_url: String,
    pub db_version: String,
    /// Unix ms; 0 = never.
    pub last_sync: u64,
    pub last_update: u64,
    /// Grey-GTIN mode.
    pub grey_mode: bool,
    /// Active databases (empty before init).
    pub dbs: Vec<DbReport>,
    /// znak's own additions to `status`.
    pub extensions: StatusExtensions,
    /// Unix ms from which this snapshot is stale even if nothing changed: the next time rule
    /// (72 h after `last_sync` while `ready`, 15 min after the last data while initialising);
    /// `u64::MAX` when no rule is ahead.
    pub valid_until: u64,
}

/// Fields `status` carries beyond the operator's API (extensions; clients ignore them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusExtensions {
    /// db name → progress of its running or last pull.
    pub sync_progress: BTreeMap<String, SyncProgress>,
    /// Why the module is in `failure`.
    pub failure_reason: Option<String>,
    /// The last sync error, until a sync succeeds.
    pub last_sync_error: Option<String>,
}

/// What the module's data says about one KI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodeFacts {
    /// The KI is in `blocked_cis`.
    pub ki_blocked: bool,
    /// The GTIN is in `blocked_gtin`.
    pub gtin_blocked: bool,
    /// The GTIN is in `grey_gtin` (consulted in grey mode only).
    pub grey_gtin: bool,
    /// The GTIN is in `min_price`: (`mrp`, `smp`), kopecks.
    pub min_price: Option<(Option<u64>, Option<u64>)>,
    /// The KI is in the sold DB.
    pub sold: bool,
}

/// The module as the API sees it. Store calls are microseconds and run inline; `init` and
/// `greyList` may talk to the operator and are async.
pub trait Backend: Send + Sync + 'static {
    /// Current time, Unix ms (injected in tests).
    fn now_ms(&self) -> u64;
    /// The state for `status` and the readiness gate of checks.
    fn snapshot(&self) -> Result<Snapshot, BackendError>;
    /// A number that changes whenever anything [`Backend::snapshot`] reads changes, so the API
    /// can reuse a snapshot until then (or its `valid_until`); `None`: read it every time.
    fn generation(&self) -> Option<u64> {
        None
    }
    /// Looks one KI (with its 14-digit GTIN) up in every list and the sold DB.
    fn facts(&self, ki: &str, gtin: &str) -> Result<CodeFacts, BackendError>;
    /// Records a sale; false when the KI was already recorded.
    fn sell(&self, ki: &str) -> Result<bool, BackendError>;
    /// Forgets a sale; false when the KI was not recorded.
    fn unsell(&self, ki: &str) -> Result<bool, BackendError>;
    /// A page of the sold DB in KI order and the total count.
    fn sold_page(&self, skip: u64, limit: u64) -> Result<(u64, Vec<String>), BackendError>;
    /// Codes in the sold DB.
    fn sold_count(&self) -> Result<u64, BackendError> {
        self.sold_page(0, 0).map(|(total, _)| total)
    }
    /// A page of the sold DB with sale times (Unix ms), in KI order, and the total count. The
    /// default is for backends that keep no times: every entry reads as sold now.
    fn sold_entries(
        &self,
        skip: u64,
        limit: u64,
    ) -> Result<(u64, Vec<(String, u64)>), BackendError> {
        let now = self.now_ms();
        let (total, kis) = self.sold_page(skip, limit)?;
        Ok((total, kis.into_iter().map(|ki| (ki, now)).collect()))
    }
    /// Loads sales with their times (a backup); a KI already recorded keeps its time. Returns
    /// how many were new. The default records each as sold now.
    fn sold_restore(&self, entries: &[(String, u64)]) -> Result<u64, BackendError> {
        let mut added = 0;
        for (ki, _) in entries {
            added += u64::from(self.sell(ki)?);
        }
        Ok(added)
    }
    /// `init`: register with the operator's token and start the first sync.
    fn init(
        &self,
        token: String,
        clear_sold: bool,
        grey_mode: bool,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// `greyList`: switch grey-GTIN mode (re-syncs the lists it changes).
    fn set_grey_mode(&self, enable: bool) -> impl Future<Output = Result<(), BackendError>> + Send;
}
