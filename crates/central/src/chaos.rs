//! Chaos knobs of the replication side (issue 8, upstream faults): with given probabilities, a
//! request under `/replication` is delayed, answered 500/503, reset mid-body, truncated (a
//! `_changes` body ends cleanly at a random byte, so the client gets a 200 with cut JSON) or
//! stalled (status and headers, then silence).
//!
//! This is a layer around the replication routes, not part of their handlers: it acts on the
//! response body as it streams and never buffers it, so a streamed feed works under it the same
//! way. Decisions come from one RNG seeded per setting, drawn in the order requests arrive: the
//! same seed over the same sequence of requests faults the same ones at the same bytes.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Where a cut falls when the body's length is not known up front: central streams a `_changes`
/// answer longer than one 64 KiB chunk. The offset is drawn on a log scale, from 2^16 (64 KiB) up
/// to 2^27 (128 MiB), so that cuts land early, mid-way and deep into multi-MiB feeds alike; one
/// beyond the end of the body falls inside its last frame instead (see [`Cut::held`]).
const UNKNOWN_LENGTH_BITS: std::ops::Range<u32> = 16..27;
/// How long a reset leaves hyper to write out the bytes before the cut.
const RESET_FLUSH: Duration = Duration::from_millis(10);

fn default_delay_ms() -> u64 {
    500
}

fn default_stall_ms() -> u64 {
    600_000
}

/// What chaos to make. Probabilities are per request: `delay` is drawn on its own (a delayed
/// request may also get one of the other faults); `error`, `reset`, `truncate` and `stall`
/// exclude each other and sum to at most 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosSettings {
    /// Probability of an added delay before the request is handled.
    #[serde(default)]
    pub delay: f64,
    /// Longest added delay, ms; a delayed request waits uniformly 0..=`delay_ms`.
    #[serde(default = "default_delay_ms")]
    pub delay_ms: u64,
    /// Probability of HTTP 500 or 503 (half each) instead of the answer.
    #[serde(default)]
    pub error: f64,
    /// Probability of the connection dropped after a random byte of the body.
    #[serde(default)]
    pub reset: f64,
    /// Probability (`_changes` only) of the body ending cleanly at a random byte.
    #[serde(default)]
    pub truncate: f64,
    /// Probability of status and headers, then no more bytes for `stall_ms`, then a dropped
    /// connection.
    #[serde(default)]
    pub stall: f64,
    /// How long a stalled answer stays silent, ms.
    #[serde(default = "default_stall_ms")]
    pub stall_ms: u64,
    /// Seed of the decisions; absent: drawn at random (the status reports the one in use).
    #[serde(default)]
    pub seed: Option<u64>,
}

impl Default for ChaosSettings {
    fn default() -> Self {
        Self {
            delay: 0.0,
            delay_ms: default_delay_ms(),
            error: 0.0,
            reset: 0.0,
            truncate: 0.0,
            stall: 0.0,
            stall_ms: default_stall_ms(),
            seed: None,
        }
    }
}

impl ChaosSettings {
    /// Checks the probabilities; the error names the field that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let named = [
            ("delay", self.delay),
            ("error", self.error),
            ("reset", self.reset),
            ("truncate", self.truncate),
            ("stall", self.stall),
        ];
        for (name, p) in named {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} {p}: a probability is 0..=1"));
            }
        }
        let exclusive = self.error + self.reset + self.truncate + self.stall;
        if exclusive > 1.0 + 1e-9 {
            return Err(format!(
                "error + reset + truncate + stall = {exclusive}: they exclude each other, so \
                 their sum must be at most 1"
            ));
        }
        Ok(())
    }
}

/// One fault kind, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Error500,
    Error503,
    Reset,
    Truncate,
    Stall,
}

/// What happens to one request.
#[derive(Debug, Clone, Copy)]
struct Decision {
    delay: Option<Duration>,
    kind: Option<Kind>,
    /// A random number the cut point is taken from (modulo the body length).
    cut: u64,
    stall: Duration,
}

struct Active {
    settings: ChaosSettings,
    rng: StdRng,
}

