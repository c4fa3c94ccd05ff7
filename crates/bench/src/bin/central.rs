//! The operator emulator end to end, over loopback HTTP: issuing + blocking N codes through the
//! admin API (one command's work: 100 k-code requests, two in flight, one transaction each), serving
//! `_changes?include_docs=true` page by page to three kinds of replicator (bytes only, the
//! module's client, a JSON-tree parser) and as one streamed answer, and `codes/check` at 32
//! connections.
//! Targets (issue 3): 10 M issue+block < 60 s; `_changes` ≥ 200 000 docs/s.
//!
//! `cargo run -p bench --release --bin central [-- N]` (N codes, default 10 000 000)

use std::time::{Duration, Instant};

use bench::{Table, machine_line, rate};
use central::client::{AdminClient, http_client};
use central::issue::IssueSpec;
use lm::sync::source::{Source, Timeouts};
use protocol::registration::{RegisterResponse, ReplicationSource};
use protocol::replication::Seq;

/// Codes per admin request (as `znak central admin issue` sends them).
const CHUNK: usize = 100_000;
const CONNECTIONS: usize = 32;
const CHECK_SECONDS: u64 = 10;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let urls =
        central::start_on_loopback(central::Config::new(dir.path()), 1, std::future::pending())
            .await
            .expect("emulator")
            .urls;
    let admin = AdminClient::new(&urls.main).expect("client");
    let token = admin.token("7700000001").await.expect("token");
    let http = http_client().expect("http");

    println!("{}", machine_line());
    println!(
        "load average at start: {}",
        bench::load_average().unwrap_or_default()
    );
    // CPU seconds of this process (emulator and clients) per row: on a shared machine the
    // wall time says how loaded it was, the CPU time what the work cost.
    let mut table = Table::new(&["what", "count", "time", "CPU", "rate", "target"]);
    let cpu = cpu_seconds();

    // 1. Issue + block N codes (milk: 6-char serial, AI 93), as `issue --count N --block` does.
    let started = Instant::now();
    let mut sample = Vec::new();
    let spec = IssueSpec {
        pg: 8,
        count: n,
        block: Some(Vec::new()),
        ..IssueSpec::default()
    };
    let mut run = admin.issue_many(&spec, CHUNK);
    let mut done = 0;
    while let Some(codes) = run.next().await {
        let codes = codes.expect("issue");
        if sample.len() < 10_000 {
            sample.extend(codes.iter().take(1_000).cloned());
        }
        done += codes.len();
        if done % 1_000_000 == 0 {
            eprintln!(
                "issued+blocked {done}/{n} ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let issue_time = started.elapsed();
    let issue_cpu = cpu_seconds() - cpu;
    let target = if n >= 10_000_000 {
        "< 60 s"
    } else {
        "(10 M < 60 s)"
    };
    table.row(vec![
        "issue + block (admin API)".into(),
        n.to_string(),
        secs(issue_time),
        format!("{issue_cpu:.1} s"),
        rate(n, issue_time),
        target.into(),
    ]);

    // 2. A replicator reading blocked_cis with docs, 10 000 per page, three ways: what the
    // emulator serves (bytes only), the module's own client (lean rows, docs left raw), and a
    // client parsing every page into a JSON tree. Each page is asked for once the previous
    // one is read, as a replicator does, so the client's work adds to the wall time.
    let registration: RegisterResponse = http
        .post(format!("{}/lm/v1/register", urls.main))
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("registration");
    let source = registration.replication;
    for client in [PageClient::Bytes, PageClient::Module, PageClient::JsonTree] {
        let (started, cpu) = (Instant::now(), cpu_seconds());
        let docs = client.read_all(&http, &source).await;
        let feed_time = started.elapsed();
        table.row(vec![
            format!(
                "`_changes?include_docs=true`, limit 10 000, {}",
                client.label()
            ),
            docs.to_string(),
            secs(feed_time),
            format!("{:.1} s", cpu_seconds() - cpu),
            rate(docs, feed_time),
            "≥ 200 000 docs/s".into(),
        ]);
    }
    let (source, user, password) = (source.url, source.username, source.password);

    // 2b. The whole feed in one answer (no limit): streamed by the emulator; the client counts
    // rows (one per line) instead of parsing them.
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let mut response = http
        .get(format!("{source}/blocked_cis/_changes?include_docs=true"))
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .expect("changes");
    let mut lines = 0usize;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
    }
    // K rows make K + 3 lines (see `page_tail`); the feed is not empty here.
    let streamed = lines.saturating_sub(3);
    let stream_time = started.elapsed();
    table.row(vec![
        "`_changes?include_docs=true`, no limit (one streamed answer, rows counted)".into(),
        streamed.to_string(),
        secs(stream_time),
        format!("{:.1} s", cpu_seconds() - cpu),
        rate(streamed, stream_time),
        "≥ 200 000 docs/s".into(),
    ]);

    // 3. codes/check, one code per request, 32 keep-alive connections.
    let cpu = cpu_seconds();
    let check_url = format!("{}/api/v4/true-api/codes/check", urls.cdn[0]);
    let deadline = Instant::now() + Duration::from_secs(CHECK_SECONDS);
    let mut workers = Vec::new();
    for w in 0..CONNECTIONS {
        let client = http_client().expect("http");
        let (url, token, sample) = (check_url.clone(), token.clone(), sample.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = w;
            while Instant::now() < deadline {
                let body = serde_json::json!({ "codes": [sample[i % sample.len()]] });
                let at = Instant::now();
                let response = client
                    .post(&url)
                    .header("X-API-KEY", &token)
                    .json(&body)
                    .send()
                    .await
                    .expect("check");
                assert_eq!(response.status(), 200);
                response.bytes().await.expect("body");
                latencies.push(at.elapsed());
                i += CONNECTIONS;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    latencies.sort();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let check_time = Duration::from_secs(CHECK_SECONDS);
    let check_cpu = cpu_seconds() - cpu;
    table.row(vec![
        format!(
            "codes/check, {CONNECTIONS} connections (p50 {:.2} ms, p99 {:.2} ms)",
            ms(pick(0.5)),
            ms(pick(0.99))
        ),
        latencies.len().to_string(),
        secs(check_time),
        format!("{check_cpu:.1} s"),
        rate(latencies.len(), check_time),
        "—".into(),
    ]);
    let size = std::fs::metadata(dir.path().join("central.redb")).map_or(0, |m| m.len());
    println!("{}", table.render());
    println!(
        "load average at the end: {}",
        bench::load_average().unwrap_or_default()
    );
    println!(
        "store file: {:.0} MiB for {n} codes + {n} blocked docs",
        size as f64 / (1 << 20) as f64
    );
}

/// User + system CPU seconds of this process so far (`/proc/self/stat`, ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// How the replicator of row 2 reads a page.
#[derive(Debug, Clone, Copy)]
enum PageClient {
    /// Receives the bytes, counts the rows (one per line) and reads `last_seq` from the tail:
    /// the emulator's side of the exchange.
    Bytes,
    /// `lm`'s replication client (`Source::changes`): rows parsed, documents kept as raw text.
    Module,
    /// Every page parsed into a `serde_json::Value`.
    JsonTree,
}

impl PageClient {
    fn label(self) -> &'static str {
        match self {
            PageClient::Bytes => "client reads bytes only (rows counted)",
            PageClient::Module => "the module's client (lean rows)",
            PageClient::JsonTree => "client parses to serde_json::Value",
        }
    }

    /// Reads the whole of `blocked_cis` page by page; the rows read.
    async fn read_all(self, http: &reqwest::Client, source: &ReplicationSource) -> usize {
        let url = format!("{}/blocked_cis/_changes", source.url);
        let module = Source::new(source, Timeouts::default()).expect("source");
        let (mut since, mut docs) = (Seq::Number(0), 0usize);
        loop {
            let (rows, last_seq) = match self {
                PageClient::Module => {
                    let page = module
                        .changes("blocked_cis", Some(&since), 10_000, None)
                        .await
                        .expect("changes");
                    (page.results.len(), page.last_seq)
                }
                PageClient::Bytes | PageClient::JsonTree => {
                    let response = http
                        .get(&url)
                        .query(&[
                            ("include_docs", "true".to_string()),
                            ("limit", "10000".to_string()),
                            ("since", since.to_query()),
                        ])
                        .basic_auth(&source.username, Some(&source.password))
                        .send()
                        .await
                        .expect("changes");
                    let body = response.bytes().await.expect("body");
                    if let PageClient::JsonTree = self {
                        let page: serde_json::Value = serde_json::from_slice(&body).expect("json");
                        let rows = page["results"].as_array().map_or(0, Vec::len);
                        let seq = serde_json::from_value(page["last_seq"].clone()).expect("seq");
                        (rows, seq)
                    } else {
                        page_tail(&body)
                    }
                }
            };
            if rows == 0 {
                return docs;
            }
            docs += rows;
            since = last_seq;
        }
    }
}

/// Rows and `last_seq` of a normal `_changes` answer without parsing its rows: one row per
/// line between the opening and the closing lines, `last_seq` in the closing object.
fn page_tail(body: &[u8]) -> (usize, Seq) {
    let lines = body.iter().filter(|&&b| b == b'\n').count();
    let tail = &body[body.len().saturating_sub(100)..];
    let text = std::str::from_utf8(tail).unwrap_or_default();
    let seq = text
        .rsplit_once("\"last_seq\":")
        .and_then(|(_, rest)| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .expect("last_seq at the end of the page");
    // `{"results":[`, the line break after the last row, `],` and `"last_seq":…}` end lines
    // that are not rows: K rows make K + 3 lines, no row `{"results":[\n\n],\n…` 4.
    let rows = if body.starts_with(b"{\"results\":[\n\n]") {
        0
    } else {
        lines.saturating_sub(3)
    };
    (rows, Seq::Number(seq))
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
