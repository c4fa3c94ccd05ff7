//! The production [`Backend`]: the module itself ([`crate::Module`]: store, sync engine,
//! lifecycle), and [`run`], the whole local module as one library call.

use std::sync::Arc;
use std::time::Duration;

use protocol::lm::{ModuleState, OperationMode};
use store::{Gtin, SOLD_RETENTION_MS, Store};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::ApiState;
use super::auth::{Auth, CredentialsError, StoredCredentials};
use super::backend::{Backend, BackendError, CodeFacts, DbReport, Snapshot, StatusExtensions};
use super::server::{ServeConfig, ServeError, serve};
use crate::module::{InitError, InitRequest, Module};
use crate::{ModuleConfig, Status};

impl Module {
    /// Purges expired sales before a read of the sold DB. On a full disk the purge (a write)
    /// cannot run: the read goes on and may still list sales past 30 days, rather than fail.
    fn purge_before_reading(&self) -> Result<(), BackendError> {
        match self.purge_sold() {
            Ok(_) => Ok(()),
            Err(InitError::Store(err)) if err.is_out_of_space() => {
                tracing::warn!(error = %err, "sold DB not purged: the disk is full");
                Ok(())
            }
            Err(err) => Err(init_error(err)),
        }
    }

    fn usable(&self) -> Result<&Store, BackendError> {
        match self.store() {
            Some(store) if !store.is_poisoned() => Ok(store),
            _ => Err(BackendError::Internal(
                "the module's store is unusable (status failure); see the module's log".into(),
            )),
        }
    }
}

fn store_error(err: store::StoreError) -> BackendError {
    if err.is_out_of_space() {
        return BackendError::OutOfSpace(format!(
            "the disk holding the module's data is full ({err}); nothing was recorded: free \
             space there and send the request again"
        ));
    }
    BackendError::Internal(format!("store: {err}"))
}

fn init_error(err: InitError) -> BackendError {
    match err {
        InitError::Registration(err) if err.is_token_refused() => BackendError::Refused(format!(
            "the operator refused the participant token (field token): {err}; send the \
             participant's True API token (X-API-KEY)"
        )),
        InitError::Registration(err) => BackendError::Upstream(format!("registration: {err}")),
        InitError::NotConfigured | InitError::OtherParticipant { .. } => {
            BackendError::Conflict(err.to_string())
        }
        InitError::Store(err) => store_error(err),
        other => BackendError::Internal(other.to_string()),
    }
}

fn wire_state(status: Status) -> ModuleState {
    match status {
        Status::NotConfigured => ModuleState::NotConfigured,
        Status::Initialization => ModuleState::Initialization,
        Status::Ready => ModuleState::Ready,
        Status::Failure => ModuleState::Failure,
        Status::SyncError => ModuleState::SyncError,
    }
}

impl Backend for Module {
    fn now_ms(&self) -> u64 {
        self.clock().now_ms()
    }

    fn snapshot(&self) -> Result<Snapshot, BackendError> {
        let last_data = self.live().last_data;
        let status = self.status();
        let valid_until = crate::lifecycle::valid_until(status.status, status.last_sync, last_data);
        let dbs = status
            .databases
            .iter()
            .map(|db| DbReport {
                name: db.db.name(),
                local_count: db.doc_count,
                server_count: db.progress.map(|progress| progress.expected),
                pulled: db.pulled,
                progress: db.progress,
            })
            .collect();
        let extensions = StatusExtensions {
            sync_progress: status
                .databases
                .iter()
                .filter_map(|db| Some((db.db.name().to_owned(), db.progress?.to_wire(db.pulled))))
                .collect(),
            failure_reason: status.failure.clone(),
            last_sync_error: status.last_error.clone(),
        };
        Ok(Snapshot {
            state: wire_state(status.status),
            mode: OperationMode::Active,
            inst: status.inst.unwrap_or_default(),
            inn: status.inn.unwrap_or_default(),
            service_url: status.service_url,
            db_version: status.db_version.unwrap_or_default(),
            last_sync: status.last_sync,
            last_update: status.last_update,
            grey_mode: status.grey_mode,
            dbs,
            extensions,
            valid_until,
        })
    }

    fn generation(&self) -> Option<u64> {
        // Every change of the store or the sync state is announced on `changed`; a store
        // poisoned by a failed write (possibly from a sale) changes the status without one.
        let poisoned = self.store().is_none_or(|store| store.is_poisoned());
        Some((self.changes() << 1) | u64::from(poisoned))
    }

