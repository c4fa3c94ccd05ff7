//! The race of protocol.md §2.1 and the CDN rules of §1.5 over real sockets, with scripted
//! doubles on 127.0.0.1 and tokio's clock paused (the deadline is exact, nothing sleeps).

mod doubles;

use std::sync::Arc;
use std::time::Duration;

use doubles::{Double, OFFLINE_TAG, ONLINE_TAG, Reply, module_ok, online_ok};
use serde_json::json;
use till::cdn::BLOCK_MS;
use till::clock::TokioClock;
use till::shared_state::SharedState;
use till::{CheckRequest, Checker, Decision, Source, TillConfig};

const T0: i64 = 1_795_000_000_000;
const KM: &str = "0104670540176099215'W9Um\u{1d}93dGVz";
const KI: &str = "0104670540176099215'W9Um";

struct Rig {
    checker: Checker,
    /// The first CDN host double (when the rig made one).
    cdn: Double,
    /// The module double (when the rig made one).
    module: Double,
    _dir: tempfile::TempDir,
}

/// Everything a race test sets up, in one place.
#[derive(Default)]
struct Setup<'a> {
    /// `cdn/info` URL; `None`: one where nothing listens.
    info: Option<String>,
    /// The CDN list, in this order, freshly measured; `None`: leave the state file empty.
    hosts: Option<Vec<String>>,
    /// What a CDN host double answers; it is put first in `hosts`.
    online: Option<Reply>,
    /// What a module double answers; or `module_url` for another module.
    module: Option<Reply>,
    module_url: Option<String>,
    /// More config lines.
    extra: &'a str,
}

async fn rig(setup: Setup<'_>) -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let state_file = dir.path().join("state.json");
    let info = match setup.info {
        Some(url) => url,
        None => doubles::refused_url().await,
    };
    let cdn = Double::default();
    let mut hosts = setup.hosts;
    let cdn = match setup.online {
        Some(reply) => {
            let cdn = doubles::cdn_host().await;
            cdn.always(reply);
            hosts
                .get_or_insert_with(Vec::new)
                .insert(0, cdn.url.clone());
            cdn
        }
        None => cdn,
    };
    let (module, module_url) = match (setup.module, setup.module_url) {
        (Some(reply), _) => {
            let module = doubles::module().await;
            module.always(reply);
            let url = module.url.clone();
            (module, Some(url))
        }
        (None, url) => (Double::default(), url),
    };
    let module_section = module_url
        .map(|url| format!("[module]\nurl = \"{url}\"\nlogin = \"admin\"\npassword = \"admin\"\n"))
        .unwrap_or_default();
    let text = format!(
        "token = \"12345678-1234-1234-1234-123456789012\"\ninfo_url = \"{info}\"\n\
         state_file = {state_file:?}\nfiscal_drive_number = \"1234567890123456\"\n\
         time_zone = 2\n{}\n{module_section}",
        setup.extra
    );
    let config = TillConfig::from_toml(&text).expect("config");
    if let Some(hosts) = hosts {
        let state = SharedState::open(&config.state_file).expect("state");
        let measured: Vec<_> = hosts
            .into_iter()
            .enumerate()
            .map(|(i, h)| (h, Some(i as u64 + 1)))
            .collect();
        state.update(move |s| s.apply_refresh(measured.clone(), T0, 0));
        state.flush().expect("seeded");
    }
    let checker =
        Checker::with_clock(config, Arc::new(TokioClock::starting_at(T0))).expect("checker");
    Rig {
        checker,
        cdn,
        module,
        _dir: dir,
    }
}

/// One CDN host double answering `online` and a module double answering `module`.
async fn one_host(online: Reply, module: Option<Reply>) -> Rig {
    rig(Setup {
        online: Some(online),
        module,
        ..Setup::default()
    })
    .await
}

fn module_fine() -> Option<Reply> {
    Some(Reply::json(200, module_ok(KI, false)))
}

fn request(price: Option<u64>) -> CheckRequest {
    CheckRequest {
        km: KM.into(),
        price,
        pg: None,
        ..CheckRequest::default()
    }
}

