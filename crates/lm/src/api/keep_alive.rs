//! Keeping keep-alive connections honest after an early answer.
//!
//! hyper closes a connection whose request body was not read to its end when the answer went
//! out, and the answer does not say so: the client reuses the connection and its next request
//! fails. So a refusal (401, 429) first reads what is left of the body, bounded in size and
//! time ([`drain`]), and any answer sent before its request body ended says
//! `Connection: close` ([`close_unless_read`]), so the client opens a new connection instead.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::CONNECTION;
use axum::response::Response;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use super::body::BODY_LIMIT;

/// How long a refusal waits for the rest of a request body before giving up on the connection.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Whether a request's body has been read to its end; shared with the body itself.
#[derive(Debug, Clone)]
pub struct BodyProgress(Arc<AtomicBool>);

impl BodyProgress {
    fn finished(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Wraps the body of `request` so its end is noticed. A request without a body needs no
/// watching (`None`).
pub fn track(request: Request) -> (Request, Option<BodyProgress>) {
    if request.body().is_end_stream() {
        return (request, None);
    }
    let progress = BodyProgress(Arc::new(AtomicBool::new(false)));
    let (parts, body) = request.into_parts();
    let body = Body::new(Tracked {
        inner: body,
        progress: progress.clone(),
    });
    (Request::from_parts(parts, body), Some(progress))
}

/// Adds `Connection: close` to `response` when its request body was left unread.
pub fn close_unless_read(response: &mut Response, progress: Option<&BodyProgress>) {
    if progress.is_some_and(|progress| !progress.finished()) {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
}

/// Reads and throws away the rest of `request`'s body, at most [`BODY_LIMIT`] bytes for at
/// most [`DRAIN_TIME`]; past either the connection is closed after the answer instead.
pub async fn drain(request: Request) {
    let mut body = request.into_body();
    let read = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen = seen.saturating_add(data.len());
                if seen > BODY_LIMIT {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

/// A request body that records when it has been read to its end.
struct Tracked {
    inner: Body,
    progress: BodyProgress,
}

impl HttpBody for Tracked {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            _ => false,
        };
        if ended {
            self.progress.0.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
