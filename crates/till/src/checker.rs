//! The async till checker: configuration, shared state and clients in one cheap-to-clone
//! handle; the race itself is in [`crate::race`], the verdict in [`crate::conclude`].

use std::sync::Arc;
use std::time::Duration;

use marking::{CodeError, MarkingCode, ProductGroup};
use rand::Rng;
use tokio::task::JoinSet;

use crate::cdn::{CdnState, REFRESH_JITTER_MAX_MS};
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, Settings, TillConfig};
use crate::module::ModuleClient;
use crate::online::{ServiceError, TrueApi};
use crate::outcome::CheckOutcome;
use crate::readiness::{ModuleReadiness, ReadinessCell, spawn_watch};
use crate::receipt::ReceiptItem;
use crate::shared_state::{SharedState, StateError};

/// One item to check.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The scanned code (any form `marking::normalize` reads).
    pub km: String,
    /// Sale price in kopecks after discounts.
    #[serde(default)]
    pub price: Option<u64>,
    /// Product group id, when the till knows it.
    #[serde(default)]
    pub pg: Option<u16>,
    /// Partial sale (draft beer, …): how much of the item, in the units of `innerUnitCount`.
    /// Absent: the whole item.
    #[serde(default)]
    pub quantity: Option<u64>,
    /// The items already on this receipt, for the receipt rules (no code twice; parts not over
    /// what is left). Absent or empty: the rules see only this item.
    #[serde(default)]
    pub receipt: Vec<ReceiptItem>,
}

/// A request that cannot be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("marking code unreadable: {0}")]
    Code(#[from] CodeError),
    #[error("unknown product group {0}")]
    UnknownGroup(u16),
    #[error("quantity must be above 0 (a partial sale of nothing)")]
    ZeroQuantity,
    #[error("receipt[{index}]: {reason}")]
    Receipt { index: usize, reason: String },
}

/// The checker cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Http(#[from] ServiceError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

pub(crate) struct Inner {
    pub config: TillConfig,
    pub settings: Settings,
    pub api: TrueApi,
    pub module: Option<ModuleClient>,
    pub state: SharedState,
    /// The hosts to use while no list was ever fetched.
    pub fallback: Arc<[String]>,
    pub clock: Arc<dyn Clock>,
    /// The module's lifecycle state, kept by the status watcher.
    pub readiness: ReadinessCell,
}

/// The till checker. Clone it freely; clones share everything.
#[derive(Clone)]
pub struct Checker {
    pub(crate) inner: Arc<Inner>,
}

