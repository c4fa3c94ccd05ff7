//! Every fault knob behaves as named, per host, switchable at run time; emergency mode.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Emulator, start};

async fn issued(emu: &Emulator) -> String {
    let spec = central::issue::IssueSpec {
        pg: 8,
        count: 1,
        ..Default::default()
    };
    emu.admin.issue(&spec).await.expect("issue").remove(0)
}

#[tokio::test]
async fn status_faults_hit_only_their_host_and_switch_off() {
    let emu = start(2).await;
    let code = issued(&emu).await;
    let cases = [
        ("429", 429, 429),
        ("500", 500, 500),
        ("504", 504, 504),
        ("5000", 500, 5000),
        ("203", 203, 203),
    ];
    for (mode, status, body_code) in cases {
        emu.admin.fault(1, mode, None).await.expect("fault");
        let (s, body) = emu.check(0, &code).await;
        assert_eq!(
            (s, &body["code"]),
            (status, &json!(body_code)),
            "mode {mode}"
        );
        let (s, body) = emu.get(&emu.health_url(0)).await;
        assert_eq!(
            (s, &body["code"]),
            (status, &json!(body_code)),
            "health, mode {mode}"
        );
        // The other host is untouched.
        let (s, _) = emu.check(1, &code).await;
        assert_eq!(s, 200, "host 2 during mode {mode}");
    }
    emu.admin.fault(1, "off", None).await.expect("off");
    let (s, body) = emu.check(0, &code).await;
    assert_eq!((s, &body["codes"][0]["verified"]), (200, &json!(true)));
}

/// A plain-HTTP client that gives up after `timeout`, as a till gives up on a CDN host.
fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .build()
        .expect("client")
}

// Paused time: the delays and timeouts below pass as soon as everything else is idle.
#[tokio::test(start_paused = true)]
async fn delay_and_hang_hold_the_answer_on_both_endpoints() {
    let emu = start(1).await;
    let code = issued(&emu).await;
    emu.admin
        .fault(1, "delay", Some(1800))
        .await
        .expect("delay");
    let started = tokio::time::Instant::now();
    let (s, body) = emu.get(&emu.health_url(0)).await;
    assert!(started.elapsed() >= Duration::from_millis(1800));
    assert_eq!((s, &body["avgTimeMs"]), (200, &json!(1800)));
    let started = tokio::time::Instant::now();
    let (s, body) = emu.check(0, &code).await;
    assert!(started.elapsed() >= Duration::from_millis(1800));
    assert_eq!((s, &body["codes"][0]["verified"]), (200, &json!(true)));

    emu.admin.fault(1, "hang", None).await.expect("hang");
    let hung = tokio::time::timeout(Duration::from_secs(600), emu.check(0, &code)).await;
    assert!(hung.is_err(), "a hanging host answered codes/check");
    // The guide's health-check timeout (protocol.md §1.12).
    let err = client_with_timeout(Duration::from_secs(2))
        .get(emu.health_url(0))
        .header("X-API-KEY", &emu.token)
        .send()
        .await
        .expect_err("a hanging host answered health/check");
    assert!(err.is_timeout(), "{err}");

    emu.admin.fault(1, "off", None).await.expect("off");
    assert_eq!(emu.check(0, &code).await.0, 200);
    assert_eq!(emu.get(&emu.health_url(0)).await.0, 200);
}

#[tokio::test]
async fn refuse_closes_the_listener_and_off_reopens_it() {
    let emu = start(1).await;
    let addr = emu.cdn[0].trim_start_matches("http://").to_string();
    // The admin call answers once the listener is in the new state, so no polling is needed.
    for _ in 0..3 {
        emu.admin.fault(1, "refuse", None).await.expect("refuse");
        assert!(
            tokio::net::TcpStream::connect(&addr).await.is_err(),
            "host still accepts connections"
        );
        emu.admin.fault(1, "off", None).await.expect("off");
        assert_eq!(emu.get(&emu.health_url(0)).await.0, 200, "host came back");
    }
}

#[tokio::test]
async fn emergency_answers_203_everywhere_until_switched_off() {
    let emu = start(2).await;
    let code = issued(&emu).await;
    emu.admin.emergency(true).await.expect("on");
    // The body says so too: TS PIoT clients read `{"code": 203, …}` (protocol.md §1.13).
    let emergency = |(status, body): (u16, serde_json::Value)| {
        let described = body["description"].as_str().is_some_and(|d| !d.is_empty());
        (status, body["code"].clone(), described)
    };
    let expected = (203, json!(203), true);
    let info = emu
        .get(&format!("{}/api/v4/true-api/cdn/info", emu.main))
        .await;
    assert_eq!(emergency(info), expected, "cdn/info");
    for host in 0..2 {
        let health = emu.get(&emu.health_url(host)).await;
        assert_eq!(emergency(health), expected, "health/check on host {host}");
        let check = emu.check(host, &code).await;
        assert_eq!(emergency(check), expected, "codes/check on host {host}");
    }
    emu.admin.emergency(false).await.expect("off");
    let (s, info) = emu
        .get(&format!("{}/api/v4/true-api/cdn/info", emu.main))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        info["hosts"],
        json!([{"host": emu.cdn[0]}, {"host": emu.cdn[1]}])
    );
}

#[tokio::test]
async fn bad_fault_requests_are_refused_with_a_reason() {
    let emu = start(1).await;
    let err = emu
        .admin
        .fault(2, "500", None)
        .await
        .expect_err("no host 2");
    assert!(err.to_string().contains("1..=1"), "{err}");
    let err = emu
        .admin
        .fault(1, "teapot", None)
        .await
        .expect_err("bad mode");
    assert!(err.to_string().contains("unknown fault mode"), "{err}");
    let err = emu.admin.fault(1, "delay", None).await.expect_err("no ms");
    assert!(err.to_string().contains("--ms"), "{err}");
}
