//! Fault knobs: per CDN host (switchable at run time) and per code (sandbox cases 11–15), plus
//! the service-wide emergency mode (HTTP 203).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::http_error::ApiError;

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

/// Run-time fault state of the whole emulator (not persisted: a restart clears it).
pub struct FaultBoard {
    hosts: Vec<watch::Sender<Option<Fault>>>,
    emergency: AtomicBool,
}

impl FaultBoard {
    pub fn new(hosts: usize) -> Self {
        Self {
            hosts: (0..hosts).map(|_| watch::Sender::new(None)).collect(),
            emergency: AtomicBool::new(false),
        }
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Sets the fault of host `index` (0-based); `false` when there is no such host.
    pub fn set(&self, index: usize, fault: Option<Fault>) -> bool {
        match self.hosts.get(index) {
            Some(host) => {
                host.send_replace(fault);
                true
            }
            None => false,
        }
    }

    pub fn get(&self, index: usize) -> Option<Fault> {
        self.hosts.get(index).and_then(|h| *h.borrow())
    }

    pub fn watch(&self, index: usize) -> Option<watch::Receiver<Option<Fault>>> {
        self.hosts.get(index).map(|h| h.subscribe())
    }

    pub fn set_emergency(&self, on: bool) {
        self.emergency.store(on, Ordering::SeqCst);
    }

    pub fn emergency(&self) -> bool {
        self.emergency.load(Ordering::SeqCst)
    }
}