#[tokio::test(start_paused = true)]
async fn online_healthy_decides_online_with_the_online_tag() {
    let rig = one_host(Reply::json(200, online_ok(KM, 8)), module_fine()).await;

    let outcome = rig
        .checker
        .check(request(Some(10000)))
        .await
        .expect("checks");
    assert_eq!(outcome.decision, Decision::Allow);
    assert_eq!(outcome.source, Source::Online);
    assert_eq!(outcome.tag1265.as_deref(), Some(ONLINE_TAG));
    assert_eq!(outcome.pg, Some(8));
    assert!(outcome.elapsed_ms < 1500);

    let (_, headers, body) = &rig.cdn.requests()[0];
    assert_eq!(headers["x-api-key"], "12345678-1234-1234-1234-123456789012");
    assert_eq!(
        body,
        &json!({"codes": [KM], "fiscalDriveNumber": "1234567890123456", "timeZone": 2})
    );
    let (path, headers, body) = &rig.module.requests()[0];
    assert_eq!(path, "/api/v2/cis/outCheck");
    assert_eq!(headers["authorization"], "Basic YWRtaW46YWRtaW4=");
    assert_eq!(headers["x-clientid"], "1234567890123456");
    assert_eq!(body, &json!({"cis_list": [{"cis": KI}]}));
}

#[tokio::test(start_paused = true)]
async fn module_sold_forbids_over_an_online_ok() {
    let sold = Some(Reply::json(200, module_ok(KI, true)));
    let rig = one_host(Reply::json(200, online_ok(KM, 8)), sold).await;

    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(outcome.decision, Decision::Forbid);
    assert_eq!(outcome.source, Source::Online);
    assert_eq!(outcome.reasons[0].code, "repeat_sale");
    assert_eq!(outcome.reasons[0].case, 3);
}

#[tokio::test(start_paused = true)]
async fn online_refused_decides_on_the_module_and_blocks_the_host() {
    let rig = rig(Setup {
        hosts: Some(vec![doubles::refused_url().await]),
        module: module_fine(),
        ..Setup::default()
    })
    .await;

    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(outcome.source, Source::Offline);
    assert_eq!(outcome.decision, Decision::Allow);
    assert_eq!(outcome.tag1265.as_deref(), Some(OFFLINE_TAG));
    assert!(
        outcome.elapsed_ms < 1500,
        "failed fast, did not wait for the deadline"
    );
    assert_eq!(outcome.online.status, "failed");
    let state = rig.checker.state();
    assert_eq!(
        state.hosts[0].blocked_until_ms.map(|t| t >= T0 + BLOCK_MS),
        Some(true)
    );
}

#[tokio::test(start_paused = true)]
async fn refused_checks_keep_the_state_file_quiet() {
    let rig = rig(Setup {
        hosts: Some(vec![doubles::refused_url().await]),
        module: module_fine(),
        ..Setup::default()
    })
    .await;
    for _ in 0..20 {
        let outcome = rig.checker.check(request(None)).await.expect("checks");
        assert_eq!(outcome.source, Source::Offline);
    }
    rig.checker.flush_state().expect("flushes");
    // Block, clear, block again … all in memory; the file gets a few coalesced writes, not
    // several per check.
    let writes = rig.checker.shared_state().writes();
    assert!(writes <= 10, "{writes} writes for 20 refused checks");
    let file = SharedState::open(&rig.checker.config().state_file)
        .expect("state")
        .read();
    assert_eq!(
        file,
        rig.checker.state(),
        "the file caught up with the view"
    );
}

#[tokio::test(start_paused = true)]
async fn online_hanging_waits_exactly_the_deadline_and_three_misses_block() {
    let rig = one_host(Reply::hang(), module_fine()).await;

    for round in 1..=3 {
        let outcome = rig.checker.check(request(None)).await.expect("checks");
        assert_eq!(outcome.source, Source::Offline, "round {round}");
        assert_eq!(outcome.elapsed_ms, 1500, "round {round}");
        assert_eq!(outcome.online.status, "timeout");
        let host = &rig.checker.state().hosts[0];
        assert_eq!(host.blocked_until_ms.is_some(), round == 3, "round {round}");
    }
}

#[tokio::test(start_paused = true)]
async fn slow_online_answer_within_the_deadline_still_wins() {
    let slow = Reply::json(200, online_ok(KM, 8)).after(Duration::from_millis(1400));
    let rig = one_host(slow, module_fine()).await;
    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(outcome.source, Source::Online);
    assert_eq!(outcome.elapsed_ms, 1400);
}

