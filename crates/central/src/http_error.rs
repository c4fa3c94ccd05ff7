//! Error answers: always a status and a JSON body `{"code": <status>, "description": …}`.

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use std::time::Duration;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutError};

use crate::error::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub description: String,
}

impl ApiError {
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            status,
            description: description.into(),
        }
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, description)
    }

    pub fn unauthorized(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, description)
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, description)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = protocol::true_api::ErrorBody {
            code: i64::from(self.status.as_u16()),
            description: self.description,
            codes: None,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!("{e}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        if caused_by_body_timeout(&e) {
            return Self::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body stopped arriving: nothing for {} s",
                    BODY_GAP_LIMIT.as_secs()
                ),
            );
        }
        Self::new(e.status(), e.body_text())
    }
}

/// Longest pause allowed between two pieces of a request body ([`body_timeout`]).
pub const BODY_GAP_LIMIT: Duration = Duration::from_secs(30);

/// Ends the reading of a request body that stops arriving, so a half-sent request never holds
/// its handler for ever; the handler then answers 408 (the timer restarts with every piece,
/// so large admin uploads are not cut).
pub fn body_timeout() -> RequestBodyTimeoutLayer {
    RequestBodyTimeoutLayer::new(BODY_GAP_LIMIT)
}

fn caused_by_body_timeout(rejection: &BytesRejection) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = cause {
        if error.is::<TimeoutError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::bad_request(format!("bad query string: {}", e.body_text()))
    }
}

/// A JSON body whose every failure (size, syntax, shape) is an [`ApiError`].
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// Answer for a handler that panicked, for `CatchPanicLayer::custom`: the usual JSON error
/// (the layer's default answer is text/plain, which clients reading `{code, description}`
/// cannot report).
pub fn panic_answer(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let reason = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    tracing::error!("a handler panicked: {reason}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("internal error: the handler panicked ({reason})"),
    )
    .into_response()
}

/// Catches a handler's panic and answers it with [`panic_answer`].
pub fn catch_panics()
-> tower_http::catch_panic::CatchPanicLayer<fn(Box<dyn std::any::Any + Send + 'static>) -> Response>
{
    tower_http::catch_panic::CatchPanicLayer::custom(panic_answer)
}

/// Answer for unknown routes.
pub async fn no_route() -> ApiError {
    ApiError::not_found("no such method")
}

/// Answer for a known path with the wrong method.
pub async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this path",
    )
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use serde_json::{Value, json};

    use super::catch_panics;

    async fn panics() -> &'static str {
        panic!("on purpose")
    }

    /// A panicking route behind the layer both routers use, over a real socket.
    #[tokio::test]
    async fn a_panic_is_answered_with_the_json_error() {
        let router = Router::new()
            .route("/panics", get(panics))
            .route("/works", get(|| async { "fine" }))
            .layer(catch_panics());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let http = crate::client::http_client().expect("client");

        let response = http.get(format!("{url}/panics")).send().await.expect("GET");
        assert_eq!(response.status(), 500);
        let content_type = response.headers()["content-type"].clone();
        assert_eq!(content_type, "application/json");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["code"], json!(500));
        let description = body["description"].as_str().unwrap_or_default();
        assert!(description.contains("on purpose"), "{description}");
        // The server lives on after a panic.
        let response = http.get(format!("{url}/works")).send().await.expect("GET");
        assert_eq!(response.status(), 200);
        server.abort();
    }
}
