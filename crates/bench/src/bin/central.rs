//! The operator emulator end to end, over loopback HTTP: issuing + blocking N codes through the
//! admin API (one command's work: 100 k-code requests, two in flight, one transaction each), serving
//! `_changes?include_docs=true` to a replicator, and `codes/check` at 32 connections.
//! Targets (issue 3): 10 M issue+block < 60 s; `_changes` ≥ 200 000 docs/s.
//!
//! `cargo run -p bench --release --bin central [-- N]` (N codes, default 10 000 000)

use std::time::{Duration, Instant};

use bench::{Table, machine_line, rate};
use central::client::{AdminClient, http_client};
use central::issue::IssueSpec;
use serde_json::Value;
use tokio::net::TcpListener;

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
    let main_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let cdn = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let config = central::Config::new(dir.path());
    let listeners = central::Listeners {
        main: main_listener,
        cdn: vec![cdn],
    };
    let urls = central::advertised_urls(&config, &listeners).expect("urls");
    tokio::spawn(central::run(config, listeners, std::future::pending()));
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

    // 2. A replicator reading blocked_cis with docs, 10 000 per page.
    let reply: Value = http
        .post(format!("{}/lm/v1/register", urls.main))
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("registration");
    let source = reply["replication"]["url"]
        .as_str()
        .expect("url")
        .to_string();
    let user = reply["replication"]["username"]
        .as_str()
        .expect("user")
        .to_string();
    let password = reply["replication"]["password"]
        .as_str()
        .expect("password")
        .to_string();
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let (mut since, mut docs) = ("0".to_string(), 0usize);
    loop {
        let page: Value = http
            .get(format!(
                "{source}/blocked_cis/_changes?include_docs=true&limit=10000&since={since}"
            ))
            .basic_auth(&user, Some(&password))
            .send()
            .await
            .expect("changes")
            .json()
            .await
            .expect("json");
        let rows = page["results"].as_array().map_or(0, Vec::len);
        if rows == 0 {
            break;
        }
        docs += rows;
        since = page["last_seq"].to_string();
    }
    let feed_time = started.elapsed();
    table.row(vec![
        "`_changes?include_docs=true`, limit 10 000".into(),
        docs.to_string(),
        secs(feed_time),
        format!("{:.1} s", cpu_seconds() - cpu),
        rate(docs, feed_time),
        "≥ 200 000 docs/s".into(),
    ]);

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
    // The opening line and the closing two are not rows.
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

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
