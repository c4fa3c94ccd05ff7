//! The module's lifecycle (protocol.md §3.3): the checker polls `status` (30 s, 5 s after an
//! error, v1 fallback), does not ask a module that is not ready, and names 4045/4050. Paused
//! tokio time, scripted module double on 127.0.0.1.

mod doubles;

use std::sync::Arc;
use std::time::Duration;

use doubles::{Double, Reply, module_ok, module_status};
use serde_json::{Value, json};
use till::clock::TokioClock;
use till::readiness::ModuleReadiness;
use till::{CheckRequest, Checker, Decision, Source, TillConfig};

const T0: i64 = 1_795_000_000_000;
const KM: &str = "0104670540176099215'W9Um\u{1d}93dGVz";
const KI: &str = "0104670540176099215'W9Um";

struct Rig {
    checker: Checker,
    module: Double,
    _dir: tempfile::TempDir,
}

/// No CDN host answers (the only one refuses), so the module's side decides.
async fn rig(extra: &str) -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let module = doubles::module().await;
    module.always(Reply::json(200, module_ok(KI, false)));
    let refused = doubles::refused_url().await;
    let text = format!(
        "token = \"t\"\ninfo_url = \"{refused}\"\nfallback_hosts = [\"{refused}\"]\n\
         state_file = {:?}\n{extra}\n[module]\nurl = \"{}\"\nlogin = \"admin\"\npassword = \"admin\"\n",
        dir.path().join("state.json"),
        module.url
    );
    let config = TillConfig::from_toml(&text).expect("config");
    let checker =
        Checker::with_clock(config, Arc::new(TokioClock::starting_at(T0))).expect("checker");
    Rig {
        checker,
        module,
        _dir: dir,
    }
}

