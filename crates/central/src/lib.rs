//! `znak central`: an emulator of the operator's services, for offline testing of tills and
//! local modules (design.md §2–3, protocol.md §1, §4).
//!
//! * [`true_api`] — `cdn/info` and the token method ([`token_method`], `auth/permissive-access`,
//!   an INN in the data standing in for the УКЭП signer) on the main host; `cdn/health/check`
//!   and `codes/check` on each CDN host, computed by [`check`] from the code database;
//! * [`faults`] — per-host fault knobs, per-code sandbox faults, emergency mode;
//! * [`registration`] — `POST /lm/v1/register` (docs/registration.md);
//! * [`replication`] — the four list databases over the CouchDB replication protocol;
//! * [`chaos`] — random faults of the replication side (delays, resets, 5xx, cut feeds, stalls);
//! * [`admin`] — the admin API; [`client`] — its Rust client (used by the CLI and tests);
//! * [`issue`] and [`crypto`] — realistic codes; [`sandbox`] — the guide's 21 test codes;
//! * [`store`] — redb storage; [`server`] — the accept loop.

pub mod admin;
pub mod chaos;
pub mod check;
pub mod client;
pub mod crypto;
pub mod error;
pub mod faults;
pub mod http_error;
pub mod issue;
pub mod registration;
pub mod replication;
pub mod sandbox;
pub mod server;
pub mod state;
pub mod store;
pub mod tls;
pub mod token_method;
pub mod true_api;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use error::Error;
use faults::FaultBoard;
use state::AppState;
pub use state::Urls;
use store::Store;

/// Body limit of the main host (admin bulk requests are large).
const MAIN_BODY_LIMIT: usize = 64 << 20;

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the store (created when missing).
    pub data_dir: PathBuf,
    /// Host name put into advertised URLs when a listener is bound to 0.0.0.0 / [::].
    pub advertise_host: Option<String>,
    /// HTTPS on every listener, with a certificate signed by the CA in `DATA/tls` ([`tls`]).
    pub tls: bool,
}

impl Config {
    /// Plain HTTP, URLs named by the bound addresses.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            advertise_host: None,
            tls: false,
        }
    }
}

/// The bound sockets: the main host and one per CDN host.
pub struct Listeners {
    pub main: TcpListener,
    pub cdn: Vec<TcpListener>,
}

/// The host name or address clients reach `addr` by.
fn host_of(addr: SocketAddr, advertise: Option<&str>) -> String {
    match advertise {
        Some(h) if addr.ip().is_unspecified() => h.to_string(),
        _ if addr.ip().is_unspecified() => "127.0.0.1".to_string(),
        _ => addr.ip().to_string(),
    }
}

fn url_of(addr: SocketAddr, advertise: Option<&str>, tls: bool) -> String {
    let host = host_of(addr, advertise);
    let scheme = if tls { "https" } else { "http" };
    if host.contains(':') {
        format!("{scheme}://[{host}]:{}", addr.port())
    } else {
        format!("{scheme}://{host}:{}", addr.port())
    }
}

/// The URLs clients are told: main host and CDN hosts.
pub fn advertised_urls(config: &Config, listeners: &Listeners) -> std::io::Result<Urls> {
    let advertise = config.advertise_host.as_deref();
    Ok(Urls {
        main: url_of(listeners.main.local_addr()?, advertise, config.tls),
        cdn: listeners
            .cdn
            .iter()
            .map(|l| l.local_addr().map(|a| url_of(a, advertise, config.tls)))
            .collect::<Result<_, _>>()?,
    })
}

/// Runs the emulator until `shutdown` completes.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let urls = advertised_urls(&config, &listeners)?;
    let dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&dir))
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    let faults = FaultBoard::restore(listeners.cdn.len(), &store.knobs()?);
    let tls = match config.tls {
        true => Some(acceptor(&config, &listeners)?),
        false => None,
    };
    let chaos = store.chaos()?;
    let app = AppState::new(store, faults, urls)?;
    app.chaos.set(chaos);

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(server::serve(
        listeners.main,
        main_router(app.clone()),
        cancel.clone(),
        None,
        tls.clone(),
    ));
    for (host, listener) in listeners.cdn.into_iter().enumerate() {
        let router = true_api::cdn_router(app.clone(), host);
        tracker.spawn(server::serve(
            listener,
            router,
            cancel.clone(),
            Some(server::HostLink {
                board: app.faults.clone(),
                index: host,
            }),
            tls.clone(),
        ));
    }
    tracker.close();
    tokio::select! {
        _ = shutdown => {}
        _ = tracker.wait() => {}
    }
    cancel.cancel();
    tracker.wait().await;
    Ok(())
}

/// A running emulator started by [`start_on_loopback`].
pub struct Started {
    /// The URLs clients are told: the main host and one per CDN host.
    pub urls: Urls,
    /// The emulator: ends with [`run`]'s result once the shutdown future has completed.
    pub task: tokio::task::JoinHandle<Result<(), Error>>,
}

/// Binds the main host and `cdn_hosts` CDN hosts on 127.0.0.1 ephemeral ports and runs the
/// emulator (spawned on the current runtime) until `shutdown` completes — for tests,
/// benchmarks and the demo. The sockets are bound when this returns, so clients may connect
/// at once.
pub async fn start_on_loopback(
    config: Config,
    cdn_hosts: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<Started> {
    let main = TcpListener::bind("127.0.0.1:0").await?;
    let mut cdn = Vec::with_capacity(cdn_hosts);
    for _ in 0..cdn_hosts {
        cdn.push(TcpListener::bind("127.0.0.1:0").await?);
    }
    let listeners = Listeners { main, cdn };
    let urls = advertised_urls(&config, &listeners)?;
    let task = tokio::spawn(run(config, listeners, shutdown));
    Ok(Started { urls, task })
}

/// The TLS acceptor of every listener: a certificate for `localhost`, the loopback addresses
/// and every name the listeners are advertised by, signed by the data dir's CA.
fn acceptor(config: &Config, listeners: &Listeners) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let ca = tls::Ca::ensure(&config.data_dir)?;
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    for listener in std::iter::once(&listeners.main).chain(&listeners.cdn) {
        names.push(host_of(
            listener.local_addr()?,
            config.advertise_host.as_deref(),
        ));
    }
    Ok(tokio_rustls::TlsAcceptor::from(ca.server_config(&names)?))
}

fn main_router(app: AppState) -> Router {
    Router::new()
        .merge(true_api::main_routes())
        .merge(registration::routes().layer(DefaultBodyLimit::max(64 << 10)))
        .merge(
            replication::routes(app.clone()).layer(axum::middleware::from_fn_with_state(
                app.chaos.clone(),
                chaos::act,
            )),
        )
        .merge(admin::routes())
        .fallback(http_error::no_route)
        .method_not_allowed_fallback(http_error::wrong_method)
        .layer(DefaultBodyLimit::max(MAIN_BODY_LIMIT))
        .layer(http_error::body_timeout())
        .layer(http_error::catch_panics())
        .with_state(app)
}
