//! HTTP client of the operator's True API (protocol.md §1.3–1.7): `codes/check` on a CDN host,
//! `cdn/info`, and health checks on a fresh connection each.

use std::time::Duration;

use protocol::true_api::{
    API_KEY_HEADER, CDN_INFO_PATH, CODES_CHECK_PATH, CdnInfo, CodesCheckRequest,
    CodesCheckResponse, EMERGENCY_STATUS, EXTERNAL_SYSTEM_UNAVAILABLE, HEALTH_CHECK_PATH,
};
use reqwest::{Client, StatusCode};
use serde_json::Value;

/// What one `codes/check` call gave, already sorted by what the CDN rules do with it.
#[derive(Debug, Clone)]
pub enum OnlineReply {
    /// HTTP 200 with `code` 0 (or absent): the raw body too, for the report.
    Answer(Box<CodesCheckResponse>, Value),
    /// HTTP 203, or a body `code` 203: emergency mode.
    Emergency,
    /// HTTP 401.
    TokenRejected,
    /// 5xx with body `code` 5000: not the host's fault.
    ExternalUnavailable(String),
    /// 429 or another 5xx: repeat once, then block the host.
    Overloaded(u16),
    /// Other 4xx, or 200 with a non-zero `code`: the request is wrong; no repeat.
    Rejected(u16, String),
    /// No connection or a broken answer.
    Unreachable(String),
}

/// Errors of `cdn/info` and of health checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("emergency mode in force (HTTP 203)")]
    Emergency,
    #[error("token rejected (HTTP 401): a valid X-API-KEY is needed")]
    TokenRejected,
    #[error("{0}")]
    Failed(String),
}

/// True API client. `codes/check` reuses keep-alive connections; health checks never do.
#[derive(Debug, Clone)]
pub struct TrueApi {
    client: Client,
    token: String,
}

/// Installs ring as rustls' crypto provider (once per process; later calls are no-ops).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client with rustls over ring; `fresh` clients keep no idle connections.
pub fn http_client(fresh: bool) -> Result<Client, ServiceError> {
    install_crypto();
    let mut builder = Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    if fresh {
        builder = builder.pool_max_idle_per_host(0);
    }
    builder
        .build()
        .map_err(|e| ServiceError::Failed(format!("cannot build HTTP client: {e}")))
}

impl TrueApi {
    pub fn new(token: String) -> Result<Self, ServiceError> {
        Ok(Self {
            client: http_client(false)?,
            token,
        })
    }

    /// `POST {host}/api/v4/true-api/codes/check`. No timeout here: the caller holds the
    /// deadline.
    pub async fn codes_check(&self, host: &str, request: &CodesCheckRequest) -> OnlineReply {
        let url = format!("{}{CODES_CHECK_PATH}", host.trim_end_matches('/'));
        let sent = self
            .client
            .post(url)
            .header(API_KEY_HEADER, &self.token)
            .json(request)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return OnlineReply::Unreachable(describe(&e)),
        };
        let status = response.status();
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return OnlineReply::Unreachable(describe(&e)),
        };
        classify(status, &body)
    }

    /// `GET {info_url}/api/v4/true-api/cdn/info` → the host URLs.
    pub async fn cdn_info(
        &self,
        info_url: &str,
        timeout: Duration,
    ) -> Result<Vec<String>, ServiceError> {
        let url = format!("{}{CDN_INFO_PATH}", info_url.trim_end_matches('/'));
        let response = self
            .client
            .get(url)
            .header(API_KEY_HEADER, &self.token)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ServiceError::Failed(format!("cdn/info: {}", describe(&e))))?;
        let status = response.status();
        service_status(status)?;
        let info: CdnInfo = response
            .json()
            .await
            .map_err(|e| ServiceError::Failed(format!("cdn/info answer unreadable: {e}")))?;
        if info.code != 0 {
            return Err(ServiceError::Failed(format!(
                "cdn/info answered code {}: {}",
                info.code, info.description
            )));
        }
        Ok(info.hosts.into_iter().map(|h| h.host).collect())
    }

    /// `GET {host}/api/v4/true-api/cdn/health/check` on a new connection closed after the
    /// answer; returns the latency we measured, in ms.
    pub async fn health_check(&self, host: &str, timeout: Duration) -> Result<u64, ServiceError> {
        let client = http_client(true)?;
        let url = format!("{}{HEALTH_CHECK_PATH}", host.trim_end_matches('/'));
        let started = tokio::time::Instant::now();
        let sent = client
            .get(url)
            .header(API_KEY_HEADER, &self.token)
            .header(reqwest::header::CONNECTION, "close")
            .send();
        let response = tokio::time::timeout(timeout, sent)
            .await
            .map_err(|_| ServiceError::Failed(format!("{host}: no health answer in {timeout:?}")))?
            .map_err(|e| ServiceError::Failed(format!("{host}: {}", describe(&e))))?;
        let latency = started.elapsed().as_millis() as u64;
        service_status(response.status())?;
        Ok(latency)
    }
}