impl Checker {
    pub fn new(config: TillConfig) -> Result<Self, SetupError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// With an injected wall clock (tests use [`crate::clock::TokioClock`]).
    pub fn with_clock(config: TillConfig, clock: Arc<dyn Clock>) -> Result<Self, SetupError> {
        let settings = config.settings()?;
        let api = TrueApi::new(config.token.clone())?;
        let module = match &config.module {
            Some(m) => Some(ModuleClient::new(m, config.fiscal_drive_number.as_deref())?),
            None => None,
        };
        let state = SharedState::open(&config.state_file)?;
        let fallback = config.fallback().into();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                settings,
                api,
                module,
                state,
                fallback,
                clock,
                readiness: ReadinessCell::default(),
            }),
        })
    }

    pub fn config(&self) -> &TillConfig {
        &self.inner.config
    }

    pub fn module(&self) -> Option<&ModuleClient> {
        self.inner.module.as_ref()
    }

    /// What the checker knows of the module's lifecycle; `None` when no module is configured.
    pub fn module_readiness(&self) -> Option<ModuleReadiness> {
        self.inner.module.as_ref()?;
        Some(self.inner.readiness.get())
    }

    /// Starts polling the module's status (once per checker; a no-op without a module or when
    /// already running). Checks start it themselves; the gateway starts it at once.
    pub fn watch_module(&self) {
        if self.inner.module.is_some() && self.inner.readiness.claim_watch() {
            spawn_watch(&self.inner);
        }
    }

    /// Now, by the checker's clock (Unix ms).
    pub fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Checks one item: online ∥ local module, one deadline, the decision and tag 1265.
    pub async fn check(&self, request: CheckRequest) -> Result<CheckOutcome, CheckError> {
        let code = MarkingCode::parse(&request.km)?;
        if let Some(pg) = request.pg
            && ProductGroup::by_id(pg).is_none()
        {
            return Err(CheckError::UnknownGroup(pg));
        }
        if request.quantity == Some(0) {
            return Err(CheckError::ZeroQuantity);
        }
        for (index, item) in request.receipt.iter().enumerate() {
            let reason = match (marking::ki(&item.km), item.quantity) {
                (Err(e), _) => format!("marking code unreadable: {e}"),
                (Ok(_), Some(0)) => "quantity must be above 0".to_owned(),
                (Ok(_), _) => continue,
            };
            return Err(CheckError::Receipt { index, reason });
        }
        Ok(self.race(code, request).await)
    }

    /// The shared CDN state as this process sees it now.
    pub fn state(&self) -> CdnState {
        self.inner.state.read()
    }

    /// The shared CDN state itself (tests seed it; benchmarks count its writes).
    pub fn shared_state(&self) -> &SharedState {
        &self.inner.state
    }

    /// Writes pending changes of the shared state to its file now (blocking).
    pub fn flush_state(&self) -> Result<(), StateError> {
        self.inner.state.flush()
    }

    /// Changes the shared state in memory at once; the file follows in the background, so the
    /// check path never waits for the disk and a broken state file never stops sales.
    pub(crate) fn update_state<R>(
        &self,
        mut change: impl FnMut(&mut CdnState) -> R + Send + 'static,
    ) -> R {
        let fallback = Arc::clone(&self.inner.fallback);
        self.inner.state.update(move |s| {
            s.ensure_hosts(&fallback);
            change(s)
        })
    }

    /// Claims the CDN list refresh across processes: decided on the file, under its lock.
    async fn take_refresh_lease(&self) -> bool {
        let state = self.inner.state.clone();
        let fallback = Arc::clone(&self.inner.fallback);
        let now = self.now();
        let claimed = tokio::task::spawn_blocking(move || {
            state.update_now(|s| {
                s.ensure_hosts(&fallback);
                s.take_refresh_lease(now)
            })
        })
        .await;
        match claimed {
            Ok(Ok(claimed)) => claimed,
            Ok(Err(err)) => {
                tracing::error!(%err, "till state file unusable; refreshing without a lease");
                self.update_state(move |s| s.take_refresh_lease(now))
            }
            Err(err) => {
                tracing::error!(%err, "refresh lease task failed");
                false
            }
        }
    }

    /// Starts background upkeep when the list is due for refresh or a host for a probe.
    pub(crate) fn spawn_upkeep_if_due(&self, state: &CdnState, now: i64) {
        if state.refresh_due(now) || !state.hosts_to_probe(now).is_empty() {
            let me = self.clone();
            tokio::spawn(async move { me.maintain().await });
        }
    }

    /// Refreshes the host list when due (one process at a time) and probes hosts whose block
    /// ran out. Safe to call often.
    pub async fn maintain(&self) {
        if self.take_refresh_lease().await
            && let Err(err) = self.refresh_hosts().await
        {
            tracing::warn!(%err, "CDN list refresh failed; keeping the cached list");
        }
        let now = self.now();
        let due = self.update_state(move |s| s.hosts_to_probe(now));
        let timeout = Duration::from_millis(self.inner.config.health_timeout_ms);
        let mut probes = JoinSet::new();
        for host in due {
            let api = self.inner.api.clone();
            probes.spawn(async move {
                let latency = api.health_check(&host, timeout).await;
                (host, latency)
            });
        }
        while let Some(Ok((host, latency))) = probes.join_next().await {
            if let Err(err) = &latency {
                tracing::warn!(%host, %err, "blocked CDN host failed its probe; 15 more minutes");
            }
            let now = self.now();
            let emergency = latency == Err(ServiceError::Emergency);
            let latency = latency.ok();
            self.update_state(move |s| {
                s.probe_result(&host, latency, now);
                if emergency {
                    s.enter_emergency(now);
                }
            });
        }
    }

    /// `cdn/info`, then a health check of every host; the list is re-ranked by our latency.
    pub async fn refresh_hosts(&self) -> Result<usize, ServiceError> {
        let config = &self.inner.config;
        let timeout = Duration::from_millis(config.health_timeout_ms);
        let hosts = match self.inner.api.cdn_info(&config.info_url, timeout).await {
            Ok(hosts) => hosts,
            Err(err) => {
                let now = self.now();
                let emergency = err == ServiceError::Emergency;
                self.update_state(move |s| {
                    if emergency {
                        s.enter_emergency(now);
                    }
                    s.refresh_failed(now);
                });
                return Err(err);
            }
        };
        let mut checks = JoinSet::new();
        for (index, host) in hosts.into_iter().enumerate() {
            let api = self.inner.api.clone();
            checks.spawn(async move {
                let latency = api.health_check(&host, timeout).await;
                (index, host, latency)
            });
        }
        let mut measured = Vec::new();
        let mut emergency = false;
        while let Some(Ok((index, host, latency))) = checks.join_next().await {
            emergency |= latency == Err(ServiceError::Emergency);
            measured.push((index, host, latency.ok()));
        }
        measured.sort_by_key(|m| m.0);
        let count = measured.len();
        let jitter = rand::rng().random_range(0..=REFRESH_JITTER_MAX_MS);
        let now = self.now();
        let list: Vec<_> = measured.into_iter().map(|m| (m.1, m.2)).collect();
        self.update_state(move |s| {
            s.apply_refresh(list.clone(), now, jitter);
            if emergency {
                s.enter_emergency(now);
            }
        });
        tracing::info!(hosts = count, "CDN list refreshed");
        Ok(count)
    }
}
