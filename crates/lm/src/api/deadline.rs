//! Deadlines on a connection's request heads, below hyper: a client that starts a request head
//! and never finishes it (slow-loris, a broken till) gets a JSON 408 and the connection is
//! closed; a keep-alive connection on which no request starts within the same time is closed
//! without an answer (there is no request to answer). hyper's own header timeout closes in both
//! cases without a word, and an answer that is not `{"code","description"}` JSON is a bug here.
//!
//! The stream is watched from outside the HTTP parser: bytes read while waiting for a request
//! are a head until its blank line (`\r\n\r\n`); what follows belongs to the request (body,
//! handled by the request timeout) until the server starts writing the answer, after which the
//! next bytes are the next head (HTTP/1.1 without pipelining, as tills send).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::error::ApiError;

/// Where the connection is between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No byte of the next request yet.
    Idle,
    /// Part of a head arrived; `matched` bytes of `\r\n\r\n` end what was read so far.
    Head { matched: usize },
    /// The head is complete: body and answer are the request timeout's business.
    Request,
    /// The deadline passed: the 408 is being written (`written` bytes so far).
    Refusing { written: usize },
    /// Answered 408 or closed idle: reads see end of stream.
    Closed,
}

/// A stream with request-head deadlines (see the module doc).
pub struct HeadDeadline<S> {
    inner: S,
    limit: Duration,
    phase: Phase,
    timer: Pin<Box<Sleep>>,
    refusal: Vec<u8>,
}

impl<S> HeadDeadline<S> {
    /// Watches `inner`; a head (or an idle wait) may take `limit`.
    pub fn new(inner: S, limit: Duration) -> HeadDeadline<S> {
        HeadDeadline {
            inner,
            limit,
            phase: Phase::Idle,
            timer: Box::pin(tokio::time::sleep(limit)),
            refusal: refusal(limit),
        }
    }

    fn restart_timer(&mut self) {
        self.timer.as_mut().reset(Instant::now() + self.limit);
    }

    /// The server writes (an answer, or `100 Continue`): the next bytes read are the next head,
    /// and the wait for it counts from now. The timer is polled here too: hyper may not read
    /// again until something wakes the connection, and the idle deadline must.
    fn answering(&mut self, cx: &mut Context<'_>) {
        if matches!(self.phase, Phase::Request | Phase::Head { .. }) {
            self.phase = Phase::Idle;
            self.restart_timer();
            let _ = self.timer.as_mut().poll(cx);
        }
    }

    /// Follows the head through newly read bytes.
    fn observe(&mut self, bytes: &[u8]) {
        const END: &[u8] = b"\r\n\r\n";
        for &byte in bytes {
            match self.phase {
                Phase::Idle => {
                    // The head's deadline counts from its first byte.
                    self.restart_timer();
                    self.phase = Phase::Head {
                        matched: usize::from(byte == b'\r'),
                    };
                }
                Phase::Head { matched } => {
                    let matched = if byte == END[matched] {
                        matched + 1
                    } else {
                        usize::from(byte == b'\r')
                    };
                    self.phase = if matched == END.len() {
                        Phase::Request
                    } else {
                        Phase::Head { matched }
                    };
                }
                Phase::Request | Phase::Refusing { .. } | Phase::Closed => return,
            }
        }
    }
}

/// The raw 408 answer: hyper has no request to answer, so it is written here.
fn refusal(limit: Duration) -> Vec<u8> {
    let seconds = limit.as_secs().max(1);
    let error = ApiError::new(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        format!("the request head was not received within {seconds} s; the connection is closed"),
    );
    let body = serde_json::to_string(&error.body())
        .unwrap_or_else(|_| "{\"code\":408,\"description\":\"request head timeout\"}".to_owned());
    format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.phase {
                Phase::Closed => return Poll::Ready(Ok(())),
                Phase::Refusing { written } => {
                    if written < this.refusal.len() {
                        let sent = ready!(
                            Pin::new(&mut this.inner).poll_write(cx, &this.refusal[written..])
                        )?;
                        if sent == 0 {
                            this.phase = Phase::Closed;
                            continue;
                        }
                        this.phase = Phase::Refusing {
                            written: written + sent,
                        };
                        continue;
                    }
                    ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
                    // End of stream for hyper: it drops the connection without answering.
                    this.phase = Phase::Closed;
                    return Poll::Ready(Ok(()));
                }
                Phase::Idle | Phase::Head { .. } => {
                    let filled = buf.filled().len();
                    match Pin::new(&mut this.inner).poll_read(cx, buf) {
                        Poll::Ready(Ok(())) => {
                            this.observe(&buf.filled()[filled..]);
                            return Poll::Ready(Ok(()));
                        }
                        Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                        Poll::Pending => {}
                    }
                    ready!(this.timer.as_mut().poll(cx));
                    if this.phase == Phase::Idle {
                        tracing::debug!("idle connection closed");
                        this.phase = Phase::Closed;
                        return Poll::Ready(Ok(()));
                    }
                    tracing::info!("request head not received in time: 408, connection closed");
                    this.phase = Phase::Refusing { written: 0 };
                }
                Phase::Request => return Pin::new(&mut this.inner).poll_read(cx, buf),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for HeadDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.answering(cx);
        Pin::new(&mut this.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.answering(cx);
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "deadline_tests.rs"]
mod tests;
