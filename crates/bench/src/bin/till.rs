//! Till decision latency (design.md §8): time from `Checker::check` to the decision, next to the
//! latency of the answer it rests on, measured the same way.
//!
//! * online healthy: the emulator's CDN host answers; module double answers;
//! * online refused: the only CDN host refuses connections; module double answers;
//! * online hanging: the emulator's CDN host accepts and never answers (deadline 1.5 s);
//! * random faults: each check draws a fault for the CDN host (none, refuse, hang, 500, 5000).
//!
//! `cargo run -p bench --release --bin till [-- N]` (N checks per fast scenario, default 2000).
//! The module double is a small axum server answering `/api/v2/cis/outCheck` (the real module's
//! HTTP API is not used here, so its own latency does not enter the comparison).

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use bench::{Table, machine_line};
use central::Config;
use central::client::AdminClient;
use rand::Rng;
use serde_json::{Value, json};
use till::{CheckRequest, Checker, Source, TillConfig};
use tokio::net::TcpListener;

const KM: &str = "0104670540176099215NN*cM\u{1d}93dGVz"; // sandbox case 4
const KI: &str = "0104670540176099215NN*cM";

struct Emulator {
    main: String,
    cdn: Vec<String>,
    admin: AdminClient,
    token: String,
}

/// The emulator and the module double run on their own thread and runtime, so their work never
/// delays the checker's timers: only the checker runs on the measured runtime.
fn services(dir: std::path::PathBuf) -> (Emulator, String) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("services runtime");
        runtime.block_on(async move {
            let config = Config::new(dir.join("central"));
            let urls = central::start_on_loopback(config, 1, std::future::pending())
                .await
                .expect("emulator")
                .urls;
            let module = module_double().await;
            let _ = tx.send((urls.main, urls.cdn, module));
            std::future::pending::<()>().await;
        });
    });
    let (main, cdn, module) = rx.recv().expect("services started");
    let admin = AdminClient::new(&main).expect("admin");
    (
        Emulator {
            main,
            cdn,
            admin,
            token: String::new(),
        },
        module,
    )
}

