//! `GET /{db}/_changes` written as a stream (design.md §3, CouchDB semantics): rows go to the
//! body as they are read from one read snapshot, in chunks through a small bounded channel, so
//! a feed of any size is served in bounded memory and without a `limit` it is the whole feed.
//!
//! * `normal` — every change after `since` (at most `limit`), then `last_seq` and `pending`;
//! * `longpoll` — the same, but with no change after `since` it first waits for one (`timeout`);
//! * `continuous` — one JSON row per line, the existing changes and then each new one as it
//!   commits, until `timeout` ms pass without a change or `limit` rows were sent; the last line
//!   is `{"last_seq":…,"pending":…}`.
//!
//! `heartbeat=N` (ms; `true` = 60 000) writes a newline every N ms while waiting and, as in
//! CouchDB, keeps a `longpoll`/`continuous` feed open until the client leaves (it overrides
//! `timeout`). Whenever the client goes away the producer stops at its next write.

use std::io::Write;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use protocol::replication::Feed;
use tokio::sync::mpsc;

use crate::error::StoreError;
use crate::store::{Db, FeedRow, Store};

/// Bytes gathered before a chunk goes to the body.
const CHUNK: usize = 64 << 10;
/// Chunks in flight between the store reader and the socket: memory stays ≤ CHUNK × (this + 2).
const IN_FLIGHT: usize = 4;

/// What one `_changes` request asks for, checked.
#[derive(Debug, Clone)]
pub struct FeedRequest {
    pub db: Db,
    pub since: u64,
    /// `None`: no limit (the whole feed).
    pub limit: Option<usize>,
    pub include_docs: bool,
    pub feed: Feed,
    /// How long `longpoll` waits for a first change and `continuous` for each next one.
    pub timeout: Duration,
    pub heartbeat: Option<Duration>,
}

/// Bytes for the body, and whether they end it.
type Chunk = Result<(Bytes, bool), std::io::Error>;

/// The answer; the work runs on its own task and stops when the client goes away. An answer
/// that fits one chunk goes out whole (with its length), a longer one as a stream.
pub async fn respond(store: Store, request: FeedRequest) -> Response {
    let (tx, mut rx) = mpsc::channel::<Chunk>(IN_FLIGHT);
    tokio::spawn(produce(store, request, tx));
    let json = [(header::CONTENT_TYPE, "application/json")];
    let first = match rx.recv().await {
        Some(Ok((bytes, true))) => return (json, bytes).into_response(),
        Some(Ok((bytes, false))) => Ok(bytes),
        Some(Err(e)) => Err(e),
        // The producer ended without a word: it found the client gone.
        None => Ok(Bytes::new()),
    };
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (chunk.map(|(bytes, _)| bytes), rx))
    });
    let body = futures_util::stream::iter([first]).chain(rest);
    (json, Body::from_stream(body)).into_response()
}

async fn produce(store: Store, request: FeedRequest, tx: mpsc::Sender<Chunk>) {
    let result = match request.feed {
        Feed::Continuous => continuous(&store, &request, &tx).await,
        _ => one_answer(&store, &request, &tx).await,
    };
    if let Err(Failure::Store(e)) = result {
        // The status line is long gone: an aborted body is the only honest answer left.
        tracing::error!("_changes of {}: {e}", request.db.name());
        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
    }
}