fn service_status(status: StatusCode) -> Result<(), ServiceError> {
    match status.as_u16() {
        EMERGENCY_STATUS => Err(ServiceError::Emergency),
        401 => Err(ServiceError::TokenRejected),
        200 => Ok(()),
        other => Err(ServiceError::Failed(format!("HTTP {other}"))),
    }
}

/// Sorts a `codes/check` answer by the table of protocol.md §1.5.
pub fn classify(status: StatusCode, body: &[u8]) -> OnlineReply {
    let code = status.as_u16();
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let body_code = json
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_i64);
    let description = json
        .as_ref()
        .and_then(|v| v.get("description"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match code {
        EMERGENCY_STATUS => OnlineReply::Emergency,
        200 if body_code == Some(i64::from(EMERGENCY_STATUS)) => OnlineReply::Emergency,
        200 => {
            let Some(raw) = json else {
                return OnlineReply::Unreachable("answer is not JSON".into());
            };
            match serde_json::from_value::<CodesCheckResponse>(raw.clone()) {
                Ok(parsed) if parsed.code.unwrap_or(0) == 0 => {
                    OnlineReply::Answer(Box::new(parsed), raw)
                }
                Ok(parsed) => OnlineReply::Rejected(
                    code,
                    format!("code {}: {description}", parsed.code.unwrap_or_default()),
                ),
                Err(e) => OnlineReply::Unreachable(format!("answer unreadable: {e}")),
            }
        }
        401 => OnlineReply::TokenRejected,
        500..=599 if body_code == Some(EXTERNAL_SYSTEM_UNAVAILABLE) => {
            OnlineReply::ExternalUnavailable(description)
        }
        429 | 500..=599 => OnlineReply::Overloaded(code),
        _ => OnlineReply::Rejected(code, description),
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).expect("valid status")
    }

    #[test]
    fn classification_follows_the_table() {
        let ok = br#"{"code":0,"description":"ok","codes":[],"reqId":"r","reqTimestamp":1}"#;
        assert!(matches!(classify(status(200), ok), OnlineReply::Answer(..)));
        assert!(matches!(classify(status(203), b""), OnlineReply::Emergency));
        assert!(matches!(
            classify(status(200), br#"{"code":203,"description":"x"}"#),
            OnlineReply::Emergency
        ));
        assert!(matches!(
            classify(status(401), b""),
            OnlineReply::TokenRejected
        ));
        assert!(matches!(
            classify(status(429), b""),
            OnlineReply::Overloaded(429)
        ));
        assert!(matches!(
            classify(status(504), b"<html>"),
            OnlineReply::Overloaded(504)
        ));
        assert!(matches!(
            classify(
                status(500),
                br#"{"code":5000,"description":"x","codes":[]}"#
            ),
            OnlineReply::ExternalUnavailable(_)
        ));
        assert!(matches!(
            classify(status(400), b"{}"),
            OnlineReply::Rejected(400, _)
        ));
        assert!(matches!(
            classify(
                status(200),
                br#"{"code":400,"description":"bad","reqId":"r","reqTimestamp":1}"#
            ),
            OnlineReply::Rejected(200, _)
        ));
        assert!(matches!(
            classify(status(200), b"nope"),
            OnlineReply::Unreachable(_)
        ));
    }
}