/// Module double: a fixed v2 `outCheck` answer.
async fn module_double() -> String {
    let answer = json!({"results": [{
        "code": 0, "description": "ok",
        "codes": [{"cis": KI, "gtin": "04670540176099", "isBlocked": false, "isGreyGtin": false,
                   "sold": false, "smp": 0}],
        "reqId": "638f669e-7e8e-85a9-3453-2c429d001150", "reqTimestamp": 1731658318006_i64,
        "inst": "4c182ce0-a325-42a9-ab9e-b5e562cc8721",
        "version": "52cadcfe-a28f-4877-8b2f-da0481ddf1fa"}]});
    let router = Router::new().route(
        "/api/v2/cis/outCheck",
        post(move || {
            let answer = answer.clone();
            async move { axum::Json(answer) }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn checker(
    dir: &std::path::Path,
    name: &str,
    token: &str,
    info: &str,
    hosts: &[String],
    module: &str,
) -> Checker {
    let text = format!(
        "token = \"{token}\"\ninfo_url = \"{info}\"\nfallback_hosts = {hosts:?}\nstate_file = {:?}\n\
         [module]\nurl = \"{module}\"\nlogin = \"admin\"\npassword = \"admin\"\n",
        dir.join(format!("{name}.json"))
    );
    Checker::new(TillConfig::from_toml(&text).expect("config")).expect("checker")
}

struct Stats {
    samples: Vec<Duration>,
}

impl Stats {
    fn new() -> Self {
        Self {
            samples: Vec::new(),
        }
    }
    fn add(&mut self, d: Duration) {
        self.samples.push(d);
    }
    fn pct(&mut self, p: f64) -> Duration {
        self.samples.sort_unstable();
        let i = ((self.samples.len() as f64 - 1.0) * p).round() as usize;
        self.samples.get(i).copied().unwrap_or_default()
    }
    fn max(&mut self) -> Duration {
        self.pct(1.0)
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

async fn run_checks(checker: &Checker, n: usize, expect: Source) -> Stats {
    let mut stats = Stats::new();
    for _ in 0..n {
        let started = Instant::now();
        let outcome = checker
            .check(CheckRequest {
                km: KM.into(),
                price: None,
                pg: None,
                ..CheckRequest::default()
            })
            .await
            .expect("checks");
        stats.add(started.elapsed());
        assert_eq!(
            outcome.source,
            expect,
            "{}",
            serde_json::to_string(&outcome).unwrap_or_default()
        );
    }
    stats
}

/// The same HTTP call the checker makes, alone: the latency the decision rests on.
async fn raw(n: usize, url: &str, token: &str, body: Value) -> Stats {
    till::online::install_crypto();
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("client");
    let mut stats = Stats::new();
    for _ in 0..n {
        let started = Instant::now();
        let response = client
            .post(url)
            .header("X-API-KEY", token)
            .basic_auth("admin", Some("admin"))
            .json(&body)
            .send()
            .await
            .expect("sent");
        let _ = response.bytes().await.expect("body");
        stats.add(started.elapsed());
    }
    stats
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut emu, module) = services(dir.path().to_path_buf());
    emu.token = emu.admin.token("7700000001").await.expect("token");
    emu.admin.sandbox().await.expect("sandbox");
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        drop(l);
        url
    };
    let mut table = Table::new(&[
        "scenario",
        "checks",
        "answer p50",
        "decision p50",
        "decision p99",
        "decision max",
        "overhead p50",
        "target",
    ]);

    // Online healthy.
    let healthy = checker(
        dir.path(),
        "healthy",
        &emu.token,
        &emu.main,
        &emu.cdn,
        &module,
    );
    healthy.refresh_hosts().await.expect("cdn/info");
    let warm = run_checks(&healthy, 50, Source::Online).await;
    drop(warm);
    let mut online_raw = raw(
        n,
        &format!("{}/api/v4/true-api/codes/check", emu.cdn[0]),
        &emu.token,
        json!({"codes": [KM], "timeZone": 2}),
    )
    .await;
    let mut decided = run_checks(&healthy, n, Source::Online).await;
    let (a, d) = (online_raw.pct(0.5), decided.pct(0.5));
    table.row(vec![
        "online healthy".into(),
        n.to_string(),
        ms(a),
        ms(d),
        ms(decided.pct(0.99)),
        ms(decided.max()),
        ms(d.saturating_sub(a)),
        "online + 1 ms".into(),
    ]);

    // Online refused: the only host refuses; cdn/info refuses too (the list cannot heal).
    let refusing = checker(
        dir.path(),
        "refused",
        &emu.token,
        &refused,
        std::slice::from_ref(&refused),
        &module,
    );
    run_checks(&refusing, 50, Source::Offline).await;
    let mut module_raw = raw(
        n,
        &format!("{module}/api/v2/cis/outCheck"),
        &emu.token,
        json!({"cis_list": [{"cis": KI}]}),
    )
    .await;
    let mut decided = run_checks(&refusing, n, Source::Offline).await;
    let (a, d) = (module_raw.pct(0.5), decided.pct(0.5));
    table.row(vec![
        "online refused".into(),
        n.to_string(),
        ms(a),
        ms(d),
        ms(decided.pct(0.99)),
        ms(decided.max()),
        ms(d.saturating_sub(a)),
        "module + 5 ms".into(),
    ]);

    // Online hanging.
    let hanging = checker(
        dir.path(),
        "hanging",
        &emu.token,
        &emu.main,
        &emu.cdn,
        &module,
    );
    hanging.refresh_hosts().await.expect("cdn/info");
    emu.admin.fault(1, "hang", None).await.expect("fault");
    let hang_n = (n / 100).clamp(5, 20);
    let mut decided = run_checks(&hanging, hang_n, Source::Offline).await;
    let d = decided.pct(0.5);
    table.row(vec![
        "online hanging".into(),
        hang_n.to_string(),
        "1500 ms (deadline)".into(),
        ms(d),
        ms(decided.pct(0.99)),
        ms(decided.max()),
        ms(d.saturating_sub(Duration::from_millis(1500))),
        "1.5 s + 10 ms".into(),
    ]);

    // Random faults, one draw per check.
    let mixed = checker(
        dir.path(),
        "mixed",
        &emu.token,
        &emu.main,
        &emu.cdn,
        &module,
    );
    mixed.refresh_hosts().await.expect("cdn/info");
    let mixed_n = (n / 10).clamp(20, 200);
    let mut stats = Stats::new();
    let mut rng = rand::rng();
    for _ in 0..mixed_n {
        let mode = ["off", "off", "off", "refuse", "hang", "500", "5000"][rng.random_range(0..7)];
        emu.admin.fault(1, mode, None).await.expect("fault");
        let started = Instant::now();
        mixed
            .check(CheckRequest {
                km: KM.into(),
                price: None,
                pg: None,
                ..CheckRequest::default()
            })
            .await
            .expect("checks");
        stats.add(started.elapsed());
    }
    table.row(vec![
        "random faults".into(),
        mixed_n.to_string(),
        "—".into(),
        ms(stats.pct(0.5)),
        ms(stats.pct(0.99)),
        ms(stats.max()),
        "—".into(),
        "max ≤ 1.5 s + 50 ms".into(),
    ]);

    println!("{}\n", machine_line());
    println!("{}", table.render());
}
