//! Initial sync from the emulator: `znak central` in this process is loaded with N blocked KIs
//! and 0.6·N minimum prices (design.md §8: 2 M + 1.2 M); then a module in a child process (this
//! binary, `module` mode, so its RSS is its own) registers and pulls everything until `ready`.
//! Optionally PouchDB's own replicator pulls the same blocked_cis side by side.
//! Targets: 2 M docs < 30 s; module RSS < 64 MB.
//!
//! `cargo run -p bench --release --bin sync [-- [--count] N [--pouchdb]]` (default N = 2 000 000;
//! `--pouchdb` then lets PouchDB's replicator pull the same blocked_cis, for the ratio). A run at
//! 100 M (`--count 100000000`) first loads the emulator for ~20 min and needs ~40 GB of disk.
//! `--synthetic` replaces the emulator by a generated source (`bench::synthetic_source`, a test
//! double storing nothing) for runs too large for the emulator's disk; `--prices P` sets the
//! number of min_price docs (default 0.6·N). The 100 M run:
//! `-- --synthetic --count 100000000 --prices 1200000`.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use bench::synthetic_source::{self, SyntheticLists, gtin, ki};
use bench::{Table, machine_line, rate};
use central::Config;
use central::client::AdminClient;
use lm::{InitRequest, Module, ModuleConfig, Status, SystemClock};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn peak_rss_mib() -> f64 {
    proc_status_mib("VmHWM:")
}

fn proc_status_mib(field: &str) -> f64 {
    bench::proc_status_mib("self", field).unwrap_or(0.0)
}

/// Child mode: sync a fresh module and print a JSON line with time, counts and peak RSS.
async fn module_mode(service: String, token: String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = Module::open(
        ModuleConfig::new(dir.path(), service),
        Arc::new(SystemClock),
    );
    let started = Instant::now();
    let request = InitRequest {
        token,
        clear_sold: false,
        enable_grey_list: false,
    };
    if let Err(err) = module.init(request).await {
        eprintln!("sync bench: init: {err}");
        std::process::exit(1);
    }
    let shutdown = CancellationToken::new();
    let engine = tokio::spawn({
        let (module, shutdown) = (module.clone(), shutdown.clone());
        async move { module.run(shutdown).await }
    });
    let done = module
        .wait_until(|s| matches!(s.status, Status::Ready | Status::Failure))
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    shutdown.cancel();
    let _ = engine.await;
    let docs: u64 = done.databases.iter().map(|d| d.doc_count).sum();
    let disk = bench::list_store_bytes(dir.path());
    println!(
        "{}",
        json!({"status": done.status.as_str(), "seconds": elapsed, "docs": docs,
               "peak_rss_mib": peak_rss_mib(), "rss_after_mib": proc_status_mib("VmRSS:"),
               "lists_bytes": disk,
               "counts": done.databases.iter().map(|d| (d.db.name(), d.doc_count)).collect::<Vec<_>>()})
    );
}

fn main() {
    // The module child runs as `znak lm` does, with glibc's arenas limited before any thread.
    if std::env::args().nth(1).as_deref() == Some("module") {
        lm::memory::limit_malloc_arenas();
    }
    tokio::runtime::Runtime::new()
        .expect("tokio runtime")
        .block_on(run());
}

async fn run() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("module") {
        return module_mode(args[1].clone(), args[2].clone()).await;
    }
    let n: usize = args
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || args[i - 1] != "--prices")
        .find_map(|(_, a)| a.parse().ok())
        .unwrap_or(2_000_000);
    let pouch = args.iter().any(|a| a == "--pouchdb");
    let synthetic = args.iter().any(|a| a == "--synthetic");
    let prices = args
        .iter()
        .position(|a| a == "--prices")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(n * 6 / 10);
    println!(
        "{}; N = {n} blocked_cis + {prices} min_price",
        machine_line()
    );

    if synthetic {
        return synthetic_run(n, prices).await;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let urls = central::start_on_loopback(Config::new(dir.path()), 0, std::future::pending())
        .await
        .expect("emulator")
        .urls;
    let admin = AdminClient::new(&urls.main).expect("admin client");
    let token = admin.token("7700000001").await.expect("token");

    let started = Instant::now();
    for start in (0..n).step_by(50_000) {
        let codes: Vec<String> = (start..(start + 50_000).min(n))
            .map(|i| ki(i as u64))
            .collect();
        admin.block(codes, None).await.expect("block");
    }
    for start in (0..prices).step_by(100_000) {
        let gtins: Vec<String> = (start..(start + 100_000).min(prices))
            .map(|i| gtin(10_000 + i as u64))
            .collect();
        admin
            .price(gtins, Some(12_300), Some(15_000))
            .await
            .expect("price");
    }
    let load = started.elapsed();
    eprintln!("emulator loaded in {:.1} s", load.as_secs_f64());

    let report = sync_in_child(&urls.main, &token).await;
    let mut table = report_table(&report, n + prices);
    if pouch {
        let pouch_rate = pouchdb_rate(&urls.main, &token).await;
        table.row(vec![
            "PouchDB replicator, blocked_cis".into(),
            pouch_rate,
            "4 000–7 000 /s measured".into(),
        ]);
    }
    print!("{}", table.render());
    println!(
        "status {}; emulator load {:.1} s",
        report["status"],
        load.as_secs_f64()
    );
}