/// How many requests the layer saw and faulted, per kind, since chaos was last switched on.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    delay: AtomicU64,
    error_500: AtomicU64,
    error_503: AtomicU64,
    reset: AtomicU64,
    truncate: AtomicU64,
    stall: AtomicU64,
}

/// The chaos state of the emulator: the settings in force (if any) and the counts.
#[derive(Default)]
pub struct ChaosBoard {
    active: Mutex<Option<Active>>,
    counts: Counts,
}

impl ChaosBoard {
    /// Switches chaos on with `settings` (the counts start again from zero) or off (`None`;
    /// the counts stay readable). Returns the settings in force, with the seed filled in.
    pub fn set(&self, settings: Option<ChaosSettings>) -> Option<ChaosSettings> {
        let active = settings.map(|mut settings| {
            let seed = *settings.seed.get_or_insert_with(|| rand::rng().random());
            Active {
                settings,
                rng: StdRng::seed_from_u64(seed),
            }
        });
        let in_force = active.as_ref().map(|a| a.settings.clone());
        if active.is_some() {
            for counter in self.counters() {
                counter.1.store(0, Ordering::Relaxed);
            }
        }
        if let Ok(mut slot) = self.active.lock() {
            *slot = active;
        }
        in_force
    }

    /// The settings in force (with their seed), or `None` when chaos is off.
    pub fn settings(&self) -> Option<ChaosSettings> {
        self.active
            .lock()
            .ok()
            .and_then(|a| a.as_ref().map(|a| a.settings.clone()))
    }

    fn counters(&self) -> [(&'static str, &AtomicU64); 7] {
        let c = &self.counts;
        [
            ("requests", &c.requests),
            ("delay", &c.delay),
            ("error_500", &c.error_500),
            ("error_503", &c.error_503),
            ("reset", &c.reset),
            ("truncate", &c.truncate),
            ("stall", &c.stall),
        ]
    }

    /// `{"chaos": settings or null, "counts": {"requests", "delay", "error_500", …}}`.
    pub fn report(&self) -> Value {
        let counts: serde_json::Map<String, Value> = self
            .counters()
            .into_iter()
            .map(|(name, counter)| (name.to_string(), counter.load(Ordering::Relaxed).into()))
            .collect();
        json!({"chaos": self.settings(), "counts": counts})
    }

    /// Draws the decision for one request; `None` while chaos is off.
    fn decide(&self, changes_feed: bool) -> Option<Decision> {
        let mut slot = self.active.lock().ok()?;
        let active = slot.as_mut()?;
        let s = &active.settings;
        let rng = &mut active.rng;
        let delayed = rng.random::<f64>() < s.delay;
        let delay = delayed.then(|| Duration::from_millis(rng.random_range(0..=s.delay_ms)));
        let u = rng.random::<f64>();
        let mut edge = 0.0;
        let mut kind = None;
        for (k, p) in [
            (Kind::Error500, s.error / 2.0),
            (Kind::Error503, s.error / 2.0),
            (Kind::Reset, s.reset),
            (Kind::Truncate, s.truncate),
            (Kind::Stall, s.stall),
        ] {
            edge += p;
            if u < edge {
                kind = Some(k);
                break;
            }
        }
        // Truncation is a fault of the feed; any other answer cut short is a reset.
        if kind == Some(Kind::Truncate) && !changes_feed {
            kind = None;
        }
        let decision = Decision {
            delay,
            kind,
            cut: rng.random(),
            stall: Duration::from_millis(s.stall_ms),
        };
        drop(slot);
        let c = &self.counts;
        c.requests.fetch_add(1, Ordering::Relaxed);
        if delay.is_some() {
            c.delay.fetch_add(1, Ordering::Relaxed);
        }
        let counter = match kind {
            Some(Kind::Error500) => &c.error_500,
            Some(Kind::Error503) => &c.error_503,
            Some(Kind::Reset) => &c.reset,
            Some(Kind::Truncate) => &c.truncate,
            Some(Kind::Stall) => &c.stall,
            None => return Some(decision),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Some(decision)
    }
}

/// The middleware: `axum::middleware::from_fn_with_state(board, chaos::act)` around the
/// replication routes.
pub async fn act(State(board): State<Arc<ChaosBoard>>, request: Request, next: Next) -> Response {
    let changes_feed = request.uri().path().ends_with("/_changes");
    // A continuous feed has no end to fall back on: its frames are not held back.
    let continuous = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "feed=continuous"));
    let Some(decision) = board.decide(changes_feed) else {
        return next.run(request).await;
    };
    if let Some(delay) = decision.delay {
        tokio::time::sleep(delay).await;
    }
    let kind = match decision.kind {
        None => return next.run(request).await,
        Some(Kind::Error500) => return couch_error(StatusCode::INTERNAL_SERVER_ERROR),
        Some(Kind::Error503) => return couch_error(StatusCode::SERVICE_UNAVAILABLE),
        Some(kind) => kind,
    };
    let (mut parts, body) = next.run(request).await.into_parts();
    let body = match kind {
        Kind::Stall => Body::new(Stall {
            sleep: Box::pin(tokio::time::sleep(decision.stall)),
            _inner: body,
        }),
        Kind::Truncate => {
            // The client is told the cut length: the answer looks complete.
            parts.headers.remove(header::CONTENT_LENGTH);
            Body::new(Cut::new(body, decision.cut, false, continuous))
        }
        _ => Body::new(Cut::new(body, decision.cut, true, continuous)),
    };
    Response::from_parts(parts, body)
}

