//! The local module's API under load: `POST /api/v2/cis/outCheck` latency (one KI, one
//! keep-alive connection, sequential) and throughput (32 connections), module start to first
//! answer, and RSS — on a store of N blocked KIs (default 2 M), all on loopback.
//!
//! `cargo run -p bench --release --bin lm_api [-- N]`
//!
//! The client is a minimal hand-written HTTP/1.1 keep-alive client on the same 2 cores, so the
//! numbers include its cost; the store is filled directly (no sync) and the module is marked
//! ready the way a finished first sync leaves it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bench::{Table, machine_line};
use lm::api::{ApiState, Auth, ServeConfig, serve};
use lm::{Module, ModuleConfig, SystemClock};
use store::{Batch, Gtin, Identity, KiFingerprint, ListChange, ListDb, MinPrice};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
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

/// One keep-alive connection speaking just enough HTTP/1.1.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(addr: std::net::SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Connection {
            stream,
            buffer: Vec::with_capacity(4096),
        }
    }

    /// Sends one outCheck; returns the HTTP status.
    async fn out_check(&mut self, body: &str) -> u16 {
        let request = format!(
            "POST /api/v2/cis/outCheck HTTP/1.1\r\nHost: lm\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\nX-ClientId: 9999078900001234\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream
            .write_all(request.as_bytes())
            .await
            .expect("write");
        self.read_response().await
    }

    async fn read_response(&mut self) -> u16 {
        self.buffer.clear();
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while self.buffer.len() < end + 4 + length {
                    self.fill().await;
                }
                return status;
            }
            self.fill().await;
        }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let read = self.stream.read(&mut chunk).await.expect("read");
        assert!(read > 0, "server closed the connection");
        self.buffer.extend_from_slice(&chunk[..read]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn body_for(i: usize, n: usize) -> String {
    // Half hits (blocked KIs), half misses.
    let code = if i.is_multiple_of(2) {
        ki((i * 7919) % n)
    } else {
        ki(n + i)
    };
    format!("{{\"cis_list\":[{{\"cis\":\"{code}\",\"pg\":16}}]}}")
}

fn rss_mib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map(|kib| format!("{:.1} MiB", kib / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    eprintln!("filling a store with {n} blocked KIs…");
    let fill_time = fill(dir.path(), n);
    let disk = bytes_under(dir.path());

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
    let first = connection.out_check(&body_for(0, n)).await;
    let start_time = started.elapsed();
    assert_eq!(first, 200, "module not ready");
    let rss_idle = rss_mib();

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

    // Latency: sequential, one connection.
    for i in 0..2000 {
        connection.out_check(&body_for(i, n)).await;
    }
    let mut samples = Vec::with_capacity(LATENCY_REQUESTS);
    for i in 0..LATENCY_REQUESTS {
        let body = body_for(i, n);
        let t = Instant::now();
        let status = connection.out_check(&body).await;
        samples.push(t.elapsed());
        assert_eq!(status, 200);
    }
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];

    // Throughput: 32 connections for LOAD_SECONDS; one KI per request, then 100 per request.
    let mut throughput = Vec::new();
    for kis_per_request in [1usize, 100] {
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
                    let body = if kis_per_request == 1 {
                        body_for(i, n)
                    } else {
                        let list: Vec<String> = (0..kis_per_request)
                            .map(|k| format!("{{\"cis\":\"{}\"}}", ki((i + k * 31) % (2 * n))))
                            .collect();
                        format!("{{\"cis_list\":[{}]}}", list.join(","))
                    };
                    let status = connection.out_check(&body).await;
                    assert_eq!(status, 200);
                    answered.fetch_add(kis_per_request as u64, Ordering::Relaxed);
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
        let elapsed = t.elapsed();
        let kis = answered.load(Ordering::Relaxed);
        throughput.push((kis_per_request, kis as f64 / elapsed.as_secs_f64()));
    }
    let rss_loaded = rss_mib();
    shutdown.cancel();

    println!("{}", machine_line());
    println!();
    let mut table = Table::new(&["measure", "value", "target"]);
    table.row(vec![
        "store fill (not a target)".into(),
        format!(
            "{n} KIs in {:.1} s, {:.1} MiB on disk ({:.1} B/KI)",
            fill_time.as_secs_f64(),
            disk as f64 / 1048576.0,
            disk as f64 / n as f64
        ),
        "—".into(),
    ]);
    table.row(vec![
        "start to first outCheck answer".into(),
        format!("{:.0} ms", start_time.as_secs_f64() * 1000.0),
        "< 1 s".into(),
    ]);
    table.row(vec![
        "module snapshot (status gate), per call".into(),
        micros(snapshot_cost),
        "—".into(),
    ]);
    table.row(vec![
        "lists + sold lookup of one KI, per call".into(),
        micros(facts_cost),
        "—".into(),
    ]);
    table.row(vec![
        "outCheck 1 KI, p50".into(),
        micros(p(0.50)),
        "< 250 µs".into(),
    ]);
    table.row(vec![
        "outCheck 1 KI, p99".into(),
        micros(p(0.99)),
        "< 1 ms".into(),
    ]);
    table.row(vec![
        "outCheck 1 KI, p99.9".into(),
        micros(p(0.999)),
        "—".into(),
    ]);
    for (kis, rate) in &throughput {
        table.row(vec![
            format!("throughput, {CONNECTIONS} connections, {kis} KI/request"),
            format!("{rate:.0} KIs/s"),
            "≥ 20 000 KIs/s (design.md §8); ≥ 35 000 (issue 5)".into(),
        ]);
    }
    table.row(vec![
        "RSS after start (server + client)".into(),
        rss_idle,
        "< 64 MB".into(),
    ]);
    table.row(vec![
        "RSS after load (server + client)".into(),
        rss_loaded,
        "< 64 MB".into(),
    ]);
    println!("{}", table.render());
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
