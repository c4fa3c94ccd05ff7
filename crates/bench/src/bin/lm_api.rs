//! The local module's API under load: `POST /api/v2/cis/outCheck` latency (one KI, one
//! keep-alive connection, sequential) and throughput (32 connections), module start to first
//! answer, and RSS — on a store of N blocked KIs (default 2 M), all on loopback.
//!
//! Side by side, in the same run and on the same list: PouchDB (LevelDB on disk) behind
//! express-pouchdb answering `GET /blocked_cis/{KI}` (issue 5's CouchDB-family anchor), measured
//! with the same client, and the RSS of both processes.
//!
//! `cargo run -p bench --release --bin lm_api [-- [N] [--pouchdb-n M] [--no-pouchdb]]`
//!
//! N: blocked KIs in the module's store (default 2 M). M: documents PouchDB holds (default N,
//! the first M of the same KIs); its LevelDB directory is kept in
//! `target/bench-pouchdb/blocked_cis-M` and reused by later runs (loading 2 M takes minutes).
//! Needs `node` and tools/pouchdb/node_modules (scripts/test-deps); without them the PouchDB
//! column says why it is empty.
//!
//! The client is a minimal hand-written HTTP/1.1 keep-alive client on the same 2 cores, so the
//! numbers include its cost; the store is filled directly (no sync) and the module is marked
//! ready the way a finished first sync leaves it.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bench::http1::Connection;
use bench::{Table, machine_line};
use lm::api::{ApiState, Auth, ServeConfig, serve};
use lm::{Module, ModuleConfig, SystemClock};
use store::{Batch, Gtin, Identity, KiFingerprint, ListChange, ListDb, MinPrice};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const BATCH: usize = 200_000;
const LATENCY_REQUESTS: usize = 20_000;
const LOAD_SECONDS: u64 = 5;
const CONNECTIONS: usize = 32;

fn gtin(i: usize) -> String {
    let first13 = format!("{:013}", 4_600_000_000_000 + i % 5000);
    let check = marking::gtin::check_digit(first13.as_bytes());
    format!("{first13}{check}")
}

fn ki(i: usize) -> String {
    format!("01{}21{:07}", gtin(i), i)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Fills a fresh store with `n` blocked KIs, 1000 blocked GTINs, 10 000 prices; marks it
/// registered and synced now.
fn fill(dir: &std::path::Path, n: usize) -> Duration {
    let started = Instant::now();
    let module = Module::open(
        ModuleConfig::new(dir, "http://127.0.0.1:9"),
        Arc::new(SystemClock),
    );
    let store = module.store().expect("store opens");
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        let changes = (i..end)
            .map(|k| ListChange::BlockKi(KiFingerprint::of(&ki(k))))
            .collect();
        let batch = Batch {
            db: ListDb::BlockedCis,
            changes,
            checkpoint: end.to_string(),
            caught_up: end == n,
            unmapped: 0,
        };
        store.lists().apply(&batch).expect("apply");
        i = end;
    }
    let gtins = (0..1000)
        .map(|k| ListChange::ListGtin(Gtin::parse(&gtin(5000 + k)).expect("gtin")))
        .collect();
    let prices = (0..10_000)
        .map(|k| {
            let price = MinPrice {
                mrp: Some(10_000 + k as u64),
                smp: None,
            };
            ListChange::Price(Gtin::parse(&gtin(k)).expect("gtin"), price)
        })
        .collect();
    for (db, changes) in [(ListDb::BlockedGtin, gtins), (ListDb::MinPrice, prices)] {
        let batch = Batch {
            db,
            changes,
            checkpoint: "1".into(),
            caught_up: true,
            unmapped: 0,
        };
        store.lists().apply(&batch).expect("apply");
    }
    let now = now_ms();
    store
        .lists()
        .record_times(Some(now), Some(now), Some(now))
        .expect("times");
    let identity = Identity {
        inst: "bench-inst".into(),
        inn: "7700000001".into(),
        service_url: "http://127.0.0.1:9".into(),
        token: "t".into(),
        source: "{}".into(),
        grey_mode: false,
    };
    store
        .local()
        .set_identity(Some(&identity))
        .expect("identity");
    started.elapsed()
}

