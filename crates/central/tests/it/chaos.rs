//! Replication chaos over real sockets: each kind at probability 1 does exactly what it says on
//! the wire (read with raw HTTP/1.1, so a cut or a reset is seen as bytes, not as a client
//! error), a seed reproduces the faulted requests, the admin API names bad settings, and the
//! settings survive a restart.

use std::time::Duration;

use base64::Engine;
use central::chaos::ChaosSettings;
use protocol::registration::RegisterResponse;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Emulator, start, start_in};
use crate::replication::register;

/// Longest a test waits for bytes that should come (not a speed assertion: only a hang guard).
const PATIENCE: Duration = Duration::from_secs(30);

/// How one answer arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wire {
    status: u16,
    /// The body bytes received (chunked framing removed).
    body: Vec<u8>,
    /// The framing said the body was complete (all of Content-Length, or the last chunk).
    complete: bool,
}

fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// Decodes a chunked body as far as it goes: (data, whether the last chunk was seen).
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return (data, false);
        };
        let size = std::str::from_utf8(&raw[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok());
        let Some(size) = size else {
            return (data, false);
        };
        if size == 0 {
            return (data, true);
        }
        raw = &raw[line_end + 2..];
        let take = size.min(raw.len());
        data.extend_from_slice(&raw[..take]);
        if raw.len() < size + 2 {
            return (data, false);
        }
        raw = &raw[size + 2..];
    }
}

/// Connects, sends the request head, returns the socket and whatever arrived up to the end of
/// the response head.
async fn send_head(emu: &Emulator, reg: &RegisterResponse, path: &str) -> (TcpStream, Vec<u8>) {
    let address = emu.main.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        reg.replication.username, reg.replication.password
    ));
    let request = format!(
        "GET /replication{path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic \
         {credentials}\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut received = Vec::new();
    let mut buffer = [0u8; 8192];
    while head_end(&received).is_none() {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("the response head came")
            .expect("read the head");
        assert!(n > 0, "connection closed before the response head");
        received.extend_from_slice(&buffer[..n]);
    }
    (stream, received)
}