#[tokio::test(start_paused = true)]
async fn server_error_twice_blocks_and_fails_over_to_the_next_host() {
    let second = doubles::cdn_host().await;
    second.always(Reply::json(200, online_ok(KM, 8)));
    let rig = rig(Setup {
        online: Some(Reply::json(
            500,
            json!({"code": 500, "description": "boom"}),
        )),
        hosts: Some(vec![second.url.clone()]),
        ..Setup::default()
    })
    .await;

    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(outcome.source, Source::Online);
    assert_eq!(outcome.online.host.as_deref(), Some(second.url.as_str()));
    assert_eq!(
        rig.cdn.count("codes/check"),
        2,
        "one repeat on the same host"
    );
    let state = rig.checker.state();
    assert!(state.hosts[0].blocked_until_ms.is_some());
    assert!(state.hosts[1].blocked_until_ms.is_none());
    // The next check goes straight to the second host.
    rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(rig.cdn.count("codes/check"), 2);
}

#[tokio::test(start_paused = true)]
async fn code_5000_retries_once_without_blacklisting() {
    let external = json!({"code": 5000, "description": "string", "codes": []});
    let rig = one_host(Reply::json(500, external), module_fine()).await;

    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(rig.cdn.count("codes/check"), 2);
    assert_eq!(outcome.source, Source::Offline);
    let error = outcome.online.error.unwrap_or_default();
    assert!(error.contains("5000"), "{error}");
    assert!(rig.checker.state().hosts[0].blocked_until_ms.is_none());
}

#[tokio::test(start_paused = true)]
async fn http_203_switches_checks_off_until_a_normal_answer() {
    let sold = Some(Reply::json(200, module_ok(KI, true)));
    let rig = one_host(Reply::json(200, online_ok(KM, 8)), sold).await;
    rig.cdn.then(Reply::json(203, json!({})));
    rig.cdn.then(Reply::hang());

    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(
        (outcome.decision, outcome.source),
        (Decision::NoCheck, Source::Emergency)
    );
    assert!(outcome.sale_allowed);
    assert_eq!(outcome.tag1265, None);
    rig.checker.flush_state().expect("flushes");
    let file = SharedState::open(&rig.checker.config().state_file).expect("state");
    assert!(file.read().emergency.is_some(), "persisted");
    // Still emergency while the service does not answer normally, even with a module answer.
    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(outcome.source, Source::Emergency);
    // A normal answer ends it.
    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(outcome.source, Source::Online);
    assert!(rig.checker.state().emergency.is_none());
}

#[tokio::test(start_paused = true)]
async fn announced_emergency_end_keeps_checks_off_for_three_days() {
    let cdn = doubles::cdn_host().await;
    cdn.always(Reply::json(200, online_ok(KM, 8)));
    // T0 is 2026-11-18T…Z; the end was announced one day earlier.
    let rig = rig(Setup {
        hosts: Some(vec![cdn.url.clone()]),
        extra: "emergency_end = \"2026-11-17T00:00:00Z\"",
        ..Setup::default()
    })
    .await;
    rig.checker.shared_state().update(|s| s.enter_emergency(T0));
    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(outcome.source, Source::Emergency);
    assert_eq!(
        cdn.count("codes/check"),
        0,
        "no request while checks are off"
    );
}

#[tokio::test(start_paused = true)]
async fn token_rejected_is_named_and_the_module_decides() {
    let unauthorised = json!({"code": 401, "description": "unauthorised"});
    let rig = one_host(Reply::json(401, unauthorised), module_fine()).await;
    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(outcome.source, Source::Offline);
    let error = outcome.online.error.unwrap_or_default();
    assert!(error.starts_with("token rejected"), "{error}");
    assert!(rig.checker.state().hosts[0].blocked_until_ms.is_none());
}

#[tokio::test(start_paused = true)]
async fn nothing_answers_no_check_unless_mandatory() {
    let module = doubles::refused_url().await;
    let no_answer = |extra| Setup {
        online: Some(Reply::hang()),
        module_url: Some(module.clone()),
        extra,
        ..Setup::default()
    };
    let rig = rig(no_answer("")).await;
    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(
        (outcome.decision, outcome.source),
        (Decision::NoCheck, Source::None)
    );
    assert!(outcome.sale_allowed);
    assert_eq!(outcome.tag1265, None);
    assert!(
        outcome.notes[0].contains("local module unreachable"),
        "{:?}",
        outcome.notes
    );

    let strict = self::rig(no_answer("[offline_mandatory]\n8 = \"2025-03-01\"")).await;
    let outcome = strict
        .checker
        .check(CheckRequest {
            km: KM.into(),
            price: None,
            pg: Some(8),
            ..CheckRequest::default()
        })
        .await
        .expect("checks");
    assert_eq!(outcome.decision, Decision::Forbid);
    assert!(!outcome.sale_allowed);
    assert_eq!(outcome.reasons[0].code, "check_unavailable");
    assert!(outcome.reasons[0].message.contains("since 2025-03-01"));
}