/// The `i`-th code asked for: even `i` a listed KI (one of the first `listed`), odd `i` a KI no
/// list holds (numbered from `unlisted_from`, past every listed one).
fn key_for(i: usize, listed: usize, unlisted_from: usize) -> String {
    if i.is_multiple_of(2) {
        ki((i * 7919) % listed)
    } else {
        ki(unlisted_from + i)
    }
}

fn body_for(i: usize, n: usize) -> String {
    let code = key_for(i, n, n);
    format!("{{\"cis_list\":[{{\"cis\":\"{code}\",\"pg\":16}}]}}")
}

/// What is measured: the module's outCheck, or PouchDB's document read of the same KI.
#[derive(Clone, Copy)]
enum Target {
    Module {
        n: usize,
    },
    /// `m` documents loaded; misses are numbered from `n` (≥ m) as for the module.
    Pouch {
        m: usize,
        n: usize,
    },
}

impl Target {
    /// Asks for the `i`-th code; checks the answer is the one the data implies.
    async fn ask(self, connection: &mut Connection, i: usize) {
        match self {
            Target::Module { n } => {
                let status = connection.out_check(&body_for(i, n)).await;
                assert_eq!(status, 200, "outCheck answered {status}");
            }
            Target::Pouch { m, n } => {
                let status = connection.get_doc(&key_for(i, m, n)).await;
                let expected = if i.is_multiple_of(2) { 200 } else { 404 };
                assert_eq!(
                    status, expected,
                    "PouchDB answered {status} for request {i}"
                );
            }
        }
    }
}

struct Latency {
    p50: Duration,
    p99: Duration,
    p999: Duration,
}

/// Sequential requests on one keep-alive connection (after a warm-up).
async fn latency(addr: std::net::SocketAddr, target: Target) -> Latency {
    let mut connection = Connection::open(addr).await;
    for i in 0..2000 {
        target.ask(&mut connection, i).await;
    }
    let mut samples = Vec::with_capacity(LATENCY_REQUESTS);
    for i in 0..LATENCY_REQUESTS {
        let t = Instant::now();
        target.ask(&mut connection, i).await;
        samples.push(t.elapsed());
    }
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    Latency {
        p50: p(0.50),
        p99: p(0.99),
        p999: p(0.999),
    }
}

/// Codes answered per second over [`CONNECTIONS`] connections for [`LOAD_SECONDS`]; `batch`
/// KIs per request (module only; PouchDB reads one document per request).
async fn throughput(addr: std::net::SocketAddr, target: Target, batch: usize) -> f64 {
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let done = done.clone();
        let answered = answered.clone();
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(addr).await;
            let mut i = c * 1_000_003;
            while !done.load(Ordering::Relaxed) {
                match target {
                    Target::Module { n } if batch > 1 => {
                        let list: Vec<String> = (0..batch)
                            .map(|k| format!("{{\"cis\":\"{}\"}}", ki((i + k * 31) % (2 * n))))
                            .collect();
                        let body = format!("{{\"cis_list\":[{}]}}", list.join(","));
                        assert_eq!(connection.out_check(&body).await, 200);
                    }
                    _ => target.ask(&mut connection, i).await,
                }
                answered.fetch_add(batch as u64, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(LOAD_SECONDS)).await;
    done.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("client");
    }
    answered.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64()
}

/// VmRSS of a process (`"self"` or a pid), MiB.
fn rss_mib(pid: &str) -> Option<f64> {
    bench::proc_status_mib(pid, "VmRSS:")
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/pouchdb/serve-bench.js")
}

/// PouchDB's LevelDB directory holding the first `m` KIs; loaded once, reused by later runs.
fn pouch_dir(m: usize) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../target/bench-pouchdb/blocked_cis-{m}"))
}

