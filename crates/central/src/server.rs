//! The accept loop of one listener: serves a router over HTTP/1.1 and HTTP/2, stops on shutdown,
//! and, for a CDN host, closes and later rebinds its listener when the `refuse` fault is switched
//! on and off.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::faults::{Fault, FaultBoard};

/// The CDN host a listener belongs to: its fault knob is watched for `refuse`, and the
/// listener's state is reported back to the board.
pub struct HostLink {
    pub board: Arc<FaultBoard>,
    pub index: usize,
}

/// Longest a client may take over the TLS handshake.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);

/// Longest a client may take to send a request head once the connection waits for one (an
/// idle keep-alive connection included); then the connection is closed, so a half-sent request
/// never holds a connection for ever.
pub const HEAD_LIMIT: Duration = Duration::from_secs(30);

/// How long to wait between attempts to rebind a listener whose port is briefly taken.
const REBIND_RETRY: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown`. With a `host`, the listener is closed (and
/// open connections dropped) while that host's fault is [`Fault::Refuse`].
pub async fn serve(
    mut listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    host: Option<HostLink>,
    tls: Option<TlsAcceptor>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let mut refuse = host.as_ref().and_then(|h| h.board.watch(h.index));
    loop {
        let refused =
            accept_until(&listener, &router, &shutdown, refuse.as_mut(), tls.as_ref()).await;
        if !refused {
            return Ok(());
        }
        drop(listener);
        let (Some(watch), Some(host)) = (refuse.as_mut(), host.as_ref()) else {
            return Ok(());
        };
        host.board.report_open(host.index, false);
        tracing::info!(%addr, "refusing connections");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                changed = watch.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    if *watch.borrow_and_update() != Some(Fault::Refuse) {
                        break;
                    }
                }
            }
        }
        listener = loop {
            match rebind(addr) {
                Ok(listener) => break listener,
                Err(e) => {
                    tracing::warn!(%addr, "cannot listen again yet: {e}");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(REBIND_RETRY) => {}
                    }
                }
            }
        };
        host.board.report_open(host.index, true);
        tracing::info!(%addr, "accepting connections again");
    }
}

/// Accepts and serves until shutdown (`false`) or until the host must refuse (`true`).
async fn accept_until(
    listener: &TcpListener,
    router: &Router,
    shutdown: &CancellationToken,
    mut refuse: Option<&mut watch::Receiver<Option<Fault>>>,
    tls: Option<&TlsAcceptor>,
) -> bool {
    let mut connections = JoinSet::new();
    if let Some(watch) = refuse.as_deref_mut()
        && *watch.borrow_and_update() == Some(Fault::Refuse)
    {
        return true;
    }
    loop {
        let refuse_changed = async {
            match refuse.as_deref_mut() {
                Some(watch) => watch.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            alive = refuse_changed => {
                if alive
                    && let Some(watch) = refuse.as_deref_mut()
                    && *watch.borrow_and_update() == Some(Fault::Refuse)
                {
                    return true;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Without TCP_NODELAY the small last write of an answer (the end of a
                    // chunked body) waits for the ACK of the bytes before it, which the client
                    // may delay by up to 40 ms: a stall at the end of every `_changes` page.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!("TCP_NODELAY: {e}");
                    }
                    let service = TowerToHyperService::new(router.clone());
                    let tls = tls.cloned();
                    connections.spawn(async move {
                        let mut builder = Builder::new(TokioExecutor::new());
                        builder
                            .http1()
                            .timer(TokioTimer::new())
                            .header_read_timeout(HEAD_LIMIT);
                        match tls {
                            None => {
                                let _ = builder
                                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                    .await;
                            }
                            // A failed handshake (a client that does not trust the CA) only
                            // ends that connection.
                            Some(tls) => match tokio::time::timeout(HANDSHAKE_LIMIT, tls.accept(stream)).await {
                                Ok(Ok(stream)) => {
                                    let _ = builder
                                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                        .await;
                                }
                                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            },
                        }
                    });
                }
                Err(e) => tracing::warn!("accept failed: {e}"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn rebind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
