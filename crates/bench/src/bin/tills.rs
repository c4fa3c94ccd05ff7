//! A shop's tills under random CDN faults (issue 6 target: no decision above 1.5 s + 50 ms in
//! any scenario, over 10 000 checks with random faults).
//!
//! The operator emulator (`central`, two CDN hosts, fault knobs switched at run time) and a real
//! local module (`lm`: initialised over its HTTP API, synced from the emulator until ready) run
//! on their own thread and runtime. Sixteen tills — sixteen `Checker`s, each with its own
//! clients, all sharing one CDN state file as tills on one machine do — run on the measured
//! runtime. The checks go in rounds: each round draws a fault (none, refuse, hang, 500, 5000,
//! delay 50–1200 ms) for host 1 and, in half the rounds, the same for host 2 (else host 2 is
//! healthy); then every till checks one sandbox code at the same moment. The hosts' state is
//! what the CDN rules make of the previous rounds (blocks, clears, refreshes), as in a shop.
//!
//! `cargo run -p bench --release --bin tills [-- [--quick] [CHECKS]]` (default 10 000 checks;
//! `--quick` 1 000).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::{Table, machine_line};
use central::Config;
use central::client::AdminClient;
use lm::api::{ApiState, Auth, ServeConfig, run_module};
use lm::{Module, ModuleConfig, SystemClock};
use rand::Rng;
use till::{CheckRequest, Checker, Source, TillConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const TILLS: usize = 16;
const HOSTS: usize = 2;
/// The target: deadline + 50 ms.
const LIMIT: Duration = Duration::from_millis(1550);

/// Sandbox cases that carry no per-code fault (11–15 do: 504, 203, 500, 2 s delay, 5000; a 203
/// would switch every till to emergency mode and measure nothing).
fn plain_case(rng: &mut impl Rng) -> &'static str {
    let cases: Vec<_> = central::sandbox::CASES
        .iter()
        .filter(|c| !(11..=15).contains(&c.number))
        .collect();
    cases[rng.random_range(0..cases.len())].km
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    None,
    Refuse,
    Hang,
    Http500,
    Code5000,
    Delay,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::None,
        Kind::Refuse,
        Kind::Hang,
        Kind::Http500,
        Kind::Code5000,
        Kind::Delay,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::None => "none",
            Kind::Refuse => "refuse",
            Kind::Hang => "hang",
            Kind::Http500 => "500",
            Kind::Code5000 => "5000",
            Kind::Delay => "delay 50–1200 ms",
        }
    }

    /// The admin `fault` call's mode and ms.
    fn knob(self, rng: &mut impl Rng) -> (&'static str, Option<u64>) {
        match self {
            Kind::None => ("off", None),
            Kind::Refuse => ("refuse", None),
            Kind::Hang => ("hang", None),
            Kind::Http500 => ("500", None),
            Kind::Code5000 => ("5000", None),
            Kind::Delay => ("delay", Some(rng.random_range(50..=1200))),
        }
    }
}

struct Services {
    main: String,
    token: String,
    admin: AdminClient,
    module: String,
}

/// Emulator + real module on their own thread and runtime, so their work never delays the
/// tills' timers directly (they still share the two cores).
fn services(dir: std::path::PathBuf) -> Services {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("services runtime");
        runtime.block_on(async move {
            let config = Config::new(dir.join("central"));
            let urls = central::start_on_loopback(config, HOSTS, std::future::pending())
                .await
                .expect("emulator")
                .urls;
            let module = Module::open(
                ModuleConfig::new(dir.join("lm"), &urls.main),
                Arc::new(SystemClock),
            );
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let module_url = format!("http://{}", listener.local_addr().expect("addr"));
            let state = Arc::new(ApiState::new(module, Auth::new(None, vec![])));
            tokio::spawn(run_module(
                state,
                ServeConfig::default(),
                listener,
                CancellationToken::new(),
            ));
            let _ = tx.send((urls.main, module_url));
            std::future::pending::<()>().await;
        });
    });
    let (main, module) = rx.recv().expect("services started");
    let admin = AdminClient::new(&main).expect("admin");
    Services {
        main,
        token: String::new(),
        admin,
        module,
    }
}