/// Waits (paused time, so nothing really sleeps) until the readiness satisfies `done`.
async fn wait_for(checker: &Checker, done: impl Fn(&ModuleReadiness) -> bool) -> ModuleReadiness {
    for _ in 0..1000 {
        let readiness = checker.module_readiness().expect("module configured");
        if done(&readiness) {
            return readiness;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("readiness never reached: {:?}", checker.module_readiness());
}

fn request() -> CheckRequest {
    CheckRequest {
        km: KM.into(),
        ..CheckRequest::default()
    }
}

#[tokio::test(start_paused = true)]
async fn an_initialising_module_is_not_asked_and_4045_is_named() {
    let rig = rig("").await;
    rig.module
        .status_v2(Some(Reply::json(200, module_status("initialization"))));
    rig.checker.watch_module();
    let readiness = wait_for(&rig.checker, |r| r.status.is_some()).await;
    assert_eq!(readiness.status.as_deref(), Some("initialization"));
    assert_eq!(readiness.api, Some("v2"));

    let outcome = rig.checker.check(request()).await.expect("checks");
    assert_eq!(
        (outcome.decision, outcome.source, outcome.sale_allowed),
        (Decision::NoCheck, Source::None, true)
    );
    assert_eq!(outcome.module.status, "not_ready");
    assert_eq!(outcome.reasons[0].code, "module_not_ready");
    assert_eq!(outcome.reasons[0].data["errorCode"], 4045);
    assert!(outcome.reasons[0].message.contains("4045"));
    assert!(outcome.tag1265.is_none());
    assert_eq!(rig.module.count("/cis/outCheck"), 0, "module not asked");
}

#[tokio::test(start_paused = true)]
async fn sync_error_is_4050_and_mandatory_groups_are_refused() {
    let rig = rig("[offline_mandatory]\n3 = \"2025-03-01\"").await;
    rig.module
        .status_v2(Some(Reply::json(200, module_status("sync_error"))));
    rig.checker.watch_module();
    wait_for(&rig.checker, |r| r.status.is_some()).await;

    let outcome = rig.checker.check(request()).await.expect("checks");
    assert_eq!(outcome.decision, Decision::NoCheck);
    let codes: Vec<&str> = outcome.reasons.iter().map(|r| r.code).collect();
    assert_eq!(codes, ["module_not_ready"]);
    assert_eq!(outcome.reasons[0].data["errorCode"], 4050);

    // Tobacco (3) is mandatory: no check means no sale, and the reason still names 4050.
    let tobacco = CheckRequest {
        pg: Some(3),
        ..request()
    };
    let outcome = rig.checker.check(tobacco).await.expect("checks");
    assert_eq!(
        (outcome.decision, outcome.sale_allowed),
        (Decision::Forbid, false)
    );
    let codes: Vec<&str> = outcome.reasons.iter().map(|r| r.code).collect();
    assert_eq!(codes, ["check_unavailable", "module_not_ready"]);
    assert_eq!(rig.module.count("/cis/outCheck"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_module_that_becomes_ready_is_asked_after_the_next_30_s_poll() {
    let rig = rig("").await;
    rig.module
        .status_v2(Some(Reply::json(200, module_status("initialization"))));
    let start = tokio::time::Instant::now();
    rig.checker.watch_module();
    wait_for(&rig.checker, |r| r.status.is_some()).await;
    rig.module
        .status_v2(Some(Reply::json(200, module_status("ready"))));

    tokio::time::sleep_until(start + Duration::from_secs(29)).await;
    let outcome = rig.checker.check(request()).await.expect("checks");
    assert_eq!(outcome.module.status, "not_ready", "no poll before 30 s");
    assert_eq!(rig.module.status_polls().len(), 1);

    tokio::time::sleep_until(start + Duration::from_secs(31)).await;
    assert_eq!(rig.module.status_polls().len(), 2);
    let outcome = rig.checker.check(request()).await.expect("checks");
    assert_eq!(
        (outcome.decision, outcome.source),
        (Decision::Allow, Source::Offline)
    );
    assert_eq!(rig.module.count("/cis/outCheck"), 1);
}

#[tokio::test(start_paused = true)]
async fn status_errors_are_retried_after_5_s_and_do_not_stop_checks() {
    let rig = rig("").await;
    // Neither v2 nor v1 status: every poll fails (404 twice).
    let start = tokio::time::Instant::now();
    rig.checker.watch_module();
    let readiness = wait_for(&rig.checker, |r| r.error.is_some()).await;
    assert!(readiness.status.is_none());
    assert!(readiness.error.unwrap_or_default().contains("404"));

    tokio::time::sleep_until(start + Duration::from_millis(12_000)).await;
    let polls = rig.module.status_polls();
    assert_eq!(
        polls.len(),
        6,
        "polls at 0, 5 and 10 s, v2 then v1: {polls:?}"
    );
    assert_eq!(polls[0], "/api/v2/status");
    assert_eq!(polls[1], "/api/v1/status");

    // An unknown state never keeps the module from being asked.
    let outcome = rig.checker.check(request()).await.expect("checks");
    assert_eq!(outcome.source, Source::Offline);
}

#[tokio::test(start_paused = true)]
async fn an_old_module_is_read_through_v1_status() {
    let rig = rig("").await;
    rig.module.status_v1(Some(Reply::json(
        200,
        json!({"status": "not_configured", "version": "1.0.7", "requiresDownload": true}),
    )));
    rig.checker.watch_module();
    let readiness = wait_for(&rig.checker, |r| r.status.is_some()).await;
    assert_eq!(readiness.api, Some("v1"));
    assert_eq!(readiness.refusal(), Some(4045));
    let outcome = rig.checker.check(request()).await.expect("checks");
    assert_eq!(outcome.reasons[0].data["errorCode"], 4045);
}

#[tokio::test(start_paused = true)]
async fn an_out_check_refused_with_4045_stops_asking_until_the_next_poll() {
    let rig = rig("").await;
    rig.module
        .status_v2(Some(Reply::json(200, module_status("ready"))));
    rig.checker.watch_module();
    wait_for(&rig.checker, |r| r.status.is_some()).await;
    rig.module.then(Reply::json(
        400,
        json!({"code": 400, "description": "not ready", "errorCode": 4045}),
    ));

    let first = rig.checker.check(request()).await.expect("checks");
    assert_eq!(first.module.status, "not_ready");
    let second = rig.checker.check(request()).await.expect("checks");
    assert_eq!(second.reasons[0].data["errorCode"], 4045);
    assert_eq!(
        rig.module.count("/cis/outCheck"),
        1,
        "second check did not ask"
    );

    // The next poll says `ready`: asked again.
    tokio::time::sleep(Duration::from_secs(31)).await;
    let third = rig.checker.check(request()).await.expect("checks");
    assert_eq!(third.source, Source::Offline);
    assert_eq!(rig.module.count("/cis/outCheck"), 2);
}

#[tokio::test(start_paused = true)]
async fn gateway_state_shows_the_module_state() {
    let rig = rig("").await;
    rig.module
        .status_v2(Some(Reply::json(200, module_status("initialization"))));
    let module_url = rig.module.url.clone();
    let checker = rig.checker.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(till::gateway::run_with(
        rig.checker.clone(),
        listener,
        std::future::pending(),
    ));
    wait_for(&checker, |r| r.status.is_some()).await;

    let state: Value = reqwest::get(format!("{url}/state"))
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let module = &state["module"];
    assert_eq!(module["configured"], true);
    assert_eq!(module["url"], module_url.as_str());
    assert_eq!(module["status"], "initialization");
    assert_eq!(module["api"], "v2");
    assert!(module["checkedAtMs"].as_i64().unwrap_or_default() >= T0);
}