#[tokio::test(start_paused = true)]
async fn old_module_gets_v1_and_not_ready_is_named() {
    let module = doubles::module().await;
    module.then(Reply::json(
        404,
        json!({"code": 404, "description": "no such method"}),
    ));
    module.then(Reply::json(
        200,
        json!({"code": 0, "description": "ok",
        "codes": [{"cis": KI, "gtin": "04670540176099", "isBlocked": true, "isGreyGtin": false}],
        "inst": "84c4d96a-1c44-4660-a1a2-1b0220f72d07",
        "reqId": "36a8eed9-b8f9-899b-5cd0-b2114b102dc6", "reqTimestamp": 1748622685213_i64,
        "version": "7312a9ab-e26d-476d-848f-4d18030eb5d3"}),
    ));
    module.then(Reply::json(
        400,
        json!({"code": 400, "description": "not ready", "errorCode": 4045}),
    ));
    let rig = rig(Setup {
        online: Some(Reply::hang()),
        module_url: Some(module.url.clone()),
        ..Setup::default()
    })
    .await;

    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(
        (outcome.decision, outcome.source),
        (Decision::Forbid, Source::Offline)
    );
    assert_eq!(outcome.reasons[0].case, 4);
    assert!(
        outcome
            .tag1265
            .as_deref()
            .unwrap_or_default()
            .contains("&Ver=7312a9ab")
    );
    let paths: Vec<String> = module.requests().into_iter().map(|r| r.0).collect();
    assert_eq!(paths, ["/api/v2/cis/outCheck", "/api/v1/cis/outCheck"]);
    assert_eq!(module.requests()[1].2, json!({"cis_list": [KI]}));

    let outcome = rig.checker.check(request(None)).await.expect("checks");
    assert_eq!(outcome.source, Source::None);
    let error = outcome.module.error.unwrap_or_default();
    assert!(error.contains("4045"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_an_error_not_a_decision() {
    let rig = rig(Setup {
        hosts: Some(vec!["http://127.0.0.1:9".into()]),
        ..Setup::default()
    })
    .await;
    let err = rig
        .checker
        .check(CheckRequest {
            km: "hello".into(),
            ..Default::default()
        })
        .await;
    assert!(err.is_err());
    let err = rig
        .checker
        .check(CheckRequest {
            km: KM.into(),
            price: None,
            pg: Some(7),
            ..CheckRequest::default()
        })
        .await;
    assert_eq!(
        err.err().map(|e| e.to_string()).as_deref(),
        Some("unknown product group 7")
    );
}

#[tokio::test(start_paused = true)]
async fn refresh_fetches_the_list_and_ranks_by_our_own_measurement() {
    let one = doubles::cdn_host().await;
    let two = doubles::cdn_host().await;
    let info = doubles::info_host(vec![one.url.clone(), two.url.clone()]).await;
    let rig = rig(Setup {
        info: Some(info),
        ..Setup::default()
    })
    .await;
    assert_eq!(rig.checker.refresh_hosts().await.expect("refreshes"), 2);
    let state = rig.checker.state();
    let mut urls: Vec<&str> = state.hosts.iter().map(|h| h.url.as_str()).collect();
    urls.sort_unstable();
    let mut expected = [one.url.as_str(), two.url.as_str()];
    expected.sort_unstable();
    assert_eq!(urls, expected);
    assert!(state.hosts.iter().all(|h| h.latency_ms.is_some()));
    assert_eq!(state.fetched_at_ms, Some(T0));
    let next = state.next_refresh_ms.expect("scheduled") - T0;
    assert!((6 * 3_600_000..=6 * 3_600_000 + 600_000).contains(&next));
}

#[tokio::test(start_paused = true)]
async fn failed_refresh_keeps_the_fallback_list() {
    let rig = rig(Setup {
        extra: "fallback_hosts = [\"http://127.0.0.1:9\"]",
        ..Setup::default()
    })
    .await;
    assert!(rig.checker.refresh_hosts().await.is_err());
    let state = rig.checker.state();
    assert_eq!(state.hosts[0].url, "http://127.0.0.1:9");
    assert_eq!(state.fetched_at_ms, None);
    assert_eq!(
        state.next_refresh_ms,
        Some(T0 + till::cdn::REFRESH_RETRY_MS)
    );
}