/// A byte offset strictly inside a body of known length (0 for an empty one); for a body of
/// unknown length, an offset on the log scale of [`UNKNOWN_LENGTH_BITS`] (the top 6 bits of
/// `random` pick the scale, the rest the offset).
fn cut_point(body: &Body, random: u64) -> u64 {
    match body.size_hint().exact() {
        Some(0) => 0,
        Some(length) => random % length,
        None => {
            let (low, high) = (UNKNOWN_LENGTH_BITS.start, UNKNOWN_LENGTH_BITS.end);
            let bits = low + (random >> 58) as u32 % (high - low);
            (random & ((1 << 58) - 1)) % (1 << bits)
        }
    }
}

fn couch_error(status: StatusCode) -> Response {
    let body = protocol::replication::CouchError {
        error: "chaos".into(),
        reason: format!("chaos knob: {status}"),
    };
    (status, axum::Json(body)).into_response()
}

fn chaos_io_error(kind: std::io::ErrorKind, what: &str) -> axum::Error {
    axum::Error::new(std::io::Error::new(kind, format!("chaos knob: {what}")))
}

/// Passes the body through up to `left` bytes, then ends it cleanly (`reset: false`) or fails
/// it, which makes hyper drop the connection mid-body (`reset: true`).
struct Cut {
    inner: Body,
    left: u64,
    reset: bool,
    /// A reset waits this out before failing the body.
    flush: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Bodies of unknown length (but continuous feeds): the newest data frame, sent only once the
    /// next one arrives. If the body ends before the cut point, the cut falls at `fallback`
    /// (modulo its length) inside this last frame, so every cut body is cut somewhere.
    held: Option<Option<Bytes>>,
    fallback: u64,
}

impl Cut {
    fn new(inner: Body, random: u64, reset: bool, continuous: bool) -> Cut {
        let left = cut_point(&inner, random);
        let hold = inner.size_hint().exact().is_none() && !continuous;
        Cut {
            inner,
            left,
            reset,
            flush: None,
            held: hold.then_some(None),
            // Another part of the same draw than the one the offset came from.
            fallback: random.rotate_left(29),
        }
    }

    /// Sends `data`, shortened to the bytes left before the cut.
    fn pass(&mut self, mut data: Bytes) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if data.len() as u64 > self.left {
            data.truncate(self.left as usize);
        }
        self.left -= data.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    /// The body ended (or reached its trailers) before the cut point: the cut falls inside the
    /// held last frame if there is one, else right here.
    fn end_before_cut(&mut self) -> Option<Bytes> {
        let last = self.held.as_mut().and_then(Option::take);
        self.held = None;
        match last {
            Some(last) if !last.is_empty() => {
                // A cut point inside the last frame stands; one at or past its end moves in.
                if self.left >= last.len() as u64 {
                    self.left = self.fallback % last.len() as u64;
                }
                Some(last)
            }
            _ => {
                self.left = 0;
                None
            }
        }
    }
}

