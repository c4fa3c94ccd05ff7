//! Every error the API answers: a status and `{"code": <status>, "description": "..."}`, plus
//! `errorCode` 4045/4050 where the guide defines one (design.md §5). Never an empty body or HTML.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::lm::{ERROR_NOT_READY, ERROR_SYNC_STALE, ErrorBody};

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (also the body's `code`).
    pub status: StatusCode,
    /// What went wrong, for the person reading the till's log.
    pub description: String,
    /// 4045 / 4050 when the module is not ready.
    pub error_code: Option<u32>,
    /// Ask for Basic credentials (`WWW-Authenticate`), on 401 only.
    challenge: bool,
    /// `Retry-After` in seconds, on 429 only.
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error without `errorCode`.
    pub fn new(status: StatusCode, description: impl Into<String>) -> ApiError {
        ApiError {
            status,
            description: description.into(),
            error_code: None,
            challenge: false,
            retry_after: None,
        }
    }

    /// 400: the request is wrong.
    pub fn bad_request(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, description)
    }

    /// 401 with a Basic challenge.
    pub fn unauthorized(description: impl Into<String>) -> ApiError {
        ApiError {
            challenge: true,
            ..ApiError::new(StatusCode::UNAUTHORIZED, description)
        }
    }

    /// 429: too many refused credentials from this address; try again after `wait`.
    pub fn too_many_attempts(wait: std::time::Duration) -> ApiError {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError {
            retry_after: Some(seconds.max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed authorization attempts from this address; \
                     retry in {} s with the right login and password",
                    seconds.max(1)
                ),
            )
        }
    }

    /// 404 for a path the module does not serve.
    pub fn not_found(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such method: {path} (the module serves /api/v1/* and /api/v2/*)"),
        )
    }

    /// 405 for a known path called with another method.
    pub fn method_not_allowed(method: &str, path: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} is not allowed on {path}"),
        )
    }

    /// 408: the request did not arrive in time.
    pub fn timeout(seconds: u64) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request was not received and answered within {seconds} s"),
        )
    }

    /// 413: the body is over the limit.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {limit} bytes"),
        )
    }

    /// 500: the module failed (store unreadable, internal fault).
    pub fn internal(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, description)
    }

    /// 400 + 4045: `not_configured` or `initialization`.
    pub fn not_ready(state: &str) -> ApiError {
        ApiError {
            error_code: Some(ERROR_NOT_READY),
            ..ApiError::bad_request(format!(
                "the local module is not ready for offline checks: status {state}"
            ))
        }
    }

    /// 400 + 4050: `sync_error`, no sync for 72 h.
    pub fn sync_stale() -> ApiError {
        ApiError {
            error_code: Some(ERROR_SYNC_STALE),
            ..ApiError::bad_request(
                "the local module is in sync_error: no synchronisation with the server for 72 h",
            )
        }
    }

    /// The wire body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.status.as_u16(),
            description: self.description.clone(),
            error_code: self.error_code,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.description)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"znak local module\", charset=\"UTF-8\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
