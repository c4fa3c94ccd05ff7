//! The admin page's routes over real sockets: the page and its assets behind Basic auth, the
//! overview, the sold DB export/import round trip on the real store, the credentials change.

use std::sync::Arc;
use std::time::Duration;

use lm::api::{ServiceConfig, StoredCredentials, run};
use lm::{Clock, ModuleConfig, SystemClock};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::{FAST, admin, basic, http_client, json_of, ki, start_emulator, start_lm};

const DAY_MS: u64 = 24 * 3600 * 1000;

#[tokio::test]
async fn the_page_and_its_assets_are_served_behind_the_login_and_load_nothing_from_elsewhere() {
    let emulator = start_emulator().await;
    let lm = start_lm(&emulator.url, FAST).await;
    let anonymous = lm.http.get(format!("{}/", lm.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let mut assets = String::new();
    for (path, kind) in [
        ("/", "text/html"),
        ("/admin/admin.js", "text/javascript"),
        ("/admin/admin.css", "text/css"),
    ] {
        let response = lm
            .http
            .get(format!("{}{path}", lm.base))
            .header("Authorization", admin())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("default-src 'self'"), "{policy}");
        assets.push_str(&response.text().await.unwrap());
    }
    assert!(assets.contains("/admin/admin.js") && assets.contains("/api/v2/init"));
    for foreign in ["http://", "https://", "src=\"//", "href=\"//", "url("] {
        assert!(!assets.contains(foreign), "the page refers to {foreign}");
    }
    let (status, overview) = lm.get("/admin/api/overview").await;
    assert_eq!(status, 200);
    assert_eq!(overview["state"], "not_configured");
    assert_eq!(overview["defaultLogin"], true);
}

async fn upload(lm: &crate::support::Lm, body: String, content_type: &str) -> (u16, Value) {
    let response = lm
        .http
        .post(format!("{}/admin/api/sold/import", lm.base))
        .header("Authorization", admin())
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    json_of(response).await
}

async fn download(lm: &crate::support::Lm, format: &str) -> (String, String) {
    let response = lm
        .http
        .get(format!("{}/admin/api/sold/export?format={format}", lm.base))
        .header("Authorization", admin())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    (disposition, response.text().await.unwrap())
}

#[tokio::test]
async fn the_sold_db_round_trips_through_json_and_csv_exports_with_its_sale_times() {
    let emulator = start_emulator().await;
    let lm = start_lm(&emulator.url, FAST).await;
    lm.init(&emulator.token, false).await;
    let sold = [ki(21, "5Ba,ck1"), ki(21, "5Ba\"ck2"), ki(21, "5Back03")];
    let (status, _) = lm.post("/api/v2/cis/sell", json!({"cis_list": sold})).await;
    assert_eq!(status, 201);
    let sold_at = lm.clock.now_ms();

    let (disposition, json_export) = download(&lm, "json").await;
    assert!(disposition.starts_with("attachment;") && disposition.contains(".json"));
    let export: Value = serde_json::from_str(&json_export).unwrap();
    assert_eq!(export["format"], "znak-sold/1");
    assert_eq!(export["inn"], "7700000001");
    let entries = export["sold"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(
        entries.iter().all(|e| e["soldAt"] == sold_at),
        "{json_export}"
    );
    let (_, csv_export) = download(&lm, "csv").await;
    assert_eq!(csv_export.lines().count(), 4, "{csv_export}");
    assert!(csv_export.starts_with("ki,sold_at_ms\r\n"));

    // Restore into an emptied sold DB, a day later: the original sale times come back.
    lm.post("/api/v2/cis/return", json!({"cis_list": sold}))
        .await;
    lm.clock.advance_ms(DAY_MS);
    let (status, outcome) = upload(&lm, csv_export.clone(), "text/csv").await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome, json!({"added": 3, "present": 0, "expired": 0}));
    let (status, page) = lm.get("/admin/api/sold?limit=10").await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 3);
    assert!(
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["soldAt"] == sold_at)
    );
    assert_eq!(lm.check(&sold[0], None).await["sold"], true);
    let (_, again) = upload(&lm, json_export, "application/json").await;
    assert_eq!(again, json!({"added": 0, "present": 3, "expired": 0}));

    // Validated whole: one bad entry and nothing is written.
    let now = lm.clock.now_ms();
    let fresh = ki(22, "5FrEsh1");
    let bad = json!({"sold": [{"ki": fresh, "soldAt": now}, {"ki": "not a code", "soldAt": now}]});
    let (status, body) = upload(&lm, bad.to_string(), "application/json").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["description"].as_str().unwrap().contains("entry 2"),
        "{body}"
    );
    let future = json!({"sold": [{"ki": fresh, "soldAt": now + 3 * DAY_MS}]});
    let (status, body) = upload(&lm, future.to_string(), "application/json").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = upload(
        &lm,
        format!("ki,sold_at_ms\n{fresh},yesterday\n"),
        "text/csv",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["description"].as_str().unwrap().contains("line 2"),
        "{body}"
    );
    assert_eq!(lm.get("/admin/api/sold").await.1["total"], 3);

    // Past the 30-day retention: counted, not written. A cis/sold page: sold now.
    let old = json!({"sold": [{"ki": fresh, "soldAt": now - 31 * DAY_MS}]});
    let (_, outcome) = upload(&lm, old.to_string(), "application/json").await;
    assert_eq!(outcome, json!({"added": 0, "present": 0, "expired": 1}));
    let page_format = json!({"total_count": 1, "cis_list": [fresh]});
    let (_, outcome) = upload(&lm, page_format.to_string(), "application/json").await;
    assert_eq!(outcome, json!({"added": 1, "present": 0, "expired": 0}));

    // The overview shows the till that checked, with its recent checks.
    lm.http
        .post(format!("{}/api/v2/cis/outCheck", lm.base))
        .header("Authorization", admin())
        .header("X-ClientId", "9999078900003333")
        .json(&json!({"cis_list": [{"cis": sold[1]}]}))
        .send()
        .await
        .unwrap();
    let (_, overview) = lm.get("/admin/api/overview").await;
    assert_eq!(overview["state"], "ready");
    assert_eq!(overview["soldCount"], 4);
    let till = overview["tills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["clientId"] == "9999078900003333")
        .expect("the till is listed")
        .clone();
    assert_eq!(till["results"]["sold"], 1);
    assert_eq!(till["recent"][0]["ki"], sold[1]);
    assert_eq!(till["recent"][0]["result"], "sold");
    let lists = overview["lists"].as_array().unwrap();
    assert!(lists.iter().all(|l| l["pulled"] == true), "{overview}");
}

