//! The accept loop: HTTP/1.1 keep-alive, a cap on connections, a deadline on request heads
//! (slow-loris), graceful shutdown on a cancellation token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::deadline::HeadDeadline;
use super::{ApiState, Backend, router};

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    /// Open connections at most; more wait in the listen backlog.
    pub max_connections: usize,
    /// Time allowed for a request head to arrive once started (then a JSON 408 and close), and
    /// for an idle keep-alive connection to start its next request (then closed silently).
    pub header_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_connections: 1024,
            header_timeout: Duration::from_secs(30),
        }
    }
}

/// Why the API could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to listen on {0} with the default admin/admin login: it is allowed only on a \
         loopback address (127.0.0.1). Set a login and password with `znak lm passwd` first"
    )]
    DefaultCredentialsOffLoopback(SocketAddr),
    #[error("cannot read the listener's address: {0}")]
    Listener(std::io::Error),
}

/// Serves the API on `listener` until `shutdown` is cancelled, then lets open requests finish.
pub async fn serve<M: Backend>(
    state: Arc<ApiState<M>>,
    listener: TcpListener,
    config: ServeConfig,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let address = listener.local_addr().map_err(ServeError::Listener)?;
    if state.auth.is_default() && !address.ip().is_loopback() {
        return Err(ServeError::DefaultCredentialsOffLoopback(address));
    }
    if !address.ip().is_loopback() {
        // The module speaks plain HTTP only; TLS is a reverse proxy's job (README).
        tracing::warn!(
            %address,
            "TLS is off on a non-loopback listener: logins, passwords and tokens cross the \
             network in clear text; put a TLS proxy in front or listen on 127.0.0.1"
        );
    }
    let router = router(state);
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let connections = TaskTracker::new();
    tracing::info!(%address, "local module API listening");
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // The peer address for the auth throttle, as axum's `ConnectInfo`.
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            // Head deadlines are HeadDeadline's: hyper's own closes without a JSON answer.
            let stream = HeadDeadline::new(stream, config.header_timeout);
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(None)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }
    connections.close();
    connections.wait().await;
    tracing::info!(%address, "local module API stopped");
    Ok(())
}