/// Loads the first `m` KIs into PouchDB unless a previous run did; says what it did.
fn pouch_load(m: usize) -> Result<String, String> {
    let dir = pouch_dir(m);
    let marker = dir.join("loaded");
    if std::fs::read_to_string(&marker).is_ok_and(|text| text.trim() == m.to_string()) {
        return Ok("reused from an earlier run".into());
    }
    if !Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tools/pouchdb/node_modules/express-pouchdb")
        .is_dir()
    {
        return Err("tools/pouchdb/node_modules missing (run scripts/test-deps)".into());
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let list = tempfile::NamedTempFile::new().map_err(|err| err.to_string())?;
    {
        let mut out = std::io::BufWriter::new(list.as_file());
        for i in 0..m {
            writeln!(out, "{} {}", ki(i), gtin(i)).map_err(|err| err.to_string())?;
        }
        out.flush().map_err(|err| err.to_string())?;
    }
    let output = Command::new("node")
        .arg(script())
        .arg("load")
        .arg(list.path())
        .arg(&dir)
        .output()
        .map_err(|err| format!("node: {err} (run scripts/test-deps)"))?;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|_| {
        format!(
            "PouchDB load failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })?;
    let docs = report["docs"].as_u64().unwrap_or(0);
    if docs != m as u64 {
        return Err(format!("PouchDB holds {docs} documents, {m} expected"));
    }
    std::fs::write(&marker, m.to_string()).map_err(|err| err.to_string())?;
    Ok(format!(
        "loaded in {:.0} s",
        report["seconds"].as_f64().unwrap_or(0.0)
    ))
}

/// The PouchDB server process; it exits when its stdin closes (on drop).
struct PouchServer {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: std::net::SocketAddr,
}

impl PouchServer {
    fn start(m: usize) -> Result<PouchServer, String> {
        let mut child = Command::new("node")
            .arg(script())
            .arg("serve")
            .arg(pouch_dir(m))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|err| format!("node: {err}"))?;
        let stdin = child.stdin.take();
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let ready: serde_json::Value =
            serde_json::from_str(&line).map_err(|_| format!("PouchDB did not start: {line:?}"))?;
        if ready["docs"].as_u64() != Some(m as u64) {
            return Err(format!(
                "PouchDB serves {} documents, {m} expected",
                ready["docs"]
            ));
        }
        let port = ready["port"].as_u64().unwrap_or(0) as u16;
        Ok(PouchServer {
            child,
            stdin,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    fn rss(&self) -> Option<f64> {
        rss_mib(&self.child.id().to_string())
    }
}

impl Drop for PouchServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Everything measured on one side.
struct Figures {
    start: Duration,
    latency: Latency,
    one_per_request: f64,
    rss_idle: Option<f64>,
    rss_loaded: Option<f64>,
}

async fn measure_pouch(m: usize, n: usize) -> Result<Figures, String> {
    let started = Instant::now();
    let server = tokio::task::block_in_place(|| PouchServer::start(m))?;
    let target = Target::Pouch { m, n };
    let mut connection = Connection::open(server.addr).await;
    target.ask(&mut connection, 0).await;
    let start = started.elapsed();
    let rss_idle = server.rss();
    let latency = latency(server.addr, target).await;
    let one_per_request = throughput(server.addr, target, 1).await;
    let rss_loaded = server.rss();
    Ok(Figures {
        start,
        latency,
        one_per_request,
        rss_idle,
        rss_loaded,
    })
}

struct Args {
    n: usize,
    pouch: Option<usize>,
}

fn args() -> Args {
    let mut n = 2_000_000;
    let mut pouch_n = None;
    let mut pouch = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-pouchdb" => pouch = false,
            "--pouchdb-n" => pouch_n = args.next().and_then(|a| a.parse().ok()),
            other => match other.parse() {
                Ok(value) => n = value,
                Err(_) => {
                    eprintln!(
                        "usage: lm_api [N] [--pouchdb-n M] [--no-pouchdb] (unknown argument {other:?})"
                    );
                    std::process::exit(2);
                }
            },
        }
    }
    let m = pouch_n.unwrap_or(n).min(n);
    Args {
        n,
        pouch: pouch.then_some(m),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let Args { n, pouch } = args();
    let dir = tempfile::tempdir().expect("tempdir");
    // PouchDB loads (minutes for millions, once) while the module's store fills.
    let pouch_loading = pouch.map(|m| {
        eprintln!("PouchDB: loading {m} documents unless an earlier run did…");
        std::thread::spawn(move || pouch_load(m))
    });
    eprintln!("filling a store with {n} blocked KIs…");
    let fill_time = fill(dir.path(), n);
    let disk = bytes_under(dir.path());
    let pouch_loaded = pouch_loading.map(|loading| {
        loading
            .join()
            .unwrap_or_else(|_| Err("loader panicked".into()))
    });
    let load_avg = || bench::load_average().unwrap_or_default();
    let load_before = load_avg();

    // Start to first answer: open the store, bind, serve, until outCheck answers 200.
    let started = Instant::now();
    let module = Module::open(
        ModuleConfig::new(dir.path(), "http://127.0.0.1:9"),
        Arc::new(SystemClock),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = Arc::new(ApiState::new(module, Auth::new(None, vec![])));
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(
        state.clone(),
        listener,
        ServeConfig::default(),
        shutdown.clone(),
    ));
    let mut connection = Connection::open(addr).await;
    let target = Target::Module { n };
    target.ask(&mut connection, 0).await;
    let start_time = started.elapsed();
    let rss_idle = rss_mib("self");

    // What each check costs below HTTP: the readiness snapshot and the lookups of one KI.
    use lm::api::Backend;
    let t = Instant::now();
    for _ in 0..10_000 {
        std::hint::black_box(state.backend.snapshot().expect("snapshot"));
    }
    let snapshot_cost = t.elapsed() / 10_000;
    let t = Instant::now();
    for i in 0..10_000 {
        let code = ki((i * 7919) % (2 * n));
        std::hint::black_box(state.backend.facts(&code, &gtin(i)).expect("facts"));
    }
    let facts_cost = t.elapsed() / 10_000;

    let module_latency = latency(addr, target).await;
    let one_per_request = throughput(addr, target, 1).await;
    let hundred_per_request = throughput(addr, target, 100).await;
    let rss_loaded = rss_mib("self");
    let module = Figures {
        start: start_time,
        latency: module_latency,
        one_per_request,
        rss_idle,
        rss_loaded,
    };

    // PouchDB while the module still runs (idle), as the module ran while PouchDB was idle.
    let pouch = match (pouch, pouch_loaded) {
        (Some(m), Some(Ok(how))) => Some((m, how, measure_pouch(m, n).await)),
        (Some(m), Some(Err(why))) => Some((m, String::new(), Err(why))),
        _ => None,
    };
    let load_after = load_avg();
    shutdown.cancel();

    println!("{}", machine_line());
    println!("load average before / after the measurements: {load_before} / {load_after}");
    println!();
    let mut table = Table::new(&["measure", "module", "PouchDB", "module better by", "target"]);
    let pouch_figures = pouch
        .as_ref()
        .and_then(|(_, _, figures)| figures.as_ref().ok());
    let pouch_cell = |value: &dyn Fn(&Figures) -> String| match &pouch {
        None => "not run (--no-pouchdb)".to_owned(),
        Some((_, _, Err(why))) => why.clone(),
        Some((_, _, Ok(figures))) => value(figures),
    };
    // How many times the module is better: `lower` when lower is better.
    let ratio = |module: f64, pouch: Option<f64>, lower: bool| match pouch {
        Some(pouch) if module > 0.0 && pouch > 0.0 => {
            format!(
                "{:.1}×",
                if lower {
                    pouch / module
                } else {
                    module / pouch
                }
            )
        }
        _ => "—".to_owned(),
    };
    let mib = |value: Option<f64>| value.map_or("n/a".to_owned(), |v| format!("{v:.1} MiB"));
    table.row(vec![
        "data (not a target)".into(),
        format!(
            "{n} KIs filled in {:.1} s, {:.1} MiB on disk ({:.1} B/KI)",
            fill_time.as_secs_f64(),
            disk as f64 / 1048576.0,
            disk as f64 / n as f64
        ),
        match &pouch {
            None => "—".into(),
            Some((m, how, _)) => {
                let bytes = bytes_under(&pouch_dir(*m));
                format!(
                    "{m} docs ({how}), {:.1} MiB on disk ({:.1} B/doc)",
                    bytes as f64 / 1048576.0,
                    bytes as f64 / (*m).max(1) as f64
                )
            }
        },
        "—".into(),
        "—".into(),
    ]);
    table.row(vec![
        "start to first answer".into(),
        format!("{:.0} ms", module.start.as_secs_f64() * 1000.0),
        pouch_cell(&|f| format!("{:.0} ms", f.start.as_secs_f64() * 1000.0)),
        ratio(
            module.start.as_secs_f64(),
            pouch_figures.map(|f| f.start.as_secs_f64()),
            true,
        ),
        "< 1 s".into(),
    ]);
    table.row(vec![
        "module snapshot (status gate), per call".into(),
        micros(snapshot_cost),
        "—".into(),
        "—".into(),
        "—".into(),
    ]);
    table.row(vec![
        "lists + sold lookup of one KI, per call".into(),
        micros(facts_cost),
        "—".into(),
        "—".into(),
        "—".into(),
    ]);
    type Pick = fn(&Latency) -> Duration;
    let quantiles: [(&str, Pick, &str); 3] = [
        ("p50", |l| l.p50, "< 250 µs"),
        ("p99", |l| l.p99, "< 1 ms"),
        ("p99.9", |l| l.p999, "—"),
    ];
    for (name, pick, goal) in quantiles {
        table.row(vec![
            format!("1 KI sequential, {name}"),
            micros(pick(&module.latency)),
            pouch_cell(&|f| micros(pick(&f.latency))),
            ratio(
                pick(&module.latency).as_secs_f64(),
                pouch_figures.map(|f| pick(&f.latency).as_secs_f64()),
                true,
            ),
            goal.into(),
        ]);
    }
    table.row(vec![
        format!("{CONNECTIONS} connections, 1 KI/request"),
        format!("{:.0} KIs/s", module.one_per_request),
        pouch_cell(&|f| format!("{:.0} docs/s", f.one_per_request)),
        ratio(
            module.one_per_request,
            pouch_figures.map(|f| f.one_per_request),
            false,
        ),
        "≥ 35 000 KIs/s (issue 5), ≥ 20 000 (design.md §8)".into(),
    ]);
    table.row(vec![
        format!("{CONNECTIONS} connections, 100 KIs/request"),
        format!("{hundred_per_request:.0} KIs/s"),
        "—".into(),
        "—".into(),
        "—".into(),
    ]);
    table.row(vec![
        "RSS after start (module: with the client)".into(),
        mib(module.rss_idle),
        pouch_cell(&|f| mib(f.rss_idle)),
        ratio(
            module.rss_idle.unwrap_or(0.0),
            pouch_figures.and_then(|f| f.rss_idle),
            true,
        ),
        "< 64 MB".into(),
    ]);
    table.row(vec![
        "RSS after load (module: with the client)".into(),
        mib(module.rss_loaded),
        pouch_cell(&|f| mib(f.rss_loaded)),
        ratio(
            module.rss_loaded.unwrap_or(0.0),
            pouch_figures.and_then(|f| f.rss_loaded),
            true,
        ),
        "< 64 MB".into(),
    ]);
    println!("{}", table.render());
    println!(
        "module: POST /api/v2/cis/outCheck (Basic auth, full answer); PouchDB: GET /blocked_cis/{{KI}} \
         (no auth); both half listed, half unlisted KIs"
    );
}

/// Bytes of every file under `dir`, subdirectories included (the blocked_cis segments live in
/// their own directory beside lists.redb).
fn bytes_under(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => bytes_under(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