#[tokio::test]
async fn credentials_change_applies_at_once_and_is_saved_as_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig::new(ModuleConfig::new(dir.path(), "http://127.0.0.1:9"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let served = tokio::spawn(run(
        config,
        Arc::new(SystemClock),
        listener,
        shutdown.clone(),
    ));
    let http = http_client();
    let change = |auth: String, body: Value| {
        http.post(format!("{base}/admin/api/credentials"))
            .header("Authorization", auth)
            .json(&body)
            .send()
    };
    let (status, body) = json_of(
        change(admin(), json!({"login": "kassa", "password": "short"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = json_of(
        change(admin(), json!({"login": "a:b", "password": "long enough"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = json_of(
        change(
            admin(),
            json!({"login": "kassa", "password": "a new long password"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let overview = |auth: String| {
        http.get(format!("{base}/admin/api/overview"))
            .header("Authorization", auth)
            .send()
    };
    assert_eq!(overview(admin()).await.unwrap().status(), 401);
    let (status, body) = json_of(
        overview(basic("kassa", "a new long password"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["defaultLogin"], false);
    let saved = StoredCredentials::load(dir.path()).unwrap().expect("saved");
    assert_eq!(saved.login, "kassa");
    assert!(saved.password_hash.starts_with("$argon2id$"));
    assert!(
        !std::fs::read_to_string(dir.path().join("credentials.toml"))
            .unwrap()
            .contains("a new long password")
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
