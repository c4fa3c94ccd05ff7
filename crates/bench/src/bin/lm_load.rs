//! Issue 8, load: 32 keep-alive connections at full speed against `POST /api/v2/cis/outCheck`
//! for `--seconds` (default 300) while the module's sync keeps applying large batches (the
//! emulator blocks `--batch` new codes every 2 s). Reports error responses (the goal is zero),
//! latency percentiles under load, requests per second, and the module's RSS sampled over time
//! (flat memory), with the load average. Exits 1 on any error response, broken connection, or a
//! module that has not caught up with the source 60 s after the run (crates/bench/tests holds a
//! short run of it for the test suite).
//!
//! One more connection, the probe, sends a request every `--probe-ms` (default 10) as a till
//! does, one at a time: its latencies are what a till sees while the module is saturated.
//!
//! `cargo run -p bench --bin lm_load -- [--seconds S] [--connections C] [--codes N] [--batch B]
//! [--probe-ms M]`
//!
//! The emulator runs in this process; the module (`lm::api::run`: sync engine + API) runs in a
//! child process (this binary re-run with `--module-child`) so that its RSS is its own. The
//! client is `bench::http1`, one request at a time per connection, on the same 2 cores.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bench::http1::Connection;
use bench::{Table, machine_line};
use central::client::{AdminClient, http_client};
use lm::api::ServiceConfig;
use lm::{ModuleConfig, Poll, SystemClock};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const INIT_CHUNK: u64 = 100_000;
const BATCH_EVERY: Duration = Duration::from_secs(2);
const RSS_EVERY: Duration = Duration::from_secs(10);

fn gtin(i: u64) -> String {
    let first13 = format!("{:013}", 4_600_000_000_000 + i % 1000);
    let check = marking::gtin::check_digit(first13.as_bytes());
    format!("{first13}{check}")
}

fn ki(i: u64) -> String {
    format!("01{}21{:07}", gtin(i), i)
}

struct Args {
    seconds: u64,
    connections: usize,
    codes: u64,
    batch: u64,
    probe_every: Duration,
}

fn args() -> Args {
    let mut args = Args {
        seconds: 300,
        connections: 32,
        codes: 200_000,
        batch: 20_000,
        probe_every: Duration::from_millis(10),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--seconds" => args.seconds = value(),
            "--connections" => args.connections = value() as usize,
            "--codes" => args.codes = value(),
            "--batch" => args.batch = value(),
            "--probe-ms" => args.probe_every = Duration::from_millis(value().max(1)),
            other => panic!("unknown argument {other:?}"),
        }
    }
    args
}

fn load_avg() -> String {
    bench::load_average().unwrap_or_default()
}

fn rss_mib(pid: u32) -> Option<f64> {
    bench::proc_status_mib(&pid.to_string(), "VmRSS:")
}

/// The module process: sync + API on 127.0.0.1:0; prints its address on stdout.
async fn module_child(data: &str, service: &str) {
    lm::memory::limit_malloc_arenas();
    let mut module = ModuleConfig::new(data, service);
    module.poll = Poll::Interval(Duration::from_millis(500));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    println!("{}", listener.local_addr().expect("addr"));
    lm::api::run(
        ServiceConfig::new(module),
        Arc::new(SystemClock),
        listener,
        CancellationToken::new(),
    )
    .await
    .expect("module run");
}

struct ModuleProcess(Child);

impl Drop for ModuleProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn status(http: &reqwest::Client, base: &str) -> Value {
    http.get(format!("{base}/api/v2/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status JSON")
}

fn blocked_count(status: &Value) -> u64 {
    status["dbState"]["blocked_cis"]["docCount"]
        .as_u64()
        .unwrap_or(0)
}

/// One `outCheck` of `code`: its latency in µs into `latencies`, a non-200 counted in `errors`.
async fn check_once(
    connection: &mut Connection,
    code: &str,
    latencies: &mut Vec<u32>,
    errors: &AtomicU64,
) {
    let body = format!("{{\"cis_list\":[{{\"cis\":\"{code}\",\"pg\":16}}]}}");
    let t = Instant::now();
    let answer = connection.out_check(&body).await;
    latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
    if answer != 200 {
        errors.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::main]
async fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--module-child") {
        return module_child(&argv[2], &argv[3]).await;
    }
    let args = args();

    let emulator_dir = tempfile::tempdir().expect("tempdir");
    let config = central::Config::new(emulator_dir.path());
    let url = central::start_on_loopback(config, 0, std::future::pending())
        .await
        .expect("emulator")
        .urls
        .main;
    let admin = AdminClient::new(&url).expect("admin");
    let token = admin.token("7700000001").await.expect("token");
    eprintln!("blocking {} codes at the emulator…", args.codes);
    let mut next = 0;
    while next < args.codes {
        let end = (next + INIT_CHUNK).min(args.codes);
        admin
            .block((next..end).map(ki).collect(), None)
            .await
            .expect("block");
        next = end;
    }

