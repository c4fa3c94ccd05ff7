//! Fault knobs: per CDN host (switchable at run time) and per code (sandbox cases 11–15), plus
//! the service-wide emergency mode (HTTP 203).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::http_error::ApiError;
use crate::store::Knobs;

/// How a CDN host misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode")]
pub enum Fault {
    /// Answer normally after `ms` milliseconds.
    #[serde(rename = "delay")]
    Delay { ms: u64 },
    /// Accept the request and never answer.
    #[serde(rename = "hang")]
    Hang,
    #[serde(rename = "429")]
    TooManyRequests,
    #[serde(rename = "500")]
    InternalError,
    #[serde(rename = "504")]
    GatewayTimeout,
    /// HTTP 500 with body code 5000: the external system could not answer (protocol.md §1.5).
    #[serde(rename = "5000")]
    ExternalUnavailable,
    /// HTTP 203: emergency mode.
    #[serde(rename = "203")]
    Emergency,
    /// The host's listener is closed: connections are refused.
    #[serde(rename = "refuse")]
    Refuse,
}

impl Fault {
    pub const MODES: &'static str = "delay, hang, 429, 500, 504, 5000, 203, refuse, off";

    /// Parses a CLI/API mode name; `Ok(None)` for `off`.
    pub fn parse(mode: &str, ms: Option<u64>) -> Result<Option<Fault>, String> {
        Ok(Some(match mode {
            "off" => return Ok(None),
            "delay" => Fault::Delay {
                ms: ms.ok_or("mode delay needs --ms (milliseconds)")?,
            },
            "hang" => Fault::Hang,
            "429" => Fault::TooManyRequests,
            "500" => Fault::InternalError,
            "504" => Fault::GatewayTimeout,
            "5000" => Fault::ExternalUnavailable,
            "203" => Fault::Emergency,
            "refuse" => Fault::Refuse,
            other => {
                return Err(format!(
                    "unknown fault mode {other:?}; modes: {}",
                    Self::MODES
                ));
            }
        }))
    }

    /// Acts the fault out for one request: waits (delay), never returns (hang), or gives the
    /// response to send instead of the normal answer. `None` means "answer normally".
    pub async fn act(self) -> Option<Response> {
        match self {
            Fault::Delay { ms } => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                None
            }
            Fault::Hang => std::future::pending().await,
            Fault::TooManyRequests => Some(
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many requests (fault knob)",
                )
                .into_response(),
            ),
            Fault::InternalError => Some(
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error (fault knob)",
                )
                .into_response(),
            ),
            Fault::GatewayTimeout => Some(
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "gateway timeout (fault knob)")
                    .into_response(),
            ),
            Fault::ExternalUnavailable => Some(external_unavailable()),
            Fault::Emergency => Some(emergency()),
            // A refusing host has no listener; a request that slipped in gets a 503.
            Fault::Refuse => Some(
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "host is refusing (fault knob)",
                )
                .into_response(),
            ),
        }
    }
}

/// HTTP 500 `{"code": 5000, "description": …, "codes": []}`.
pub fn external_unavailable() -> Response {
    let body = protocol::true_api::ErrorBody {
        code: protocol::true_api::EXTERNAL_SYSTEM_UNAVAILABLE,
        description: "the external system could not answer about this code".into(),
        codes: Some(Vec::new()),
    };
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

/// HTTP 203 `{"code": 203, "description": …}`: emergency mode in force.
pub fn emergency() -> Response {
    let body = protocol::true_api::ErrorBody {
        code: 203,
        description: "emergency mode is in force: switch permissive checks off".into(),
        codes: None,
    };
    (StatusCode::NON_AUTHORITATIVE_INFORMATION, axum::Json(body)).into_response()
}

/// Fault state of the whole emulator. The knobs are written through to the store by the admin
/// API and restored from it at start ([`FaultBoard::restore`]), so a restart keeps them.
pub struct FaultBoard {
    hosts: Vec<HostKnob>,
    emergency: AtomicBool,
}

struct HostKnob {
    fault: watch::Sender<Option<Fault>>,
    /// Whether the host's listener is open (the accept loop reports it), so that switching
    /// `refuse` on or off can wait until it has taken effect.
    open: watch::Sender<bool>,
}

impl FaultBoard {
    pub fn new(hosts: usize) -> Self {
        Self {
            hosts: (0..hosts)
                .map(|_| HostKnob {
                    fault: watch::Sender::new(None),
                    open: watch::Sender::new(true),
                })
                .collect(),
            emergency: AtomicBool::new(false),
        }
    }

    /// A board with the stored knobs; faults of hosts this run does not have are ignored.
    pub fn restore(hosts: usize, knobs: &Knobs) -> Self {
        let board = Self::new(hosts);
        for &(index, fault) in &knobs.faults {
            board.set(index, Some(fault));
        }
        board.set_emergency(knobs.emergency);
        board
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Sets the fault of host `index` (0-based); `false` when there is no such host.
    pub fn set(&self, index: usize, fault: Option<Fault>) -> bool {
        match self.hosts.get(index) {
            Some(host) => {
                host.fault.send_replace(fault);
                true
            }
            None => false,
        }
    }

    pub fn get(&self, index: usize) -> Option<Fault> {
        self.hosts.get(index).and_then(|h| *h.fault.borrow())
    }

    pub fn watch(&self, index: usize) -> Option<watch::Receiver<Option<Fault>>> {
        self.hosts.get(index).map(|h| h.fault.subscribe())
    }

    /// Called by the accept loop when host `index` closes or re-opens its listener.
    pub fn report_open(&self, index: usize, open: bool) {
        if let Some(host) = self.hosts.get(index) {
            host.open.send_replace(open);
        }
    }

    /// Waits until host `index`'s listener is open (`true`) or closed (`false`), at most
    /// `limit`; `false` when it did not get there in time.
    pub async fn wait_open(&self, index: usize, open: bool, limit: Duration) -> bool {
        let Some(host) = self.hosts.get(index) else {
            return false;
        };
        let mut watch = host.open.subscribe();
        tokio::time::timeout(limit, watch.wait_for(|o| *o == open))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    pub fn set_emergency(&self, on: bool) {
        self.emergency.store(on, Ordering::SeqCst);
    }

    pub fn emergency(&self) -> bool {
        self.emergency.load(Ordering::SeqCst)
    }
}