impl HttpBody for Cut {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.left == 0 {
            if !self.reset {
                return Poll::Ready(None);
            }
            // hyper drops what it has not written yet when a body fails: give it a moment to
            // flush the head and the bytes before the cut, so that they reach the client.
            let flush = self
                .flush
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(RESET_FLUSH)));
            ready!(flush.as_mut().poll(cx));
            return Poll::Ready(Some(Err(chaos_io_error(
                std::io::ErrorKind::ConnectionReset,
                "connection reset mid-body",
            ))));
        }
        let this = self.as_mut().get_mut();
        loop {
            let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(frame)) => frame.into_data().ok(),
                // The end, or trailers (the cut falls before them).
                None => None,
            };
            match (frame, this.held.as_mut()) {
                (Some(data), None) => return this.pass(data),
                // Hold the newest frame back; send the one held before it, if any.
                (Some(data), Some(held)) => match held.replace(data) {
                    Some(previous) => return this.pass(previous),
                    None => continue,
                },
                // A body shorter than the cut point: a reset still drops the connection.
                (None, _) => {
                    return match this.end_before_cut() {
                        Some(last) => this.pass(last),
                        None => self.poll_frame(cx),
                    };
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        !self.reset && self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        match (self.reset, self.inner.size_hint().exact()) {
            // A reset keeps the full length: the client sees the body end early.
            (true, _) => self.inner.size_hint(),
            (false, Some(length)) => SizeHint::with_exact(length.min(self.left)),
            (false, None) => SizeHint::default(),
        }
    }
}

/// Sends nothing of the body for a while, then fails it (hyper drops the connection).
struct Stall {
    sleep: Pin<Box<tokio::time::Sleep>>,
    _inner: Body,
}