    let module_dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .arg("--module-child")
        .arg(module_dir.path())
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("module process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("module address");
    let module = ModuleProcess(child);
    let pid = module.0.id();
    let addr: std::net::SocketAddr = line.trim().parse().expect("address");
    let base = format!("http://{addr}");
    let http = http_client().expect("client");
    let init = http
        .post(format!("{base}/api/v2/init"))
        .basic_auth("admin", Some("admin"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .expect("init");
    assert!(
        init.status().is_success(),
        "init answered {}",
        init.status()
    );
    let t = Instant::now();
    while status(&http, &base).await["status"] != "ready" {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "module ready in {:.1} s; load for {} s…",
        t.elapsed().as_secs_f64(),
        args.seconds
    );

    let load_before = load_avg();
    let done = Arc::new(AtomicBool::new(false));
    // The emulator keeps blocking new codes: the module applies large batches all along.
    let feeder = tokio::spawn({
        let (done, admin, batch) = (done.clone(), admin.clone(), args.batch);
        async move {
            let mut next = next;
            let mut added = 0u64;
            while !done.load(Ordering::Relaxed) {
                admin
                    .block((next..next + batch).map(ki).collect(), None)
                    .await
                    .expect("block");
                next += batch;
                added += batch;
                tokio::time::sleep(BATCH_EVERY).await;
            }
            (added, next)
        }
    });
    let sampler = tokio::spawn({
        let done = done.clone();
        let started = Instant::now();
        async move {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                samples.push((started.elapsed().as_secs(), rss_mib(pid).unwrap_or(0.0)));
                tokio::time::sleep(RSS_EVERY).await;
            }
            samples.push((started.elapsed().as_secs(), rss_mib(pid).unwrap_or(0.0)));
            samples
        }
    });
    let errors = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for c in 0..args.connections as u64 {
        let (done, errors, codes) = (done.clone(), errors.clone(), args.codes);
        clients.push(tokio::spawn(async move {
            let mut connection = Connection::open(addr).await;
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut i = c * 1_000_003;
            while !done.load(Ordering::Relaxed) {
                // Half listed KIs (of the first `codes`), half KIs no list holds.
                let code = if i % 2 == 0 {
                    ki((i * 7919) % codes)
                } else {
                    ki(50_000_000 + i)
                };
                check_once(&mut connection, &code, &mut latencies, &errors).await;
                i += 1;
            }
            latencies
        }));
    }
    // The till-paced probe: one request every `probe_every`, its own latencies.
    let probe = tokio::spawn({
        let (done, errors, every) = (done.clone(), errors.clone(), args.probe_every);
        async move {
            let mut connection = Connection::open(addr).await;
            let mut latencies: Vec<u32> = Vec::new();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut i = 0u64;
            while !done.load(Ordering::Relaxed) {
                tick.tick().await;
                check_once(&mut connection, &ki(i), &mut latencies, &errors).await;
                i += 1;
            }
            latencies
        }
    });
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    done.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut broken = 0;
    for client in clients {
        match client.await {
            Ok(mut l) => latencies.append(&mut l),
            // A connection the module closed or broke: counted, never hidden.
            Err(_) => broken += 1,
        }
    }
    let mut probe = match probe.await {
        Ok(latencies) => latencies,
        Err(_) => {
            broken += 1;
            Vec::new()
        }
    };
    let elapsed = started.elapsed();
    let load_after = load_avg();
    let (added, next) = feeder.await.expect("feeder");
    let rss = sampler.await.expect("sampler");
    // Let the module catch up on the last batch, then compare counts.
    let t = Instant::now();
    let mut synced = blocked_count(&status(&http, &base).await);
    while synced != next && t.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        synced = blocked_count(&status(&http, &base).await);
    }
    drop(module);

    latencies.sort_unstable();
    probe.sort_unstable();
    let percentiles = |sorted: &[u32]| match sorted.len() {
        0 => "none".to_owned(),
        n => {
            let p = |q: f64| sorted[((n as f64 - 1.0) * q) as usize];
            format!("{} / {} / {} / {}", p(0.5), p(0.99), p(0.999), p(1.0))
        }
    };
    let errors = errors.load(Ordering::Relaxed);
    println!("{}", machine_line());
    println!("load average before / after: {load_before} / {load_after}");
    println!();
    let mut table = Table::new(&["measure", "value"]);
    let mut row = |k: &str, v: String| table.row(vec![k.to_owned(), v]);
    row(
        "connections × seconds",
        format!("{} × {:.0}", args.connections, elapsed.as_secs_f64()),
    );
    row("requests (one KI each)", latencies.len().to_string());
    row(
        "requests/s",
        format!("{:.0}", latencies.len() as f64 / elapsed.as_secs_f64()),
    );
    row("error responses (non-200)", errors.to_string());
    row("connections broken", broken.to_string());
    row("p50 / p99 / p99.9 / max, µs", percentiles(&latencies));
    row(
        &format!(
            "probe (1 request every {} ms): requests, p50 / p99 / p99.9 / max, µs",
            args.probe_every.as_millis()
        ),
        format!("{}, {}", probe.len(), percentiles(&probe)),
    );
    row(
        "codes blocked during the run",
        format!(
            "{added} (+{} every {} s)",
            args.batch,
            BATCH_EVERY.as_secs()
        ),
    );
    row(
        "module blocked_cis at the end / source",
        format!("{synced} / {next}"),
    );
    let first = rss.first().map_or(0.0, |s| s.1);
    let (min, max) = rss
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), s| (lo.min(s.1), hi.max(s.1)));
    row(
        "module RSS first / min / max / last, MiB",
        format!(
            "{first:.1} / {min:.1} / {max:.1} / {:.1}",
            rss.last().map_or(0.0, |s| s.1)
        ),
    );
    println!("{}", table.render());
    println!(
        "RSS samples (s: MiB): {}",
        rss.iter()
            .map(|(t, m)| format!("{t}: {m:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if synced != next {
        eprintln!("the module holds {synced} blocked KIs 60 s after the run, the source {next}");
    }
    if errors > 0 || broken > 0 || synced != next {
        std::process::exit(1);
    }
}