/// Reads on until the server closes (or resets) the connection.
async fn read_to_close(stream: &mut TcpStream, received: &mut Vec<u8>) {
    let mut buffer = [0u8; 65536];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("the server ends the answer")
        {
            Ok(0) | Err(_) => return,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

fn parse(received: &[u8]) -> Wire {
    let end = head_end(received).expect("a head");
    let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let raw = &received[end..];
    if head.contains("transfer-encoding: chunked") {
        let (body, complete) = dechunk(raw);
        return Wire {
            status,
            body,
            complete,
        };
    }
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .expect("content-length or chunked");
    Wire {
        status,
        body: raw[..raw.len().min(length)].to_vec(),
        complete: raw.len() >= length,
    }
}

async fn fetch(emu: &Emulator, reg: &RegisterResponse, path: &str) -> Wire {
    let (mut stream, mut received) = send_head(emu, reg, path).await;
    read_to_close(&mut stream, &mut received).await;
    parse(&received)
}

fn ki(i: u64) -> String {
    let first13 = format!("{:013}", 4_600_000_000_000 + i % 50);
    let check = marking::gtin::check_digit(first13.as_bytes());
    format!("01{first13}{check}21{i:07}")
}

/// An emulator with 300 blocked KIs and a registered module.
async fn source() -> (Emulator, RegisterResponse) {
    let emu = start(0).await;
    emu.admin
        .block((0..300).map(ki).collect(), None)
        .await
        .expect("block");
    let reg = register(&emu).await;
    (emu, reg)
}

const FEED: &str = "/blocked_cis/_changes?since=0&include_docs=true";

/// Turns chaos on with seed 11 and only what `set` sets (every probability else 0).
async fn chaos_only(emu: &Emulator, set: impl FnOnce(&mut ChaosSettings)) {
    let mut settings = ChaosSettings {
        seed: Some(11),
        ..Default::default()
    };
    set(&mut settings);
    emu.admin.chaos(Some(settings)).await.expect("chaos on");
}

/// A 200 whose body is a strict prefix of the whole feed's.
fn assert_cut_short(answer: &Wire, whole: &Wire) {
    assert_eq!(answer.status, 200);
    assert!(answer.body.len() < whole.body.len(), "not cut");
    assert!(whole.body.starts_with(&answer.body), "not a prefix");
}

#[tokio::test]
async fn each_kind_does_what_it_says_on_the_wire() {
    let (emu, reg) = source().await;
    let whole = fetch(&emu, &reg, FEED).await;
    assert!(whole.complete && whole.status == 200);
    let feed: Value = serde_json::from_slice(&whole.body).expect("the feed is JSON");
    assert_eq!(feed["results"].as_array().map(Vec::len), Some(300));

    // error: 500 and 503 with CouchDB's error body.
    chaos_only(&emu, |c| c.error = 1.0).await;
    let mut statuses = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let answer = fetch(&emu, &reg, FEED).await;
        assert!(answer.complete);
        let body: Value = serde_json::from_slice(&answer.body).expect("JSON error");
        assert_eq!(body["error"], "chaos");
        statuses.insert(answer.status);
    }
    assert_eq!(statuses, [500, 503].into());

    // reset: a strict prefix of the real body, then the connection ends short of the framing.
    chaos_only(&emu, |c| c.reset = 1.0).await;
    for _ in 0..10 {
        let answer = fetch(&emu, &reg, FEED).await;
        assert_cut_short(&answer, &whole);
        assert!(!answer.complete, "a reset answer ended as if complete");
    }

    // truncate: the framing says complete, the JSON is cut; other routes are left alone.
    chaos_only(&emu, |c| c.truncate = 1.0).await;
    for _ in 0..10 {
        let answer = fetch(&emu, &reg, FEED).await;
        assert_cut_short(&answer, &whole);
        assert!(answer.complete, "a truncated answer must look complete");
        assert!(serde_json::from_slice::<Value>(&answer.body).is_err());
    }
    let info = fetch(&emu, &reg, "/blocked_cis").await;
    assert!(info.complete && info.status == 200);
    serde_json::from_slice::<Value>(&info.body).expect("db info untouched");

    // stall: the head arrives, then no byte of the body until the stall ends the connection.
    chaos_only(&emu, |c| {
        c.stall = 1.0;
        c.stall_ms = 1_000;
    })
    .await;
    let (mut stream, mut received) = send_head(&emu, &reg, FEED).await;
    assert_eq!(parse(&received).status, 200);
    let head_length = head_end(&received).expect("head");
    read_to_close(&mut stream, &mut received).await;
    assert_eq!(
        received.len(),
        head_length,
        "a stalled answer sent body bytes"
    );

    // delay: answers are whole.
    chaos_only(&emu, |c| {
        c.delay = 1.0;
        c.delay_ms = 50;
    })
    .await;
    for _ in 0..5 {
        assert_eq!(fetch(&emu, &reg, FEED).await, whole);
    }
    let report = emu.admin.chaos_report().await.expect("report");
    assert_eq!(report["counts"]["requests"], 5);
    assert_eq!(report["counts"]["delay"], 5);
    assert_eq!(report["counts"]["reset"], 0, "counts start again when set");

    emu.admin.chaos(None).await.expect("chaos off");
    assert_eq!(fetch(&emu, &reg, FEED).await, whole);
    assert_eq!(
        emu.admin.chaos_report().await.expect("report")["counts"]["requests"],
        5,
        "requests are not counted while chaos is off"
    );
    emu.stop().await;
}

#[tokio::test]
async fn the_same_seed_faults_the_same_requests_at_the_same_bytes() {
    let (emu, reg) = source().await;
    let settings = ChaosSettings {
        error: 0.2,
        reset: 0.2,
        truncate: 0.3,
        seed: Some(2026),
        ..Default::default()
    };
    let whole = fetch(&emu, &reg, FEED).await;
    // The bytes before a reset are checked above; how many of them a client reads before the
    // connection drops is up to the sockets.
    let outcome = |w: Wire| match w.complete {
        true => (w.status, true, w.body),
        false => (w.status, false, Vec::new()),
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let report = emu
            .admin
            .chaos(Some(settings.clone()))
            .await
            .expect("chaos on");
        assert_eq!(report["chaos"]["seed"], 2026);
        let mut seen = Vec::new();
        for _ in 0..40 {
            seen.push(outcome(fetch(&emu, &reg, FEED).await));
        }
        runs.push(seen);
    }
    assert_eq!(runs[0], runs[1]);
    let faulted = runs[0]
        .iter()
        .filter(|(status, complete, body)| *status != 200 || !complete || *body != whole.body)
        .count();
    assert!(faulted > 0, "seed 2026 faulted nothing in 40 requests");
    emu.stop().await;
}

#[tokio::test]
async fn bad_settings_are_named_and_chaos_survives_a_restart() {
    let emu = start(0).await;
    let refused = emu
        .admin
        .chaos(Some(ChaosSettings {
            error: 0.7,
            stall: 0.7,
            ..Default::default()
        }))
        .await
        .expect_err("a sum over 1");
    assert!(refused.to_string().contains("sum"), "{refused}");
    let refused = emu
        .http
        .post(format!("{}/admin/v1/chaos", emu.main))
        .body(r#"{"chaos": {"resets": 0.5}}"#)
        .header("content-type", "application/json")
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.expect("JSON error");
    assert!(
        body["description"]
            .as_str()
            .is_some_and(|d| d.contains("resets")),
        "{body}"
    );

    let settings = ChaosSettings {
        delay: 0.5,
        reset: 0.25,
        seed: Some(99),
        ..Default::default()
    };
    emu.admin
        .chaos(Some(settings.clone()))
        .await
        .expect("chaos on");
    let emu = start_in(emu.stop().await, 0).await;
    let report = emu.admin.chaos_report().await.expect("report");
    let restored: ChaosSettings =
        serde_json::from_value(report["chaos"].clone()).expect("settings");
    assert_eq!(restored, settings);
    assert_eq!(
        emu.admin.status().await.expect("status")["chaos"]["seed"],
        99
    );
    emu.admin.chaos(None).await.expect("chaos off");
    let emu = start_in(emu.stop().await, 0).await;
    assert_eq!(
        emu.admin.chaos_report().await.expect("report")["chaos"],
        Value::Null
    );
    emu.stop().await;
}