impl HttpBody for Stall {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        ready!(self.sleep.as_mut().poll(cx));
        Poll::Ready(Some(Err(chaos_io_error(
            std::io::ErrorKind::TimedOut,
            "stalled answer given up",
        ))))
    }

    fn size_hint(&self) -> SizeHint {
        self._inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn settings(seed: u64) -> ChaosSettings {
        ChaosSettings {
            delay: 0.3,
            error: 0.2,
            reset: 0.2,
            truncate: 0.2,
            stall: 0.1,
            seed: Some(seed),
            ..ChaosSettings::default()
        }
    }

    fn decisions(board: &ChaosBoard, n: usize) -> Vec<(Option<Duration>, Option<Kind>, u64)> {
        (0..n)
            .map(|i| board.decide(i % 2 == 0).expect("chaos is on"))
            .map(|d| (d.delay, d.kind, d.cut))
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_decisions() {
        let (a, b) = (ChaosBoard::default(), ChaosBoard::default());
        a.set(Some(settings(7)));
        b.set(Some(settings(7)));
        assert_eq!(decisions(&a, 500), decisions(&b, 500));
        b.set(Some(settings(8)));
        a.set(Some(settings(7)));
        assert_ne!(decisions(&a, 500), decisions(&b, 500));
    }

    #[test]
    fn kinds_come_at_about_their_probabilities_and_are_counted() {
        let board = ChaosBoard::default();
        board.set(Some(settings(1)));
        let drawn = decisions(&board, 10_000);
        let count = |k: Kind| drawn.iter().filter(|d| d.1 == Some(k)).count();
        // Half the requests are not `_changes`, so truncation hits half as often.
        for (kind, expected) in [
            (Kind::Error500, 1000),
            (Kind::Reset, 2000),
            (Kind::Truncate, 1000),
            (Kind::Stall, 1000),
        ] {
            let n = count(kind);
            assert!(n.abs_diff(expected) < expected / 5, "{kind:?}: {n}");
        }
        let report = board.report();
        assert_eq!(report["counts"]["requests"], 10_000);
        assert_eq!(report["counts"]["reset"], count(Kind::Reset) as u64);
        assert_eq!(report["chaos"]["seed"], 1);
        board.set(None);
        assert!(board.decide(true).is_none());
        assert_eq!(
            board.report()["counts"]["requests"],
            10_000,
            "kept when off"
        );
    }

    #[test]
    fn a_seed_is_drawn_when_none_is_given_and_reported() {
        let board = ChaosBoard::default();
        let in_force = board.set(Some(ChaosSettings::default())).expect("on");
        assert!(in_force.seed.is_some());
        assert_eq!(board.settings(), Some(in_force));
    }

    /// A body of unknown length, as central streams a long `_changes` answer: 64 KiB chunks.
    fn streamed(total: usize) -> (Vec<u8>, Body) {
        let content: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let chunks: Vec<Result<Bytes, std::io::Error>> = content
            .chunks(64 << 10)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        (
            content,
            Body::from_stream(futures_util::stream::iter(chunks)),
        )
    }

    /// What a client receives through `Cut`: the bytes, and whether the body failed (a reset).
    async fn receive(mut body: Body) -> (Vec<u8>, bool) {
        let mut got = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            match frame {
                Ok(frame) => got.extend_from_slice(&frame.into_data().unwrap_or_default()),
                Err(_) => return (got, true),
            }
        }
        (got, false)
    }

    #[tokio::test]
    async fn cuts_of_a_streamed_body_land_across_its_whole_length() {
        const TOTAL: usize = 4 << 20;
        let mut rng = StdRng::seed_from_u64(3);
        let (mut early, mut middle, mut last_frame) = (0, 0, 0);
        for i in 0..400 {
            let reset = i % 4 == 0;
            let (content, body) = streamed(TOTAL);
            let (got, failed) =
                receive(Body::new(Cut::new(body, rng.random(), reset, false))).await;
            assert_eq!(
                failed, reset,
                "a reset fails the body, a truncation ends it"
            );
            assert!(
                got.len() < TOTAL,
                "every cut body is cut: {} bytes",
                got.len()
            );
            assert_eq!(got[..], content[..got.len()], "a cut body is a prefix");
            match got.len() {
                n if n < 1 << 20 => early += 1,
                n if n < TOTAL - (64 << 10) => middle += 1,
                _ => last_frame += 1,
            }
        }
        // Before, every cut fell in the first 64 KiB.
        assert!(
            early > 40 && middle > 40 && last_frame > 40,
            "{early} / {middle} / {last_frame}"
        );
    }

    #[tokio::test]
    async fn a_continuous_feed_is_not_held_back() {
        let first = Bytes::from_static(b"{\"seq\":1}\n");
        // A cut far beyond the first row (scale 2^26, offset 123 456).
        let random = (10 << 58) | 123_456;
        let first_poll = |continuous: bool| {
            let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(first.clone())])
                .chain(futures_util::stream::pending());
            let mut cut = Body::new(Cut::new(
                Body::from_stream(stream),
                random,
                false,
                continuous,
            ));
            std::future::poll_fn(move |cx| {
                Poll::Ready(match Pin::new(&mut cut).poll_frame(cx) {
                    Poll::Pending => None,
                    Poll::Ready(frame) => Some(frame),
                })
            })
        };
        let frame = first_poll(true)
            .await
            .flatten()
            .expect("the row is sent at once");
        assert_eq!(frame.expect("data").into_data().ok(), Some(first.clone()));
        // Any other streamed body keeps its newest frame until the next one or the end.
        assert!(first_poll(false).await.is_none());
    }

    #[test]
    fn bad_probabilities_are_named() {
        let too_much = ChaosSettings {
            error: 0.6,
            stall: 0.6,
            ..ChaosSettings::default()
        };
        assert!(too_much.validate().unwrap_err().contains("sum"));
        let negative = ChaosSettings {
            reset: -0.1,
            ..ChaosSettings::default()
        };
        assert!(negative.validate().unwrap_err().starts_with("reset"));
        assert!(settings(1).validate().is_ok());
    }
}