/// Runs a fresh module in a child process (its RSS its own) against `url` until `ready`.
async fn sync_in_child(url: &str, token: &str) -> Value {
    let exe = std::env::current_exe().expect("own path");
    let (url, token) = (url.to_owned(), token.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(exe)
            .args(["module", &url, &token])
            .output()
            .expect("module child")
    })
    .await
    .expect("join");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "module child failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The module child's report as the bench's table (PouchDB's row is added by the caller).
fn report_table(report: &Value, expected_docs: usize) -> Table {
    let seconds = report["seconds"].as_f64().unwrap_or(0.0);
    let docs = report["docs"].as_u64().unwrap_or(0) as usize;
    let mut table = Table::new(&["measure", "value", "target"]);
    table.row(vec![
        "docs synced (all lists)".into(),
        format!("{docs} ({})", report["counts"]),
        format!("{expected_docs}"),
    ]);
    table.row(vec![
        "initial sync, init → ready".into(),
        format!("{seconds:.1} s"),
        "< 30 s (2 M)".into(),
    ]);
    table.row(vec![
        "rate".into(),
        rate(docs, std::time::Duration::from_secs_f64(seconds)),
        "≥ 10× PouchDB".into(),
    ]);
    table.row(vec![
        "module peak RSS".into(),
        format!("{:.0} MiB", report["peak_rss_mib"].as_f64().unwrap_or(0.0)),
        "< 64 MB (2 M)".into(),
    ]);
    table.row(vec![
        "module RSS after sync".into(),
        format!("{:.0} MiB", report["rss_after_mib"].as_f64().unwrap_or(0.0)),
        "< 64 MB (2 M)".into(),
    ]);
    let lists_bytes = report["lists_bytes"].as_u64().unwrap_or(0);
    table.row(vec![
        "lists.redb + blocked_cis segments after sync".into(),
        format!("{:.0} MiB", lists_bytes as f64 / 1048576.0),
        "—".into(),
    ]);
    table
}

/// The same sync from a generated source (`bench::synthetic_source`) instead of the emulator.
async fn synthetic_run(n: usize, prices: usize) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let lists = SyntheticLists {
        blocked_cis: n as u64,
        min_price: prices as u64,
    };
    tokio::spawn(synthetic_source::serve(lists, listener));
    println!("source: generated (bench::synthetic_source), not the emulator");
    let report = sync_in_child(&url, "synthetic").await;
    print!("{}", report_table(&report, n + prices).render());
    println!("status {}", report["status"]);
}

/// PouchDB's replicator (default settings, LevelDB target) pulling the emulator's blocked_cis.
async fn pouchdb_rate(url: &str, token: &str) -> String {
    let Ok(client) = lm::sync::source::http_client(Default::default()) else {
        return "no HTTP client".into();
    };
    let registration: Value = match client
        .post(format!("{url}/lm/v1/register"))
        .json(&json!({"token": token}))
        .send()
        .await
    {
        Ok(response) => response.json().await.unwrap_or_default(),
        Err(err) => return format!("registration failed: {err}"),
    };
    let replication = &registration["replication"];
    let source = format!(
        "{}/blocked_cis",
        replication["url"].as_str().unwrap_or_default()
    );
    let user = replication["username"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let password = replication["password"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/pouchdb/replicate-bench.js"
    );
    let target = tempfile::tempdir().expect("temp dir");
    let target_path = target.path().display().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args([script, &source, &user, &password, &target_path])
            .output()
    })
    .await
    .expect("join");
    let Ok(output) = output else {
        return "node not found (run scripts/test-deps)".into();
    };
    match serde_json::from_slice::<Value>(&output.stdout) {
        Ok(report) => {
            let docs = report["doc_count"].as_u64().unwrap_or(0) as usize;
            let seconds = report["seconds"].as_f64().unwrap_or(0.0);
            format!(
                "{} ({docs} docs, {seconds:.1} s)",
                rate(docs, std::time::Duration::from_secs_f64(seconds))
            )
        }
        Err(_) => format!("failed: {}", String::from_utf8_lossy(&output.stderr).trim()),
    }
}
