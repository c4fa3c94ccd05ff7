//! Registration at the operator: token → `inst`, `inn` and the replication source
//! (`POST {serviceUrl}/lm/v1/register`, docs/registration.md).

use protocol::registration::{REGISTER_PATH, RegisterRequest, RegisterResponse};

use crate::sync::source::{SourceError, Timeouts, http_client};

/// Why registration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The service could not be reached or answered garbage.
    #[error("registration at {0}")]
    Unreachable(#[source] SourceError),
    /// The service refused the token or the request.
    #[error("registration refused by {url}: HTTP {status}: {description}")]
    Refused {
        /// The register URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The service's description (or the start of its body).
        description: String,
    },
}

impl RegistrationError {
    /// The operator refused the token itself (400, 401, 403, 422): the caller's mistake, unlike
    /// an unreachable or failing operator (transport errors, 404 of a wrong service URL, 408,
    /// 429, 5xx).
    pub fn is_token_refused(&self) -> bool {
        matches!(
            self,
            RegistrationError::Refused {
                status: 400 | 401 | 403 | 422,
                ..
            }
        )
    }
}

/// Registers the module with `token` at `service_url`.
pub async fn register(
    service_url: &str,
    token: &str,
    timeouts: Timeouts,
) -> Result<RegisterResponse, RegistrationError> {
    let client = http_client(timeouts).map_err(RegistrationError::Unreachable)?;
    let url = format!("{}{REGISTER_PATH}", service_url.trim_end_matches('/'));
    let transport = |source| {
        RegistrationError::Unreachable(SourceError::Transport {
            url: url.clone(),
            source,
        })
    };
    let response = client
        .post(&url)
        .json(&RegisterRequest {
            token: token.to_owned(),
        })
        .send()
        .await
        .map_err(transport)?;
    let status = response.status();
    let body = response.bytes().await.map_err(transport)?;
    if !status.is_success() {
        let description = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|value| value.get("description")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
        return Err(RegistrationError::Refused {
            url,
            status: status.as_u16(),
            description,
        });
    }
    serde_json::from_slice(&body).map_err(|err| {
        RegistrationError::Unreachable(SourceError::Malformed {
            url: url.clone(),
            reason: err.to_string(),
        })
    })
}
