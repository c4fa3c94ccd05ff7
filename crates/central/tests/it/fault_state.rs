//! The API key is checked before any fault acts; fault knobs and emergency mode survive a restart.

use serde_json::json;

use crate::harness::{start, start_in};

#[tokio::test]
async fn an_unknown_key_gets_401_whatever_fault_is_set() {
    let emu = start(1).await;
    let modes = [
        ("delay", Some(5)),
        ("hang", None),
        ("429", None),
        ("500", None),
        ("504", None),
        ("5000", None),
        ("203", None),
    ];
    let code = "0104600439931256215Wlz0Z\u{1d}93dGVz";
    for (mode, ms) in modes {
        emu.admin.fault(1, mode, ms).await.expect("fault");
        for key in ["not-a-token", ""] {
            let check = emu
                .http
                .post(format!("{}/api/v4/true-api/codes/check", emu.cdn[0]))
                .header("X-API-KEY", key)
                .json(&json!({ "codes": [code] }))
                .send()
                .await
                .expect("codes/check");
            let health = emu
                .http
                .get(emu.health_url(0))
                .header("X-API-KEY", key)
                .send()
                .await
                .expect("health");
            for (what, response) in [("codes/check", check), ("health", health)] {
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.expect("json");
                assert_eq!(
                    (status, &body["code"]),
                    (401, &json!(401)),
                    "{what}, mode {mode}, key {key:?}"
                );
            }
        }
    }
    emu.admin.fault(1, "off", None).await.expect("off");
    emu.admin.emergency(true).await.expect("emergency");
    for url in [
        format!("{}/api/v4/true-api/cdn/info", emu.main),
        emu.health_url(0),
    ] {
        let response = emu
            .http
            .get(&url)
            .header("X-API-KEY", "not-a-token")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status().as_u16(), 401, "{url} in emergency mode");
    }
    // The issued token still sees the emergency.
    assert_eq!(emu.get(&emu.health_url(0)).await.0, 203);
}

#[tokio::test]
async fn faults_and_emergency_survive_a_restart() {
    let emu = start(3).await;
    emu.admin.fault(1, "429", None).await.expect("429");
    emu.admin.fault(2, "delay", Some(7)).await.expect("delay");
    emu.admin.fault(3, "refuse", None).await.expect("refuse");
    emu.admin.emergency(true).await.expect("emergency");
    let dir = emu.stop().await;

    let emu = start_in(dir, 3).await;
    let status = emu.admin.status().await.expect("status");
    assert_eq!(status["emergency"], json!(true));
    let faults: Vec<_> = (0..3)
        .map(|i| status["hosts"][i]["fault"].clone())
        .collect();
    assert_eq!(
        faults,
        [
            json!({"mode": "429"}),
            json!({"mode": "delay", "ms": 7}),
            json!({"mode": "refuse"})
        ]
    );
    assert_eq!(emu.get(&emu.health_url(0)).await.0, 203);
    emu.admin.emergency(false).await.expect("emergency off");
    assert_eq!(emu.get(&emu.health_url(0)).await.0, 429);
    assert_eq!(emu.get(&emu.health_url(1)).await.0, 200);
    // The refusing host closed its listener at start; switching it off re-opens it.
    let addr = emu.cdn[2].trim_start_matches("http://").to_string();
    emu.admin
        .fault(3, "refuse", None)
        .await
        .expect("still refusing");
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err());
    emu.admin.fault(3, "off", None).await.expect("off");
    assert_eq!(emu.get(&emu.health_url(2)).await.0, 200);
    emu.admin.fault(1, "off", None).await.expect("off");
    let dir = emu.stop().await;

    let emu = start_in(dir, 3).await;
    let status = emu.admin.status().await.expect("status");
    assert_eq!(status["emergency"], json!(false));
    assert_eq!(status["hosts"][0]["fault"], json!(null));
    assert_eq!(status["hosts"][2]["fault"], json!(null));
    assert_eq!(
        status["hosts"][1]["fault"],
        json!({"mode": "delay", "ms": 7})
    );
}
