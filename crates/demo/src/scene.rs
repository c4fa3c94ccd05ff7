//! The demo script: set the stage (emulator, codes, module), then play the till session.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use central::client::AdminClient;
use central::issue::IssueSpec;
use lm::api::{ApiState, Auth, ServeConfig, run_module};
use lm::{Module, ModuleConfig, Poll, SystemClock};
use serde_json::{Value, json};
use till::queue::{Operation, SoldQueue};
use till::{CheckOutcome, CheckRequest, Checker, Decision, TillConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Timeline;

/// CDN hosts the emulator runs; the till ranks them by measured latency.
const CDN_HOSTS: usize = 3;
/// Blocked codes issued so that the module's initial sync has something to show.
const BULK_BLOCKED: usize = 60_000;
const INN: &str = "7700000001";
/// The module's documented default credentials (allowed on loopback only).
const MODULE_LOGIN: (&str, &str) = ("admin", "admin");
/// The longest the module may take to reach `ready` before the demo gives up.
const READY_WITHIN: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot prepare the demo: {0}")]
    Setup(String),
    #[error("the operator emulator refused: {0}")]
    Emulator(#[from] central::client::ClientError),
    #[error("the local module: {0}")]
    Module(String),
    #[error("the till checker: {0}")]
    Till(String),
    #[error("the demo expected {expected}, got {got}")]
    Unexpected { expected: String, got: String },
}

/// What the demo showed, for its test and exit status.
#[derive(Debug, Default)]
pub struct Summary {
    pub checks: usize,
    pub online: usize,
    pub offline: usize,
    pub refused: usize,
    pub blocked_synced: u64,
    pub elapsed_ms: u128,
}

/// Runs the whole demo, printing its timeline to `out`.
pub async fn run<W: Write>(out: W) -> Result<Summary, DemoError> {
    let mut t = Timeline::new(out);
    let dir = tempfile::tempdir().map_err(|e| DemoError::Setup(e.to_string()))?;
    let stop = CancellationToken::new();
    let _stop_on_exit = stop.clone().drop_guard();

    t.section("operator emulator (znak central)");
    let emulator = start_emulator(&dir, &stop).await?;
    t.event(format!(
        "True API at {} with {CDN_HOSTS} CDN hosts",
        emulator.main
    ));
    let admin = AdminClient::new(&emulator.main)?;
    let token = admin.token(INN).await?;
    t.event(format!("participant INN {INN}, token {token}"));
    let codes = issue_codes(&admin, &mut t).await?;

    t.section("local module (znak lm)");
    let module = start_module(&dir, &emulator.main, &stop).await?;
    t.event(format!(
        "listening on {}, status not_configured until init",
        module.url
    ));
    let http = central::client::http_client()?;
    let init = module_call(
        &http,
        &module.url,
        "/api/v2/init",
        Some(json!({ "token": token })),
    )
    .await?;
    t.event(format!("POST /api/v2/init → {init}"));
    let blocked_synced = watch_initialisation(&module, &mut t).await?;
    let status = module_call(&http, &module.url, "/api/v2/status", None).await?;
    t.event(format!(
        "GET /api/v2/status → status={} inst={} dbVersion={}",
        status["status"], status["inst"], status["dbVersion"]
    ));

    t.section("till session (znak check)");
    let checker = start_till(&dir, &emulator.main, &module.url, &token).await?;
    let hosts = checker
        .refresh_hosts()
        .await
        .map_err(|e| DemoError::Till(e.to_string()))?;
    t.event(format!(
        "cdn/info: {hosts} hosts, health-checked and ranked by latency"
    ));
    let mut summary = Summary {
        blocked_synced,
        ..Summary::default()
    };

    let milk = &codes.milk;
    t.event("online healthy:");
    check(
        &checker,
        &milk[0],
        Some(8_900),
        (Decision::Allow, "online"),
        &mut t,
        &mut summary,
    )
    .await?;
    check(
        &checker,
        &codes.blocked_beer,
        Some(12_000),
        (Decision::Forbid, "online"),
        &mut t,
        &mut summary,
    )
    .await?;
    check(
        &checker,
        &codes.tobacco_pack,
        Some(12_000),
        (Decision::Forbid, "online"),
        &mut t,
        &mut summary,
    )
    .await?;

    t.event("the link to the operator is cut (every CDN host refuses connections):");
    fault_every_host(&admin, "refuse").await?;
    check(
        &checker,
        &milk[1],
        Some(8_900),
        (Decision::Allow, "offline"),
        &mut t,
        &mut summary,
    )
    .await?;
    check(
        &checker,
        &codes.blocked_beer,
        Some(12_000),
        (Decision::Forbid, "offline"),
        &mut t,
        &mut summary,
    )
    .await?;

    t.event(format!(
        "receipt closed; the till queues /cis/sell of {} for the module",
        marking::ki(&milk[1]).unwrap_or_default()
    ));
    sell(&checker, &dir, &milk[1]).await?;
    t.event("the same code scanned again at another till:");
    check(
        &checker,
        &milk[1],
        Some(8_900),
        (Decision::Forbid, "offline"),
        &mut t,
        &mut summary,
    )
    .await?;

    t.event("CDN hosts hang instead (no answer at all): the 1.5 s deadline decides");
    fault_every_host(&admin, "hang").await?;
    check(
        &checker,
        &milk[2],
        Some(8_900),
        (Decision::Allow, "offline"),
        &mut t,
        &mut summary,
    )
    .await?;

    t.event("the link is back:");
    fault_every_host(&admin, "off").await?;
    checker
        .refresh_hosts()
        .await
        .map_err(|e| DemoError::Till(e.to_string()))?;
    check(
        &checker,
        &milk[3],
        Some(8_900),
        (Decision::Allow, "online"),
        &mut t,
        &mut summary,
    )
    .await?;

    summary.elapsed_ms = t.elapsed_ms();
    t.section("done");
    t.event(format!(
        "{} checks: {} online, {} offline, {} refused; {} blocked codes synced; all on 127.0.0.1",
        summary.checks, summary.online, summary.offline, summary.refused, summary.blocked_synced
    ));
    stop.cancel();
    Ok(summary)
}

struct Emulator {
    main: String,
}

async fn start_emulator(
    dir: &tempfile::TempDir,
    stop: &CancellationToken,
) -> Result<Emulator, DemoError> {
    let setup = |e: std::io::Error| DemoError::Setup(e.to_string());
    let config = central::Config::new(dir.path().join("central"));
    let started = central::start_on_loopback(config, CDN_HOSTS, stop.clone().cancelled_owned())
        .await
        .map_err(setup)?;
    tokio::spawn(async move {
        if let Ok(Err(err)) = started.task.await {
            eprintln!("demo: emulator stopped: {err}");
        }
    });
    Ok(Emulator {
        main: started.urls.main,
    })
}

struct Codes {
    milk: Vec<String>,
    blocked_beer: String,
    tobacco_pack: String,
}

async fn issue_codes<W: Write>(
    admin: &AdminClient,
    t: &mut Timeline<W>,
) -> Result<Codes, DemoError> {
    let spec = |pg: u16, count: usize| IssueSpec {
        pg,
        count,
        ..IssueSpec::default()
    };
    let milk = admin.issue(&spec(8, 4)).await?;
    t.event(format!(
        "issued 4 dairy codes, e.g. {}",
        printable(&milk[0])
    ));
    let beer = admin.issue(&spec(15, 2)).await?;
    let blocked_beer = beer[0].clone();
    admin
        .block(vec![blocked_beer.clone()], Some(vec!["RPN".into()]))
        .await?;
    t.event(format!(
        "issued 2 beer codes and blocked {} (ogvs RPN)",
        printable(&blocked_beer)
    ));
    let pack = admin
        .issue(&IssueSpec {
            mrp: Some(15_000),
            ..spec(3, 1)
        })
        .await?;
    let tobacco_pack = pack[0].clone();
    t.event(format!(
        "issued a tobacco pack with MRP 150.00 in its code: {}",
        printable(&tobacco_pack)
    ));
    let started = std::time::Instant::now();
    admin
        .issue(&IssueSpec {
            block: Some(vec![]),
            ..spec(15, BULK_BLOCKED)
        })
        .await?;
    t.event(format!(
        "issued and blocked {BULK_BLOCKED} more codes in {} ms (the list the module will sync)",
        started.elapsed().as_millis()
    ));
    Ok(Codes {
        milk,
        blocked_beer,
        tobacco_pack,
    })
}

struct RunningModule {
    url: String,
    module: Module,
}

async fn start_module(
    dir: &tempfile::TempDir,
    service_url: &str,
    stop: &CancellationToken,
) -> Result<RunningModule, DemoError> {
    let mut config = ModuleConfig::new(dir.path().join("lm"), service_url);
    // Short enough that changes made by the emulator reach the shop during the demo.
    config.poll = Poll::Interval(Duration::from_secs(2));
    let module = Module::open(config, Arc::new(SystemClock));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let url = format!(
        "http://{}",
        listener
            .local_addr()
            .map_err(|e| DemoError::Setup(e.to_string()))?
    );
    let state = Arc::new(ApiState::new(module.clone(), Auth::new(None, vec![])));
    let stopped = stop.clone();
    tokio::spawn(async move {
        if let Err(err) = run_module(state, ServeConfig::default(), listener, stopped).await {
            eprintln!("demo: module stopped: {err}");
        }
    });
    Ok(RunningModule { url, module })
}

/// Polls the module until `ready`, printing the progress of each list as it goes.
async fn watch_initialisation<W: Write>(
    module: &RunningModule,
    t: &mut Timeline<W>,
) -> Result<u64, DemoError> {
    let deadline = tokio::time::Instant::now() + READY_WITHIN;
    let mut last_line = String::new();
    loop {
        let snapshot = module.module.status();
        let lists: Vec<String> = snapshot
            .databases
            .iter()
            .map(|db| {
                let progress = db.progress.as_ref();
                let percent = progress
                    .and_then(|p| p.percent())
                    .map_or("—".into(), |p| format!("{p:.0} %"));
                let rate = progress.map_or(0.0, |p| p.docs_per_minute());
                format!(
                    "{} {} docs ({percent}, {:.1} k docs/min)",
                    db.db.name(),
                    db.doc_count,
                    rate / 1000.0
                )
            })
            .collect();
        let line = format!(
            "status {} · {}",
            snapshot.status.as_str(),
            lists.join(" · ")
        );
        if line != last_line {
            t.event(&line);
            last_line = line.clone();
        }
        if snapshot.status.as_str() == "ready" {
            let blocked = snapshot
                .databases
                .iter()
                .find(|db| db.db.name() == "blocked_cis")
                .map_or(0, |db| db.doc_count);
            return Ok(blocked);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(DemoError::Module(format!(
                "not ready after {READY_WITHIN:?}: {line}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn module_call(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, DemoError> {
    let url = format!("{base}{path}");
    let request = match body {
        Some(body) => http.post(&url).json(&body),
        None => http.get(&url),
    };
    let response = request
        .basic_auth(MODULE_LOGIN.0, Some(MODULE_LOGIN.1))
        .send()
        .await
        .map_err(|e| DemoError::Module(format!("{path}: {e}")))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| DemoError::Module(format!("{path}: {e}")))?;
    if !status.is_success() {
        return Err(DemoError::Module(format!("{path}: HTTP {status}: {text}")));
    }
    serde_json::from_str(&text).map_err(|e| DemoError::Module(format!("{path}: {e}: {text}")))
}

async fn start_till(
    dir: &tempfile::TempDir,
    info_url: &str,
    module_url: &str,
    token: &str,
) -> Result<Checker, DemoError> {
    let config = format!(
        "token = {token:?}\ninfo_url = {info_url:?}\nstate_file = {:?}\nfiscal_drive_number = \"9999078900012345\"\n\n\
         [module]\nurl = {module_url:?}\nlogin = {:?}\npassword = {:?}\nclient_id = \"till-1\"\n",
        dir.path().join("till").join("state.json"),
        MODULE_LOGIN.0,
        MODULE_LOGIN.1,
    );
    let config = TillConfig::from_toml(&config).map_err(|e| DemoError::Till(e.to_string()))?;
    Checker::new(config).map_err(|e| DemoError::Till(e.to_string()))
}

/// One check, printed as a cashier and an auditor would want to see it; the demo stops when
/// the decision or its source is not the `expected` one.
async fn check<W: Write>(
    checker: &Checker,
    km: &str,
    price: Option<u64>,
    expected: (Decision, &str),
    t: &mut Timeline<W>,
    summary: &mut Summary,
) -> Result<(), DemoError> {
    let outcome = checker
        .check(CheckRequest {
            km: km.to_owned(),
            price,
            pg: None,
            ..CheckRequest::default()
        })
        .await
        .map_err(|e| DemoError::Till(e.to_string()))?;
    summary.checks += 1;
    match outcome.source {
        till::Source::Online => summary.online += 1,
        till::Source::Offline => summary.offline += 1,
        _ => {}
    }
    if outcome.decision == Decision::Forbid {
        summary.refused += 1;
    }
    let verdict = match outcome.decision {
        Decision::Allow => "SELL",
        Decision::Forbid => "REFUSE",
        Decision::NoCheck => "NO CHECK",
    };
    t.detail(format!(
        "{verdict:<8} {} via {:?} in {} ms",
        printable(&outcome.ki),
        outcome.source,
        outcome.elapsed_ms
    ));
    for reason in &outcome.reasons {
        t.detail(format!("         case {}: {}", reason.case, reason.message));
    }
    match &outcome.tag1265 {
        Some(tag) => t.detail(format!("         tag 1265: {tag}")),
        None => t.detail("         tag 1260 left out"),
    }
    expect(outcome, expected.0, expected.1)
}

fn expect(outcome: CheckOutcome, decision: Decision, source: &str) -> Result<(), DemoError> {
    let got_source = format!("{:?}", outcome.source).to_lowercase();
    if outcome.decision == decision && got_source == source {
        Ok(())
    } else {
        Err(DemoError::Unexpected {
            expected: format!("{decision:?} from {source} for {}", outcome.ki),
            got: format!("{:?} from {got_source}", outcome.decision),
        })
    }
}

/// Sets the same fault knob on every CDN host of the emulator.
async fn fault_every_host(admin: &AdminClient, mode: &str) -> Result<(), DemoError> {
    for host in 1..=CDN_HOSTS {
        admin.fault(host, mode, None).await?;
    }
    Ok(())
}

/// The till's durable queue delivers the sale to the module, as after a real receipt.
async fn sell(checker: &Checker, dir: &tempfile::TempDir, km: &str) -> Result<(), DemoError> {
    let ki = marking::ki(km).map_err(|e| DemoError::Till(e.to_string()))?;
    let queue = SoldQueue::open(&dir.path().join("till").join("sold-queue.json"))
        .map_err(|e| DemoError::Till(e.to_string()))?;
    queue
        .enqueue(Operation::Sell, vec![ki], checker.now())
        .map_err(|e| DemoError::Till(e.to_string()))?;
    let module = checker
        .module()
        .ok_or_else(|| DemoError::Till("no module configured".into()))?;
    let delivered = queue
        .flush(module, checker.now())
        .await
        .map_err(|e| DemoError::Till(e.to_string()))?;
    if delivered == 1 {
        Ok(())
    } else {
        Err(DemoError::Unexpected {
            expected: "the sale delivered to the module".into(),
            got: format!("{delivered} delivered"),
        })
    }
}

/// A code with its GS bytes shown as `<GS>`, for the printed timeline.
fn printable(code: &str) -> String {
    code.replace(marking::GS as char, "<GS>")
}