/// Loads the sandbox, then initialises the module over its API and waits until it is ready.
async fn prepare(services: &mut Services) {
    services.token = services.admin.token("7700000001").await.expect("token");
    services.admin.sandbox().await.expect("sandbox");
    let http = central::client::http_client().expect("HTTP client");
    let init = http
        .post(format!("{}/api/v2/init", services.module))
        .basic_auth("admin", Some("admin"))
        .json(&serde_json::json!({"token": services.token}))
        .send()
        .await
        .expect("init sent");
    assert!(init.status().is_success(), "init: {}", init.status());
    for _ in 0..600 {
        let status: serde_json::Value = http
            .get(format!("{}/api/v2/status", services.module))
            .basic_auth("admin", Some("admin"))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("status JSON");
        if status["status"] == "ready" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the module did not reach ready in 60 s");
}

fn till(dir: &std::path::Path, services: &Services) -> Checker {
    let text = format!(
        "token = \"{}\"\ninfo_url = \"{}\"\nstate_file = {:?}\n\
         [module]\nurl = \"{}\"\nlogin = \"admin\"\npassword = \"admin\"\n",
        services.token,
        services.main,
        dir.join("cdn-state.json"),
        services.module
    );
    Checker::new(TillConfig::from_toml(&text).expect("config")).expect("checker")
}

/// One check's result.
struct Sample {
    kind: Kind,
    both: bool,
    elapsed: Duration,
    source: Source,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn row(label: String, samples: &[&Sample]) -> Vec<String> {
    let mut times: Vec<Duration> = samples.iter().map(|s| s.elapsed).collect();
    times.sort_unstable();
    let count = |source: Source| samples.iter().filter(|s| s.source == source).count();
    let over = times.iter().filter(|t| **t > LIMIT).count();
    vec![
        label,
        samples.len().to_string(),
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.99)),
        ms(pct(&times, 1.0)),
        count(Source::Online).to_string(),
        count(Source::Offline).to_string(),
        (count(Source::None) + count(Source::Emergency)).to_string(),
        over.to_string(),
    ]
}

#[tokio::main]
async fn main() {
    let mut checks = 10_000usize;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => checks = 1_000,
            other => checks = other.parse().expect("usage: tills [--quick] [CHECKS]"),
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut services = services(dir.path().to_path_buf());
    prepare(&mut services).await;
    let load_before = bench::load_average().unwrap_or_else(|| "n/a".into());

    // The first till fetches the CDN list; the others find it in the shared file.
    let first = till(dir.path(), &services);
    first.refresh_hosts().await.expect("cdn/info");
    first.flush_state().expect("state written");
    let mut tills = vec![first];
    for _ in 1..TILLS {
        tills.push(till(dir.path(), &services));
    }

    let mut rng = rand::rng();
    let mut knobs: [(&str, Option<u64>); HOSTS] = [("off", None); HOSTS];
    let mut samples = Vec::with_capacity(checks);
    let started = Instant::now();
    while samples.len() < checks {
        let kind = Kind::ALL[rng.random_range(0..Kind::ALL.len())];
        let both = rng.random_bool(0.5);
        let knob = kind.knob(&mut rng);
        let wanted = [knob, if both { knob } else { ("off", None) }];
        for (host, (now, want)) in knobs.iter_mut().zip(wanted).enumerate() {
            if *now != want {
                services
                    .admin
                    .fault(host + 1, want.0, want.1)
                    .await
                    .expect("fault set");
                *now = want;
            }
        }
        let round = (checks - samples.len()).min(TILLS);
        let mut tasks = Vec::with_capacity(round);
        for checker in tills.iter().take(round) {
            let checker = checker.clone();
            let km = plain_case(&mut rng);
            tasks.push(tokio::spawn(async move {
                let request = CheckRequest {
                    km: km.into(),
                    ..CheckRequest::default()
                };
                let t = Instant::now();
                let outcome = checker.check(request).await.expect("checks");
                (t.elapsed(), outcome.source)
            }));
        }
        for task in tasks {
            let (elapsed, source) = task.await.expect("check task");
            samples.push(Sample {
                kind,
                both,
                elapsed,
                source,
            });
        }
    }
    let wall = started.elapsed();
    let load_after = bench::load_average().unwrap_or_else(|| "n/a".into());

    let mut table = Table::new(&[
        "fault (hosts)",
        "checks",
        "p50",
        "p99",
        "max",
        "online",
        "offline",
        "none",
        "> 1.55 s",
    ]);
    let mut groups: BTreeMap<(Kind, bool), Vec<&Sample>> = BTreeMap::new();
    for s in &samples {
        groups.entry((s.kind, s.both)).or_default().push(s);
    }
    for ((kind, both), group) in &groups {
        let hosts = if *both { "both" } else { "host 1" };
        table.row(row(format!("{} ({hosts})", kind.name()), group));
    }
    let all: Vec<&Sample> = samples.iter().collect();
    table.row(row("all".into(), &all));
    let writes: u64 = tills.iter().map(|t| t.shared_state().writes()).sum();

    println!("{}\n", machine_line());
    println!(
        "{TILLS} tills, {HOSTS} CDN hosts, real module; {checks} checks in {:.0} s; \
         load average before {load_before}, after {load_after}; state file writes {writes}\n",
        wall.as_secs_f64()
    );
    println!("{}", table.render());
    let over: Vec<_> = samples.iter().filter(|s| s.elapsed > LIMIT).collect();
    println!(
        "checks above 1.5 s + 50 ms: {} (target 0){}",
        over.len(),
        if over.is_empty() { "" } else { ":" }
    );
    for s in over.iter().take(20) {
        println!(
            "  {} ({}): {}, {:?}",
            s.kind.name(),
            if s.both { "both" } else { "host 1" },
            ms(s.elapsed),
            s.source
        );
    }
}