    fn facts(&self, ki: &str, gtin: &str) -> Result<CodeFacts, BackendError> {
        let store = self.usable()?;
        let lookup = store
            .lists()
            .lookup(ki, Gtin::parse(gtin).ok())
            .map_err(store_error)?;
        let now = self.clock().now_ms();
        // Exact 30-day expiry even between two purges of the sync engine.
        let sold = store
            .local()
            .sold_get(ki)
            .map_err(store_error)?
            .is_some_and(|at| now.saturating_sub(at) <= SOLD_RETENTION_MS);
        Ok(CodeFacts {
            ki_blocked: lookup.ki_blocked,
            gtin_blocked: lookup.gtin_blocked,
            grey_gtin: lookup.grey_gtin,
            min_price: lookup.min_price.map(|price| (price.mrp, price.smp)),
            sold,
        })
    }

    fn sell(&self, ki: &str) -> Result<bool, BackendError> {
        let store = self.usable()?;
        self.purge_sold().map_err(init_error)?;
        store
            .local()
            .sold_insert(ki, self.clock().now_ms())
            .map_err(store_error)
    }

    fn unsell(&self, ki: &str) -> Result<bool, BackendError> {
        self.usable()?.local().sold_remove(ki).map_err(store_error)
    }

    fn sold_page(&self, skip: u64, limit: u64) -> Result<(u64, Vec<String>), BackendError> {
        let store = self.usable()?;
        self.purge_before_reading()?;
        store.local().sold_list(skip, limit).map_err(store_error)
    }

    fn sold_count(&self) -> Result<u64, BackendError> {
        self.usable()?.local().sold_count().map_err(store_error)
    }

    fn sold_entries(
        &self,
        skip: u64,
        limit: u64,
    ) -> Result<(u64, Vec<(String, u64)>), BackendError> {
        let store = self.usable()?;
        self.purge_before_reading()?;
        store.local().sold_entries(skip, limit).map_err(store_error)
    }

    fn sold_restore(&self, entries: &[(String, u64)]) -> Result<u64, BackendError> {
        self.usable()?
            .local()
            .sold_restore(entries)
            .map_err(store_error)
    }

    async fn init(&self, token: String, clear_sold: bool, grey: bool) -> Result<(), BackendError> {
        let request = InitRequest {
            token,
            clear_sold,
            enable_grey_list: grey,
        };
        Module::init(self, request).await.map_err(init_error)
    }

    async fn set_grey_mode(&self, enable: bool) -> Result<(), BackendError> {
        Module::set_grey_mode(self, enable)
            .await
            .map_err(init_error)
    }
}

/// Settings of a whole module: sync side and API side.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Store, operator URL, sync tuning.
    pub module: ModuleConfig,
    /// `Authorization: Token <uuid>` values accepted on `outCheck` (TS PIoT).
    pub tokens: Vec<Uuid>,
    /// Connection limits.
    pub serve: ServeConfig,
    /// Longest time for one request (body upload included) → 408.
    pub request_timeout: Duration,
    /// `/metrics` asks for Basic auth (default: open).
    pub metrics_require_auth: bool,
}

impl ServiceConfig {
    /// Defaults around a module configuration.
    pub fn new(module: ModuleConfig) -> ServiceConfig {
        ServiceConfig {
            module,
            tokens: Vec::new(),
            serve: ServeConfig::default(),
            request_timeout: Duration::from_secs(10),
            metrics_require_auth: false,
        }
    }
}

/// Why the module could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// The local module: opens the store, runs the sync engine, serves the API on `listener` until
/// `shutdown` is cancelled. A store that cannot be opened does not stop it: it serves `status`
/// with `failure` and refuses checks.
pub async fn run(
    config: ServiceConfig,
    clock: Arc<dyn crate::Clock>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let stored = StoredCredentials::load(&config.module.data_dir)?;
    let auth = Auth::new(stored, config.tokens.clone()).persisted_in(&config.module.data_dir);
    let module = Module::open(config.module.clone(), clock);
    let mut state = ApiState::new(module, auth);
    state.request_timeout = config.request_timeout;
    state.metrics_require_auth = config.metrics_require_auth;
    run_module(Arc::new(state), config.serve, listener, shutdown).await
}

/// [`run`] for an already opened module (tests and benchmarks keep a handle on its state).
pub async fn run_module(
    state: Arc<ApiState<Module>>,
    serve_config: ServeConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    // A child token: a refused start stops the engine without cancelling the caller's token.
    let stop = shutdown.child_token();
    let engine = tokio::spawn({
        let module = state.backend.clone();
        let stop = stop.clone();
        async move { module.run(stop).await }
    });
    let served = serve(state, listener, serve_config, stop.clone()).await;
    stop.cancel();
    if let Err(err) = engine.await {
        tracing::error!(error = %err, "sync engine task failed");
    }
    Ok(served?)
}
