//! The module as a library: one [`Module`] per instance owns the store, the clock and the sync
//! engine's shared state. The HTTP API calls [`Module::status`], [`Module::init`],
//! [`Module::set_grey_mode`] and reads the lists and sold DB through [`Module::store`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use protocol::registration::RegisterResponse;
use store::{Identity, ListDb, Store, StoreError};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::ModuleConfig;
use crate::lifecycle::{self, Facts, Status};
use crate::sync::progress::Progress;
use crate::sync::registration::{RegistrationError, register};

/// The lists a module replicates: grey mode pulls `grey_gtin` instead of `blocked_cis`.
pub fn active_lists(grey_mode: bool) -> [ListDb; 3] {
    let ki_or_grey = if grey_mode {
        ListDb::GreyGtin
    } else {
        ListDb::BlockedCis
    };
    [ki_or_grey, ListDb::BlockedGtin, ListDb::MinPrice]
}

/// The `init` call's parameters (protocol.md §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitRequest {
    /// Participant token.
    pub token: String,
    /// Delete the sold DB.
    pub clear_sold: bool,
    /// Grey-GTIN mode.
    pub enable_grey_list: bool,
}

/// Why `init` or a mode switch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The store is unusable (status `failure`).
    #[error("the module's store is unusable: {0}")]
    Failure(String),
    /// Registration at the operator failed.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// The module has not been initialised yet.
    #[error("the module is not initialised; call init first")]
    NotConfigured,
    /// Writing the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token belongs to another participant than the one this instance serves.
    #[error(
        "the token belongs to participant INN {registered}, but this module instance serves INN \
         {expected}: use that participant's token (or another instance)"
    )]
    OtherParticipant {
        expected: String,
        registered: String,
    },
}

/// State of one replicated database, for status and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct DbSnapshot {
    /// The list.
    pub db: ListDb,
    /// Documents in the local table.
    pub doc_count: u64,
    /// The first full pull completed.
    pub pulled: bool,
    /// Documents skipped because they could not be mapped.
    pub unmapped: u64,
    /// Progress of the running (or last) pull.
    pub progress: Option<Progress>,
}

/// Everything `GET /status` and `/metrics` need, taken at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusSnapshot {
    /// Lifecycle status.
    pub status: Status,
    /// Instance id (after registration).
    pub inst: Option<String>,
    /// Participant INN (after registration).
    pub inn: Option<String>,
    /// The configured service URL.
    pub service_url: String,
    /// Unix ms of the last sync over all lists (0 = never).
    pub last_sync: u64,
    /// Unix ms of the last start of a replication (0 = never).
    pub last_update: u64,
    /// The list content's version (UUID).
    pub db_version: Option<String>,
    /// Grey-GTIN mode.
    pub grey_mode: bool,
    /// The active lists.
    pub databases: Vec<DbSnapshot>,
    /// The last sync error, until a sync succeeds.
    pub last_error: Option<String>,
    /// Why the module is in `failure`.
    pub failure: Option<String>,
    /// Where a damaged lists file was moved at start.
    pub quarantined: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub(crate) struct Live {
    pub(crate) last_data: u64,
    pub(crate) progress: BTreeMap<ListDb, Progress>,
    pub(crate) last_error: Option<String>,
    pub(crate) fatal: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ModuleConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store: Option<Arc<Store>>,
    pub(crate) quarantined: Option<PathBuf>,
    pub(crate) live: Mutex<Live>,
    /// Bumped by every init, re-init and mode switch: a pull of an older epoch must not apply.
    pub(crate) epoch: AtomicU64,
    /// Held while a batch is applied and while lists are reset, so the two never interleave.
    pub(crate) apply_lock: tokio::sync::Mutex<()>,
    pub(crate) wake: Notify,
    /// Bumped after every applied batch and every sync cycle, so watchers need not poll.
    pub(crate) changed: tokio::sync::watch::Sender<u64>,
}

/// One local-module instance. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Module {
    pub(crate) shared: Arc<Shared>,
}

