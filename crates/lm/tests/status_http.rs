//! `status` over real HTTP carries the sync engine's state beyond the official fields:
//! `syncProgress` (per database: received / expected, percent, rate, ETA), `lastSyncError`, and
//! with status `failure` the `failureReason` — here after a real I/O failure of the store.

mod support;

use std::sync::Arc;

use lm::api::{ApiState, Auth, ServeConfig, run_module};
use lm::{ManualClock, Module};
use serde_json::Value;
use store::ListDb;
use support::{FakeOperator, T0, config, init_request};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The operator's v2 fields (protocol.md §3.3) and the extensions this module adds.
const V2_FIELDS: [&str; 12] = [
    "version",
    "status",
    "serviceUrl",
    "operationMode",
    "name",
    "lastUpdate",
    "lastSync",
    "inst",
    "inn",
    "dbVersion",
    "dbState",
    "isGreyGtin",
];
const EXTENSIONS: [&str; 3] = ["syncProgress", "lastSyncError", "failureReason"];

struct Served {
    base: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The module with its API (and sync engine) on 127.0.0.1:0.
async fn serve(module: Module) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let state = Arc::new(ApiState::new(module, Auth::new(None, vec![])));
    tokio::spawn(run_module(
        state,
        ServeConfig::default(),
        listener,
        shutdown.clone(),
    ));
    let _ = rustls::crypto::ring::default_provider().install_default();
    Served {
        base,
        http: reqwest::Client::new(),
        shutdown,
    }
}

impl Served {
    async fn status(&self, version: &str) -> Value {
        support::http_status(&self.http, &self.base, version).await
    }
}

fn assert_only_known_fields(status: &Value, extra_official: &[&str]) {
    for key in status.as_object().unwrap().keys() {
        assert!(
            V2_FIELDS.contains(&key.as_str())
                || EXTENSIONS.contains(&key.as_str())
                || extra_official.contains(&key.as_str()),
            "unexpected field {key} in {status}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_progress_is_reported_in_v2_and_v1_status_mid_pull_and_after() {
    let operator = FakeOperator::start().await;
    operator.fill(60);
    // Three pages of 7 blocked_cis documents arrive, then the source goes down.
    operator.with(|state| state.faults.down_after_changes = Some(3));
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(T0);
    let module = Module::open(config(dir.path(), &operator), clock.clone());
    let served = serve(module.clone()).await;

    let before = served.status("v2").await;
    assert_eq!(before["status"], "not_configured");
    assert!(before.get("syncProgress").is_none(), "{before}");
    let before = served.status("v1").await;
    assert_eq!(
        before["requiresDownload"], true,
        "nothing pulled yet: {before}"
    );

    module.init(init_request()).await.unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        module.wait_until(|s| s.last_error.is_some()),
    )
    .await
    .expect("the source went down mid-pull");

    let v2 = served.status("v2").await;
    assert_eq!(v2["status"], "initialization", "{v2}");
    let progress = &v2["syncProgress"]["blocked_cis"];
    assert_eq!(progress["received"], 21, "{v2}");
    assert_eq!(progress["expected"], 60, "{v2}");
    assert_eq!(progress["percent"], 35, "{v2}");
    assert_eq!(progress["pulled"], false, "{v2}");
    assert!(progress["docsPerMinute"].is_u64(), "{v2}");
    assert_eq!(progress["startedAt"], T0, "{v2}");
    assert!(
        v2["lastSyncError"].as_str().unwrap().contains("503"),
        "{v2}"
    );
    // The official fields are untouched by the extension.
    assert_eq!(v2["dbState"]["blocked_cis"]["docCount"], 21, "{v2}");
    assert_only_known_fields(&v2, &[]);
    let v1 = served.status("v1").await;
    assert_eq!(v1["syncProgress"], v2["syncProgress"], "{v1}");
    assert_eq!(
        v1["replicationStatus"]["blocked_cis"]["serverDocCount"], 60,
        "{v1}"
    );
    assert_eq!(v1["requiresDownload"], true, "mid-pull: {v1}");
    assert_only_known_fields(&v1, &["requiresDownload", "replicationStatus"]);

    // The link returns a minute later: the bar continues from 21, not from zero.
    clock.advance_ms(60_000);
    operator.with(|state| state.faults.down = false);
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        module.wait_until(|s| s.status == lm::Status::Ready),
    )
    .await
    .expect("ready");
    let v2 = served.status("v2").await;
    assert_eq!(v2["status"], "ready", "{v2}");
    let progress = &v2["syncProgress"]["blocked_cis"];
    assert_eq!(progress["received"], 60, "{v2}");
    assert_eq!(progress["expected"], 60, "{v2}");
    assert_eq!(progress["percent"], 100, "{v2}");
    assert_eq!(progress["pulled"], true, "{v2}");
    assert!(v2.get("lastSyncError").is_none(), "{v2}");
    assert_eq!(v2["dbState"]["blocked_cis"]["docCount"], 60, "{v2}");
    for db in ["blocked_gtin", "min_price"] {
        assert_eq!(v2["syncProgress"][db]["pulled"], true, "{v2}");
    }
    let v1 = served.status("v1").await;
    assert_eq!(v1["requiresDownload"], false, "every list pulled: {v1}");
    for (db, lists) in v1["replicationStatus"]
        .as_object()
        .expect("replicationStatus")
    {
        assert!(lists["timeLag"].is_number(), "{db}: {v1}");
        assert!(lists["localDocCount"].is_u64(), "{db}: {v1}");
    }
    // The same numbers through the Module API (what /metrics exports).
    let snapshot = module.status();
    let blocked = snapshot
        .databases
        .iter()
        .find(|db| db.db == ListDb::BlockedCis)
        .unwrap();
    assert_eq!(blocked.progress.unwrap().received, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_io_failure_of_the_store_is_status_failure_with_the_reason() {
    let operator = FakeOperator::start().await;
    operator.fill(30);
    let dir = tempfile::tempdir().unwrap();
    let module = Module::open(config(dir.path(), &operator), ManualClock::at(T0));
    let served = serve(module.clone()).await;
    // A real I/O failure, no test hook: the segment directory is replaced by a plain file, so
    // writing the first blocked_cis segment fails (ENOTDIR), as a dying disk would.
    let segments = dir.path().join("blocked_cis.segments");
    std::fs::remove_dir_all(&segments).unwrap();
    std::fs::write(&segments, b"not a directory").unwrap();

    module.init(init_request()).await.unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        module.wait_until(|s| s.status == lm::Status::Failure),
    )
    .await
    .expect("failure");

    for version in ["v2", "v1"] {
        let status = served.status(version).await;
        assert_eq!(status["status"], "failure", "{status}");
        let reason = status["failureReason"].as_str().unwrap_or_default();
        assert!(reason.contains("blocked_cis.segments"), "{status}");
    }
    // Checks are refused rather than answered from a store that failed.
    let response = served
        .http
        .post(format!("{}/api/v2/cis/outCheck", served.base))
        .basic_auth("admin", Some("admin"))
        .json(&serde_json::json!({"cis_list": [{"cis": support::ki(1)}]}))
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), 200);
}