/// Why the producer stopped early.
enum Failure {
    /// The client closed the connection: nothing more to do.
    Gone,
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

/// `normal` and `longpoll`: one JSON object.
async fn one_answer(
    store: &Store,
    request: &FeedRequest,
    tx: &mpsc::Sender<Chunk>,
) -> Result<(), Failure> {
    if request.feed == Feed::Longpoll {
        let mut seqs = store.watch_seq(request.db);
        // Every seq after `since` leaves a row after `since` (a document keeps its newest seq),
        // so "nothing to send" is exactly "update seq ≤ since".
        // A timeout answers with no rows, like CouchDB.
        if *seqs.borrow_and_update() <= request.since {
            wait_for_change(&mut seqs, request.since, request, tx).await?;
        }
    }
    let (request, sender) = (request.clone(), tx.clone());
    store
        .blocking(move |s| {
            let mut out = Vec::with_capacity(CHUNK + 4096);
            out.extend_from_slice(b"{\"results\":[\n");
            let mut first = true;
            let mut gone = false;
            let end = s.visit_changes(request.db, request.since, request.limit, |row| {
                if !first {
                    out.extend_from_slice(b",\n");
                }
                first = false;
                write_row(&mut out, row, request.include_docs);
                if out.len() >= CHUNK {
                    gone = !send_blocking(&sender, &mut out, false);
                }
                !gone
            })?;
            if !gone {
                let _ = write!(
                    out,
                    "\n],\n\"last_seq\":{},\"pending\":{}}}\n",
                    end.last_seq, end.pending
                );
                send_blocking(&sender, &mut out, true);
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// `continuous`: rows, one per line, as they commit.
async fn continuous(
    store: &Store,
    request: &FeedRequest,
    tx: &mpsc::Sender<Chunk>,
) -> Result<(), Failure> {
    let mut seqs = store.watch_seq(request.db);
    let mut since = request.since;
    let mut left = request.limit;
    loop {
        seqs.borrow_and_update();
        let (pass, sender) = (request.clone(), tx.clone());
        let end = store
            .blocking(move |s| {
                let mut out = Vec::with_capacity(CHUNK + 4096);
                let mut gone = false;
                let end = s.visit_changes(pass.db, since, left, |row| {
                    write_row(&mut out, row, pass.include_docs);
                    out.push(b'\n');
                    if out.len() >= CHUNK {
                        gone = !send_blocking(&sender, &mut out, false);
                    }
                    !gone
                })?;
                // A continuous reader acts on each row: flush at the end of every pass.
                if !gone && !out.is_empty() {
                    gone = !send_blocking(&sender, &mut out, false);
                }
                Ok((end, gone))
            })
            .await?;
        let (end, gone) = end;
        if gone {
            return Err(Failure::Gone);
        }
        since = end.last_seq;
        if let Some(left) = left.as_mut() {
            *left -= end.rows.min(*left);
            if *left == 0 {
                return finish(tx, end.last_seq, end.pending).await;
            }
        }
        if *seqs.borrow_and_update() <= since
            && !wait_for_change(&mut seqs, since, request, tx).await?
        {
            return finish(tx, since, 0).await;
        }
    }
}

async fn finish(tx: &mpsc::Sender<Chunk>, last_seq: u64, pending: u64) -> Result<(), Failure> {
    let line = format!("{{\"last_seq\":{last_seq},\"pending\":{pending}}}\n");
    tx.send(Ok((Bytes::from(line), true)))
        .await
        .map_err(|_| Failure::Gone)
}

/// Waits until the update seq passes `since` (`true`) or, without a heartbeat, `timeout`
/// passes first (`false`), writing heartbeats meanwhile; `Err(Gone)` when the client left.
async fn wait_for_change(
    seqs: &mut tokio::sync::watch::Receiver<u64>,
    since: u64,
    request: &FeedRequest,
    tx: &mpsc::Sender<Chunk>,
) -> Result<bool, Failure> {
    let deadline = tokio::time::Instant::now() + request.timeout;
    loop {
        // With a heartbeat the feed stays open until the client leaves (CouchDB semantics).
        let until = match request.heartbeat {
            Some(beat) => tokio::time::Instant::now() + beat,
            None => deadline,
        };
        tokio::select! {
            // A closed watch means the store is gone (shutdown): end like a timeout.
            changed = async { seqs.wait_for(|seq| *seq > since).await.is_ok() } => {
                return Ok(changed);
            }
            () = tx.closed() => return Err(Failure::Gone),
            () = tokio::time::sleep_until(until) => {
                if request.heartbeat.is_none() {
                    return Ok(false);
                }
                if tx.send(Ok((Bytes::from_static(b"\n"), false))).await.is_err() {
                    return Err(Failure::Gone);
                }
            }
        }
    }
}

/// Sends the gathered bytes from a blocking thread (`last`: they end the answer); `false` when
/// the client is gone.
fn send_blocking(tx: &mpsc::Sender<Chunk>, out: &mut Vec<u8>, last: bool) -> bool {
    let capacity = if last { 0 } else { CHUNK + 4096 };
    let chunk = Bytes::from(std::mem::replace(out, Vec::with_capacity(capacity)));
    tx.blocking_send(Ok((chunk, last))).is_ok()
}

/// One `_changes` row as JSON, written without building values: the feed is a sync's hot path.
pub fn write_row(out: &mut Vec<u8>, row: &FeedRow<'_>, include_docs: bool) {
    let _ = write!(out, "{{\"seq\":{},\"id\":", row.seq);
    write_json_string(out, row.id);
    out.extend_from_slice(b",\"changes\":[{\"rev\":\"");
    row.write_rev(out);
    out.extend_from_slice(b"\"}]");
    if row.deleted {
        out.extend_from_slice(b",\"deleted\":true");
    }
    if include_docs {
        out.extend_from_slice(b",\"doc\":");
        row.write_doc(out);
    }
    out.push(b'}');
}

/// Appends `text` as a JSON string literal.
pub fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}
