//! The module's HTTP API, v1 and v2, wire-compatible with the official module (protocol.md §3,
//! design.md §5). Only this module knows HTTP and the JSON wire format.
//!
//! * [`router`] — every route; unknown paths 404, wrong methods 405, panics 500, all JSON;
//! * [`serve`] — the accept loop (`run(config, listener, shutdown)` style);
//! * [`routes`] — the route table the router and the OpenAPI document are built from (path,
//!   methods, who may call, what each method takes and answers); [`openapi`] — that document;
//! * [`auth`] — Basic / Token; [`throttle`] — 429 after repeated failures from one address;
//!   `keep_alive` — refusals read the rest of the body; answers that leave it say `close`;
//! * [`clients`] — per-till counters by `X-ClientId`;
//! * [`v2`], [`v1`], [`sold`] — the handlers; [`check`] — answers to checks.

pub mod admin;
pub mod auth;
pub mod backend;
pub mod body;
pub mod check;
pub mod clients;
mod deadline;
pub mod error;
pub mod instances;
mod keep_alive;
mod live;
pub mod metrics;
pub mod openapi;
pub mod routes;
mod server;
pub mod sold;
mod status_cache;
pub mod throttle;
pub mod v1;
pub mod v2;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

pub use auth::{Auth, Scheme, StoredCredentials};
pub use backend::{Backend, BackendError, CodeFacts, DbReport, Snapshot};
pub use clients::{ClientSnapshot, ClientStats};
pub use error::ApiError;
pub use instances::{Instance, InstanceError, run_instances};
pub use live::{RunError, ServiceConfig, run, run_module};
pub use routes::{Access, Route, routes};
pub use server::{ServeConfig, ServeError, serve};
pub use throttle::{AuthThrottle, ThrottlePolicy};

/// Header naming the till (its fiscal drive number).
pub const CLIENT_ID_HEADER: &str = "x-clientid";

/// What every handler shares.
#[derive(Debug)]
pub struct ApiState<M> {
    /// Store, sync and lifecycle behind the API.
    pub backend: M,
    /// Credentials and tokens.
    pub auth: Auth,
    /// Slows down clients that keep presenting wrong credentials.
    pub throttle: AuthThrottle,
    /// Per-till counters.
    pub clients: ClientStats,
    /// `version` in `status`.
    pub software_version: String,
    /// Longest time from the end of the request head to the answer (body upload included).
    pub request_timeout: Duration,
    /// Time to answer check requests, for `/metrics`.
    pub check_latency: metrics::LatencyHistogram,
    /// `/metrics` asks for Basic auth (default: open, as scrapers expect).
    pub metrics_require_auth: bool,
    /// The status snapshot, reused until the backend changes or a time rule falls due.
    status: status_cache::StatusCache,
}

impl<M> ApiState<M> {
    /// State with the default version string and a 10 s request timeout.
    pub fn new(backend: M, auth: Auth) -> ApiState<M> {
        ApiState {
            backend,
            auth,
            throttle: AuthThrottle::default(),
            clients: ClientStats::default(),
            software_version: software_version(),
            request_timeout: Duration::from_secs(10),
            check_latency: metrics::LatencyHistogram::default(),
            metrics_require_auth: false,
            status: status_cache::StatusCache::default(),
        }
    }
}

impl<M: Backend> ApiState<M> {
    /// The status snapshot (cached per change generation of the backend; see `status_cache`).
    pub fn snapshot(&self) -> Result<Arc<Snapshot>, BackendError> {
        self.status.get(&self.backend)
    }
}

/// `version` reported by `status`: the official API level we follow, then our own version, so
/// clients that look at the major number treat us as a 2.x module.
pub fn software_version() -> String {
    format!("2.6.1-znak{}", env!("CARGO_PKG_VERSION"))
}

/// The till a request came from, in the request's extensions.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub counters: Arc<clients::ClientCounters>,
}

/// Every route of [`routes`], each behind the check its [`Access`] names.
pub fn router<M: Backend>(state: Arc<ApiState<M>>) -> Router {
    let mut open = Router::new();
    let mut token = Router::new();
    let mut basic = Router::new();
    for route in routes::<M>() {
        let group = match route.access {
            Access::Open => &mut open,
            Access::BasicOrToken => &mut token,
            Access::Basic => &mut basic,
        };
        *group = std::mem::take(group).route(route.path, route.handler);
    }
    let token = token.route_layer(middleware::from_fn_with_state(
        state.clone(),
        require_basic_or_token::<M>,
    ));
    let basic = basic.route_layer(middleware::from_fn_with_state(
        state.clone(),
        require_basic::<M>,
    ));
    open.merge(token)
        .merge(basic)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("internal error while answering; see the module's log")
                .into_response()
        }))
        .layer(middleware::from_fn_with_state(state.clone(), observe::<M>))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

async fn require_basic<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    request: Request,
    next: Next,
) -> Response {
    guarded(&state, Scheme::Basic, request, next).await
}

async fn require_basic_or_token<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    request: Request,
    next: Next,
) -> Response {
    guarded(&state, Scheme::BasicOrToken, request, next).await
}

/// The credential check with the per-address throttle around it. The peer address comes from
/// [`serve`]; a router used without it (in-process tests) is not throttled.
async fn guarded<M: Backend>(
    state: &ApiState<M>,
    scheme: Scheme,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(wait) = peer.and_then(|ip| state.throttle.refused(ip)) {
        keep_alive::drain(request).await;
        return ApiError::too_many_attempts(wait).into_response();
    }
    match state.auth.check(request.headers(), scheme).await {
        Ok(()) => next.run(request).await,
        Err(err) => {
            let presented = request
                .headers()
                .contains_key(axum::http::header::AUTHORIZATION);
            if let (Some(ip), true) = (peer, presented) {
                state.throttle.failed(ip);
            }
            keep_alive::drain(request).await;
            err.into_response()
        }
    }
}

/// Outermost layer: names the till, opens the request's span, bounds the time, counts.
async fn observe<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = request
        .headers()
        .get(CLIENT_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or(clients::ANONYMOUS_CLIENT)
        .trim()
        .to_owned();
    let counters = state.clients.counters(&id);
    let is_check = metrics::is_check_path(request.uri().path());
    let started = std::time::Instant::now();
    let span = tracing::info_span!(
        "request",
        client_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    request.extensions_mut().insert(Client {
        id,
        counters: counters.clone(),
    });
    let (request, body_progress) = keep_alive::track(request);
    let limit = state.request_timeout;
    let mut response =
        match tokio::time::timeout(limit, next.run(request).instrument(span.clone())).await {
            Ok(response) => response,
            Err(_) => ApiError::timeout(limit.as_secs().max(1)).into_response(),
        };
    keep_alive::close_unless_read(&mut response, body_progress.as_ref());
    counters.requests.fetch_add(1, Ordering::Relaxed);
    if is_check {
        state.check_latency.observe(started.elapsed());
    }
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        counters.errors.fetch_add(1, Ordering::Relaxed);
        span.in_scope(|| tracing::info!(status = status.as_u16(), "answered with an error"));
    } else {
        span.in_scope(|| tracing::debug!(status = status.as_u16(), "answered"));
    }
    response
}