impl Module {
    /// Opens the store in `config.data_dir`. A store that cannot be opened does not stop the
    /// module: it reports `failure` with the reason (a damaged lists file is quarantined and
    /// re-synced instead, see `store`).
    pub fn open(config: ModuleConfig, clock: Arc<dyn Clock>) -> Module {
        let now = clock.now_ms();
        let (store, quarantined, fatal) = match Store::open(&config.data_dir, config.store.clone())
        {
            Ok((store, report)) => {
                if let Some(aside) = &report.quarantined {
                    tracing::warn!(
                        aside = %aside.display(),
                        damage = report.damage.as_deref().unwrap_or(""),
                        "damaged lists store quarantined; a full re-sync starts"
                    );
                }
                (Some(Arc::new(store)), report.quarantined, None)
            }
            Err(err) => {
                tracing::error!(error = %err, "store unusable: status is failure");
                (None, None, Some(err.to_string()))
            }
        };
        let live = Live {
            last_data: now,
            fatal,
            ..Live::default()
        };
        Module {
            shared: Arc::new(Shared {
                config,
                clock,
                store,
                quarantined,
                live: Mutex::new(live),
                epoch: AtomicU64::new(0),
                apply_lock: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
                changed: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    /// The store, unless it could not be opened.
    pub fn store(&self) -> Option<&Store> {
        self.shared.store.as_deref()
    }

    /// The module's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// The configuration.
    pub fn config(&self) -> &ModuleConfig {
        &self.shared.config
    }

    /// Status and replication state now.
    pub fn status(&self) -> StatusSnapshot {
        let now = self.shared.clock.now_ms();
        let mut snapshot = StatusSnapshot {
            status: Status::Failure,
            inst: None,
            inn: None,
            service_url: self.shared.config.service_url.clone(),
            last_sync: 0,
            last_update: 0,
            db_version: None,
            grey_mode: false,
            databases: Vec::new(),
            last_error: None,
            failure: None,
            quarantined: self.shared.quarantined.clone(),
        };
        match self.read_state(now, &mut snapshot) {
            Ok(()) => {}
            Err(err) => {
                snapshot.status = Status::Failure;
                snapshot.failure = Some(err.to_string());
            }
        }
        snapshot
    }

    fn read_state(&self, now: u64, snapshot: &mut StatusSnapshot) -> Result<(), StoreError> {
        let (last_data, progress, last_error, fatal) = {
            let live = self.live();
            (
                live.last_data,
                live.progress.clone(),
                live.last_error.clone(),
                live.fatal.clone(),
            )
        };
        snapshot.last_error = last_error;
        let store = match (&self.shared.store, fatal) {
            (Some(store), None) if !store.is_poisoned() => store,
            (store, fatal) => {
                let poisoned = store.as_ref().and_then(|store| store.poison_reason());
                snapshot.failure = Some(
                    fatal
                        .or(poisoned)
                        .unwrap_or_else(|| "the store refuses writes".into()),
                );
                return Ok(());
            }
        };
        let identity = store.local().identity()?;
        let times = store.lists().sync_times()?;
        let grey_mode = identity.as_ref().is_some_and(|id| id.grey_mode);
        let mut pulled = true;
        for db in active_lists(grey_mode) {
            let state = store.lists().db_state(db)?;
            pulled &= state.pulled;
            snapshot.databases.push(DbSnapshot {
                db,
                doc_count: state.doc_count,
                pulled: state.pulled,
                unmapped: state.unmapped,
                progress: progress.get(&db).copied(),
            });
        }
        let facts = Facts {
            store_usable: true,
            configured: identity.is_some(),
            pulled,
            last_sync: times.last_sync,
            last_data,
        };
        snapshot.status = lifecycle::status(&facts, now);
        snapshot.last_sync = times.last_sync;
        snapshot.last_update = times.last_update;
        snapshot.db_version = Some(store.lists().db_version()?);
        snapshot.grey_mode = grey_mode;
        if let Some(identity) = identity {
            snapshot.inst = Some(identity.inst);
            snapshot.inn = Some(identity.inn);
        }
        Ok(())
    }

    /// Waits until the status satisfies `done` (checked after every batch and sync cycle).
    /// Wrap it in a timeout; it returns the first satisfying snapshot.
    pub async fn wait_until(&self, done: impl Fn(&StatusSnapshot) -> bool) -> StatusSnapshot {
        let mut changes = self.shared.changed.subscribe();
        loop {
            let snapshot = self.status();
            if done(&snapshot) {
                return snapshot;
            }
            if changes.changed().await.is_err() {
                return snapshot;
            }
        }
    }

    /// How many changes were announced (the status cache's generation).
    pub(crate) fn changes(&self) -> u64 {
        *self.shared.changed.borrow()
    }

    pub(crate) fn notify_changed(&self) {
        self.shared
            .changed
            .send_modify(|generation| *generation += 1);
    }

    /// `init`: registers with the token, then starts a full sync from scratch.
    pub async fn init(&self, request: InitRequest) -> Result<(), InitError> {
        self.usable_store()?;
        let response = register(
            &self.shared.config.service_url,
            &request.token,
            self.shared.config.timeouts,
        )
        .await?;
        if let Some(expected) = &self.shared.config.participant_inn
            && response.inn != *expected
        {
            return Err(InitError::OtherParticipant {
                expected: expected.clone(),
                registered: response.inn,
            });
        }
        tracing::info!(inst = %response.inst, inn = %response.inn, "registered");
        self.adopt(
            response,
            &request.token,
            request.enable_grey_list,
            request.clear_sold,
        )
        .await
    }

    /// Switches grey-GTIN mode; the list that becomes active is pulled from scratch (status is
    /// `initialization` until it completes) and the one that becomes inactive is emptied.
    pub async fn set_grey_mode(&self, enable: bool) -> Result<(), InitError> {
        let store = self.usable_store()?;
        let mut identity = store.local().identity()?.ok_or(InitError::NotConfigured)?;
        if identity.grey_mode == enable {
            return Ok(());
        }
        let _applying = self.shared.apply_lock.lock().await;
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        identity.grey_mode = enable;
        store.lists().reset(ListDb::BlockedCis)?;
        store.lists().reset(ListDb::GreyGtin)?;
        store.local().set_identity(Some(&identity))?;
        self.live().last_data = self.shared.clock.now_ms();
        tracing::info!(grey_mode = enable, "grey mode switched; re-syncing");
        self.shared.wake.notify_one();
        self.notify_changed();
        Ok(())
    }

    /// Deletes sales past the 30-day retention by the module's clock.
    pub fn purge_sold(&self) -> Result<u64, InitError> {
        let store = self.usable_store()?;
        Ok(store.local().sold_purge(self.shared.clock.now_ms())?)
    }

    /// Takes a registration: new identity, lists emptied, full sync from scratch.
    pub(crate) async fn adopt(
        &self,
        response: RegisterResponse,
        token: &str,
        grey_mode: bool,
        clear_sold: bool,
    ) -> Result<(), InitError> {
        let store = self.usable_store()?;
        let source = serde_json::to_string(&response.replication)
            .map_err(|err| InitError::Failure(format!("cannot keep the registration: {err}")))?;
        let identity = Identity {
            inst: response.inst,
            inn: response.inn,
            service_url: self.shared.config.service_url.clone(),
            token: token.to_owned(),
            source,
            grey_mode,
        };
        let _applying = self.shared.apply_lock.lock().await;
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        if clear_sold {
            store.local().sold_clear()?;
        }
        for db in ListDb::ALL {
            store.lists().reset(db)?;
        }
        store.lists().record_times(Some(0), Some(0), Some(0))?;
        store.local().set_identity(Some(&identity))?;
        store.local().set_status(Status::Initialization.as_str())?;
        {
            let mut live = self.live();
            live.last_data = self.shared.clock.now_ms();
            live.progress.clear();
            live.last_error = None;
        }
        self.shared.wake.notify_one();
        self.notify_changed();
        Ok(())
    }

    pub(crate) fn usable_store(&self) -> Result<&Store, InitError> {
        if let Some(fatal) = &self.live().fatal {
            return Err(InitError::Failure(fatal.clone()));
        }
        match self.store() {
            Some(store) if !store.is_poisoned() => Ok(store),
            _ => Err(InitError::Failure("the store refuses writes".into())),
        }
    }

    pub(crate) fn live(&self) -> MutexGuard<'_, Live> {
        // A panic while holding this lock leaves plain data behind; keep using it.
        self.shared
            .live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
