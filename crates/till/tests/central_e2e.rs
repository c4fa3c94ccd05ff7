//! End to end against the operator emulator (`znak central`, in-process on 127.0.0.1:0): the
//! guide's sandbox cases give the guide's outcome, CDN failover follows the fault knobs, and a
//! keg sold in parts is sold on only up to what the emulator says is left.
//! Real time: only the 2 s delay case waits, for the 1.5 s deadline.

use std::time::Duration;

use central::Config;
use central::client::AdminClient;
use central::issue::IssueSpec;
use serde_json::{Value, json};
use till::{CheckRequest, Checker, Decision, ReceiptItem, Source, TillConfig};

struct Emulator {
    main: String,
    cdn: Vec<String>,
    admin: AdminClient,
    token: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn emulator(hosts: usize) -> Emulator {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::new(dir.path().join("central"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let urls = central::start_on_loopback(config, hosts, async {
        let _ = stopped.await;
    })
    .await
    .expect("emulator")
    .urls;
    let admin = AdminClient::new(&urls.main).expect("admin");
    let token = admin.token("7700000001").await.expect("token");
    admin.sandbox().await.expect("sandbox loaded");
    Emulator {
        main: urls.main,
        cdn: urls.cdn,
        admin,
        token,
        _stop: stop,
        _dir: dir,
    }
}

/// A checker with its own state file, its CDN list fetched from the emulator.
async fn new_checker(emu: &Emulator, dir: &tempfile::TempDir, name: &str) -> Checker {
    let text = format!(
        "token = \"{}\"\ninfo_url = \"{}\"\nstate_file = {:?}\n",
        emu.token,
        emu.main,
        dir.path().join(format!("{name}.json"))
    );
    let checker = Checker::new(TillConfig::from_toml(&text).expect("config")).expect("checker");
    assert_eq!(
        checker.refresh_hosts().await.expect("cdn/info"),
        emu.cdn.len()
    );
    checker
}

fn case(n: usize) -> &'static str {
    central::sandbox::CASES[n - 1].km
}

async fn check(checker: &Checker, n: usize, price: Option<u64>) -> till::CheckOutcome {
    let request = CheckRequest {
        km: case(n).into(),
        price,
        pg: None,
        ..CheckRequest::default()
    };
    checker.check(request).await.expect("checks")
}

fn cases(outcome: &till::CheckOutcome) -> Vec<u8> {
    outcome.reasons.iter().map(|r| r.case).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_cases_with_an_answer_decide_as_the_guide_says() {
    let emu = emulator(2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let checker = new_checker(&emu, &dir, "answers").await;
    // (case, price in kopecks, the prohibition case that must be named; 0 = allowed)
    let table: &[(usize, Option<u64>, u8)] = &[
        (1, None, 1),           // utilised=false
        (2, None, 5),           // realizable=false, sold=false
        (3, Some(177_000), 0),  // tobacco in the gray zone: allowed
        (4, None, 3),           // sold
        (5, None, 4),           // blocked
        (6, None, 6),           // expired dairy
        (7, Some(190_000), 7),  // block not at its MRP 1990.00
        (8, Some(14_000), 7),   // pack not at its MRP 145.00
        (9, None, 1),           // not found
        (10, None, 2),          // verification failed
        (16, Some(19_900), 9),  // NCP below its minimum 200.00
        (17, Some(19_900), 10), // alternative tobacco below its minimum
        (18, Some(199_000), 8), // block below ЕМЦ × 10 packs
        (19, Some(19_900), 8),  // pack at MRP 199.00, below ЕМЦ 200.00
        (20, None, 12),         // dairy, VETRF
        (21, None, 11),         // water, RD
    ];
    for &(n, price, expected) in table {
        let outcome = check(&checker, n, price).await;
        let report = serde_json::to_string(&outcome).unwrap_or_default();
        assert_eq!(outcome.source, Source::Online, "case {n}: {report}");
        assert!(outcome.tag1265.is_some(), "case {n}");
        if expected == 0 {
            assert_eq!(outcome.decision, Decision::Allow, "case {n}: {report}");
        } else {
            assert_eq!(outcome.decision, Decision::Forbid, "case {n}: {report}");
            assert!(cases(&outcome).contains(&expected), "case {n}: {report}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_fault_cases_switch_hosts_or_checks_off() {
    let emu = emulator(2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    for n in [11, 13] {
        let checker = new_checker(&emu, &dir, &format!("case{n}")).await;
        let outcome = check(&checker, n, None).await;
        assert_eq!(
            (outcome.decision, outcome.source),
            (Decision::NoCheck, Source::None),
            "case {n}"
        );
        let state = checker.state();
        assert!(
            state.hosts.iter().all(|h| h.blocked_until_ms.is_some()),
            "case {n}: every host tried and blocked"
        );
    }
    let checker = new_checker(&emu, &dir, "case12").await;
    let outcome = check(&checker, 12, None).await;
    assert_eq!(outcome.source, Source::Emergency);
    assert_eq!(outcome.tag1265, None);

    let checker = new_checker(&emu, &dir, "case15").await;
    let outcome = check(&checker, 15, None).await;
    assert_eq!(outcome.source, Source::None);
    assert!(
        outcome
            .online
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("5000")
    );
    assert!(
        checker
            .state()
            .hosts
            .iter()
            .all(|h| h.blocked_until_ms.is_none())
    );

    let checker = new_checker(&emu, &dir, "case14").await;
    let started = tokio::time::Instant::now();
    let outcome = check(&checker, 14, None).await;
    assert_eq!(outcome.online.status, "timeout");
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "the deadline, not the 2 s delay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_follows_the_fault_knobs() {
    let emu = emulator(3).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let checker = new_checker(&emu, &dir, "failover").await;
    let first = checker.state().hosts[0].url.clone();
    let index = emu
        .cdn
        .iter()
        .position(|u| *u == first)
        .expect("known host")
        + 1;
    emu.admin
        .fault(index, "refuse", None)
        .await
        .expect("fault set");
    let outcome = check(&checker, 4, None).await;
    assert_eq!(outcome.source, Source::Online);
    assert_ne!(outcome.online.host.as_deref(), Some(first.as_str()));
    let state = checker.state();
    assert!(
        state.hosts[0].blocked_until_ms.is_some(),
        "the refused host is blocked"
    );

    emu.admin
        .fault(index, "off", None)
        .await
        .expect("fault off");
    emu.admin.emergency(true).await.expect("emergency on");
    let outcome = check(&checker, 4, None).await;
    assert_eq!(outcome.source, Source::Emergency);
    emu.admin.emergency(false).await.expect("emergency off");
    let outcome = check(&checker, 4, None).await;
    assert_eq!(
        outcome.source,
        Source::Online,
        "a normal answer ends emergency mode"
    );
    let answer: &Value = outcome.online.answer.as_ref().expect("raw answer");
    assert!(answer["reqId"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keg_sold_in_parts_is_sold_on_only_up_to_what_is_left() {
    let emu = emulator(1).await;
    let keg = IssueSpec {
        pg: marking::group::BEER,
        count: 1,
        inner_units: Some(50_000),
        ..IssueSpec::default()
    };
    let keg = emu.admin.issue(&keg).await.expect("keg issued").remove(0);
    // 49 l of the 50 l keg were poured before (other receipts): codes/check says so.
    emu.admin
        .sell_units(vec![keg.clone()], Some(49_000))
        .await
        .expect("part sold");
    let dir = tempfile::tempdir().expect("tempdir");
    let checker = new_checker(&emu, &dir, "keg").await;
    let pour = |quantity, receipt: &[u64]| CheckRequest {
        km: keg.clone(),
        quantity: Some(quantity),
        receipt: receipt
            .iter()
            .map(|&q| ReceiptItem {
                km: keg.clone(),
                quantity: Some(q),
            })
            .collect(),
        ..CheckRequest::default()
    };

    // 1 000 ml left, 300 of them already on this receipt.
    let outcome = checker.check(pour(700, &[300])).await.expect("checks");
    let report = serde_json::to_string(&outcome).unwrap_or_default();
    assert_eq!(
        (outcome.decision, outcome.source),
        (Decision::Allow, Source::Online),
        "{report}"
    );
    let outcome = checker.check(pour(701, &[300])).await.expect("checks");
    let report = serde_json::to_string(&outcome).unwrap_or_default();
    assert_eq!(outcome.decision, Decision::Forbid, "{report}");
    assert_eq!(outcome.reasons.len(), 1, "{report}");
    assert_eq!(outcome.reasons[0].code, "partial_sale_exceeds_rest");
    let data = &outcome.reasons[0].data;
    assert_eq!(
        [
            &data["innerUnitCount"],
            &data["soldUnitCount"],
            &data["inReceipt"],
            &data["rest"]
        ],
        [&json!(50_000), &json!(49_000), &json!(300), &json!(700)]
    );

    // The last litre poured elsewhere: the keg is sold, no part of it may be sold again.
    emu.admin
        .sell_units(vec![keg.clone()], Some(1_000))
        .await
        .expect("rest sold");
    let outcome = checker.check(pour(1, &[])).await.expect("checks");
    let report = serde_json::to_string(&outcome).unwrap_or_default();
    assert_eq!(outcome.decision, Decision::Forbid, "{report}");
    assert!(cases(&outcome).contains(&3), "sold: {report}");
}

mod doubles;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_cut_mid_session_gives_offline_decisions_and_module_sold_wins() {
    let emu = emulator(1).await;
    let module = doubles::module().await;
    let ki = marking::ki(case(5)).expect("ki");
    module.always(doubles::Reply::json(200, doubles::module_ok(&ki, false)));
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "token = \"{}\"\ninfo_url = \"{}\"\nstate_file = {:?}\n[module]\nurl = \"{}\"\n",
        emu.token,
        emu.main,
        dir.path().join("cut.json"),
        module.url
    );
    let checker = Checker::new(TillConfig::from_toml(&text).expect("config")).expect("checker");
    checker.refresh_hosts().await.expect("cdn/info");

    // Case 5 is blocked online; the module (double) knows nothing against it.
    let online = check(&checker, 5, None).await;
    assert_eq!(
        (online.decision, online.source),
        (Decision::Forbid, Source::Online)
    );
    emu.admin.fault(1, "refuse", None).await.expect("link cut");
    let offline = check(&checker, 5, None).await;
    assert_eq!(
        (offline.decision, offline.source),
        (Decision::Allow, Source::Offline)
    );
    let tag = offline.tag1265.as_deref().unwrap_or_default();
    assert!(tag.contains("&Inst=") && tag.contains("&Ver="), "{tag}");

    // Link back, module says sold: the module wins over the online answer.
    emu.admin.fault(1, "off", None).await.expect("link back");
    let ki3 = marking::ki(case(3)).expect("ki");
    module.always(doubles::Reply::json(200, doubles::module_ok(&ki3, true)));
    // Case 3 alone is allowed online (gray zone); the module's sold DB forbids it.
    let request = CheckRequest {
        km: case(3).into(),
        price: Some(177_000),
        pg: None,
        ..CheckRequest::default()
    };
    let outcome = checker.check(request).await.expect("checks");
    assert_eq!(outcome.source, Source::Online);
    assert_eq!(outcome.decision, Decision::Forbid);
    assert_eq!(outcome.reasons[0].code, "repeat_sale");
}
