//! End to end with the real local module (`lm`, its sync engine and API) fed by the real
//! operator emulator (`central`), all in-process on loopback: a link cut gives offline
//! decisions with the module's `Inst`/`Ver` in tag 1265, and a sale registered through the
//! durable queue makes the module refuse the code again, over an online "ok".

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use central::Config;
use central::client::AdminClient;
use lm::api::{ApiState, Auth, ServeConfig, run_module};
use lm::{ManualClock, Module, ModuleConfig};
use till::queue::{Operation, SoldQueue};
use till::{CheckRequest, Checker, Decision, Source, TillConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

fn case(n: usize) -> &'static str {
    central::sandbox::CASES[n - 1].km
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_cut_and_repeat_sale_with_the_real_module() {
    let dir = tempfile::tempdir().expect("tempdir");
    till::online::install_crypto();
    // The operator: one CDN host, the guide's sandbox codes and lists.
    let config = Config::new(dir.path().join("central"));
    let urls = central::start_on_loopback(config, 1, std::future::pending())
        .await
        .expect("emulator")
        .urls;
    let admin = AdminClient::new(&urls.main).expect("admin");
    let token = admin.token("7700000001").await.expect("token");
    admin.sandbox().await.expect("sandbox");

    // The module: initialised with the token, synced until ready.
    let module_config = ModuleConfig::new(dir.path().join("lm"), &urls.main);
    let module = Module::open(module_config, ManualClock::at(now_ms()));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let module_url = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let state = Arc::new(ApiState::new(module, Auth::new(None, vec![])));
    tokio::spawn(run_module(
        state,
        ServeConfig::default(),
        listener,
        shutdown.clone(),
    ));
    let http = reqwest::Client::new();
    let init = http
        .post(format!("{module_url}/api/v2/init"))
        .basic_auth("admin", Some("admin"))
        .json(&serde_json::json!({"token": token}))
        .send()
        .await
        .expect("init sent");
    assert!(init.status().is_success(), "init: {}", init.status());

    // The till.
    let text = format!(
        "token = \"{token}\"\ninfo_url = \"{}\"\nstate_file = {:?}\n\
         [module]\nurl = \"{module_url}\"\nlogin = \"admin\"\npassword = \"admin\"\n",
        urls.main,
        dir.path().join("till.json")
    );
    let config = TillConfig::from_toml(&text).expect("config");
    let queue = SoldQueue::open(&config.queue_path()).expect("queue");
    let checker = Checker::new(config).expect("checker");
    checker.refresh_hosts().await.expect("cdn/info");
    let module = checker.module().expect("module configured");
    let mut ready = false;
    for _ in 0..400 {
        if module
            .status()
            .await
            .is_ok_and(|s| s.status == protocol::lm::ModuleState::Ready)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "module reached ready");
    let check = |n: usize, price: Option<u64>| {
        let checker = checker.clone();
        async move {
            checker
                .check(CheckRequest {
                    km: case(n).into(),
                    price,
                    pg: None,
                    ..CheckRequest::default()
                })
                .await
                .expect("checks")
        }
    };

    // Online: case 5 is blocked.
    let outcome = check(5, None).await;
    assert_eq!(
        (outcome.decision, outcome.source),
        (Decision::Forbid, Source::Online)
    );

    // Link cut: the module's synced block list decides, tag 1265 carries Inst and Ver.
    admin.fault(1, "refuse", None).await.expect("link cut");
    let outcome = check(5, None).await;
    assert_eq!(
        (outcome.decision, outcome.source),
        (Decision::Forbid, Source::Offline)
    );
    assert_eq!(outcome.reasons[0].case, 4);
    let status = module.status().await.expect("status");
    let tag = outcome.tag1265.clone().unwrap_or_default();
    assert!(
        tag.contains(&format!("&Inst={}&Ver=", status.inst)),
        "{tag}"
    );
    let allowed = check(3, Some(177_000)).await;
    assert_eq!(
        (allowed.decision, allowed.source),
        (Decision::Allow, Source::Offline)
    );

    // The sale of case 3 goes to the module through the durable queue …
    let ki = marking::ki(case(3)).expect("ki");
    queue
        .enqueue(Operation::Sell, vec![ki], checker.now())
        .expect("queued");
    assert_eq!(
        queue.flush(module, checker.now()).await.expect("flushed"),
        1
    );
    // … so offline it is a repeat sale,
    let outcome = check(3, Some(177_000)).await;
    assert_eq!(
        (outcome.decision, outcome.source),
        (Decision::Forbid, Source::Offline)
    );
    assert_eq!(outcome.reasons[0].code, "repeat_sale");
    // and online too, although the operator still answers "ok" for it.
    admin.fault(1, "off", None).await.expect("link back");
    // The emulator reopens the host's listener in the background: wait until it accepts.
    let cdn_addr = urls.cdn[0].trim_start_matches("http://").to_owned();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&cdn_addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let outcome = check(3, Some(177_000)).await;
    assert_eq!(
        (outcome.decision, outcome.source),
        (Decision::Forbid, Source::Online)
    );
    assert_eq!(outcome.reasons[0].code, "repeat_sale");
    shutdown.cancel();
}
