//! The operator emulator end to end, over loopback HTTP: issuing + blocking N codes through the
//! admin API (one command's work: 100 k-code requests, one transaction each), serving
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
    let mut table = Table::new(&["what", "count", "time", "rate", "target"]);

    // 1. Issue + block N codes (milk: 6-char serial, AI 93), as `issue --count N --block` does.
    let started = Instant::now();
    let mut sample = Vec::new();
    let mut spec = IssueSpec {
        pg: 8,
        count: 0,
        block: Some(Vec::new()),
        ..IssueSpec::default()
    };
    let mut done = 0;
    while done < n {
        spec.count = (n - done).min(CHUNK);
        let codes = admin.issue(&spec).await.expect("issue");
        if spec.gtin.is_none() {
            spec.gtin = marking::MarkingCode::parse(&codes[0])
                .ok()
                .map(|c| c.gtin().to_string());
        }
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
    let target = if n >= 10_000_000 {
        "< 60 s"
    } else {
        "(10 M < 60 s)"
    };
    table.row(vec![
        "issue + block (admin API)".into(),
        n.to_string(),
        secs(issue_time),
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
    let started = Instant::now();
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
        rate(docs, feed_time),
        "≥ 200 000 docs/s".into(),
    ]);

    // 3. codes/check, one code per request, 32 keep-alive connections.
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
    table.row(vec![
        format!(
            "codes/check, {CONNECTIONS} connections (p50 {:.2} ms, p99 {:.2} ms)",
            ms(pick(0.5)),
            ms(pick(0.99))
        ),
        latencies.len().to_string(),
        secs(check_time),
        rate(latencies.len(), check_time),
        "—".into(),
    ]);
    let size = std::fs::metadata(dir.path().join("central.redb")).map_or(0, |m| m.len());
    println!("{}", table.render());
    println!(
        "store file: {:.0} MiB for {n} codes + {n} blocked docs",
        size as f64 / (1 << 20) as f64
    );
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
