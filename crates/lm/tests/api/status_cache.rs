//! The status snapshot behind `status` and the checks' readiness gate: read from the backend
//! once per change generation, and never served past a time rule (injected clock).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lm::api::{ApiState, Auth, Backend, BackendError, CodeFacts, Snapshot};
use lm::lifecycle::{self, Facts, SYNC_ERROR_AFTER_MS, Status};
use protocol::lm::{ModuleState, OperationMode};
use serde_json::{Value, json};

use crate::support::{admin, json_of, ki, quick_serve_config, start_with};

const T0: u64 = 1_775_204_403_800;

/// Test double: a module synced at `T0` whose status follows the real lifecycle rules on an
/// injected clock, counting how often its snapshot is read.
#[derive(Debug, Default)]
struct CountingBackend {
    reads: AtomicU64,
    generation: AtomicU64,
    now: AtomicU64,
}

impl Backend for CountingBackend {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    fn generation(&self) -> Option<u64> {
        Some(self.generation.load(Ordering::SeqCst))
    }

    fn snapshot(&self) -> Result<Snapshot, BackendError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let facts = Facts {
            store_usable: true,
            configured: true,
            pulled: true,
            last_sync: T0,
            last_data: T0,
        };
        let status = lifecycle::status(&facts, self.now_ms());
        Ok(Snapshot {
            state: match status {
                Status::Ready => ModuleState::Ready,
                Status::SyncError => ModuleState::SyncError,
                other => panic!("the double does not reach {other}"),
            },
            mode: OperationMode::Active,
            inst: "double-inst".into(),
            inn: "7731376812".into(),
            service_url: "http://127.0.0.1:1".into(),
            db_version: "double-version".into(),
            last_sync: T0,
            last_update: T0,
            grey_mode: false,
            dbs: Vec::new(),
            extensions: Default::default(),
            valid_until: lifecycle::valid_until(status, T0, T0),
        })
    }

    fn facts(&self, _ki: &str, _gtin: &str) -> Result<CodeFacts, BackendError> {
        Ok(CodeFacts::default())
    }

    fn sell(&self, _ki: &str) -> Result<bool, BackendError> {
        Ok(true)
    }

    fn unsell(&self, _ki: &str) -> Result<bool, BackendError> {
        Ok(true)
    }

    fn sold_page(&self, _skip: u64, _limit: u64) -> Result<(u64, Vec<String>), BackendError> {
        Ok((0, Vec::new()))
    }

    async fn init(&self, _token: String, _clear: bool, _grey: bool) -> Result<(), BackendError> {
        Err(BackendError::Conflict(
            "the test double does not register".into(),
        ))
    }

    async fn set_grey_mode(&self, _enable: bool) -> Result<(), BackendError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_snapshot_is_read_once_per_generation_and_never_past_a_time_rule() {
    let backend = CountingBackend::default();
    backend.now.store(T0 + 1000, Ordering::SeqCst);
    let state = Arc::new(ApiState::new(backend, Auth::new(None, vec![])));
    let server = start_with(state.clone(), quick_serve_config()).await;
    let reads = || state.backend.reads.load(Ordering::SeqCst);
    let status = || async {
        let v2 = server.http.get(server.url("/api/v2/status")).send().await;
        let v1 = server.http.get(server.url("/api/v1/status")).send().await;
        let (_, v1) = json_of(v1.unwrap()).await;
        let (code, v2) = json_of(v2.unwrap()).await;
        assert_eq!(code, 200, "{v2}");
        assert_eq!(v1["status"], v2["status"]);
        v2["status"].as_str().unwrap().to_owned()
    };
    let check = || async {
        let response = server
            .http
            .post(server.url("/api/v2/cis/outCheck"))
            .header("Authorization", admin())
            .json(&json!({"cis_list": [{"cis": ki(1, "5aBcDe!")}]}))
            .send()
            .await
            .unwrap();
        json_of(response).await
    };

    for _ in 0..5 {
        assert_eq!(status().await, "ready");
        assert_eq!(check().await.0, 200);
    }
    assert_eq!(reads(), 1, "one generation, one read");

    state.backend.generation.fetch_add(1, Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(status().await, "ready");
    }
    assert_eq!(reads(), 2, "a new generation is read once");

    // The clock alone: still ready 1 ms before the 72 h rule, from the cache.
    state
        .backend
        .now
        .store(T0 + SYNC_ERROR_AFTER_MS - 1, Ordering::SeqCst);
    assert_eq!(status().await, "ready");
    assert_eq!(reads(), 2);
    // At the boundary the cached `ready` is not served: sync_error, and checks refused.
    state
        .backend
        .now
        .store(T0 + SYNC_ERROR_AFTER_MS, Ordering::SeqCst);
    assert_eq!(status().await, "sync_error");
    let (code, refused): (u16, Value) = check().await;
    assert_eq!(
        (code, refused["errorCode"].as_u64()),
        (400, Some(4050)),
        "{refused}"
    );
    assert_eq!(reads(), 3);
    // sync_error ends only by an event (a new generation): no further reads.
    state
        .backend
        .now
        .store(T0 + 10 * SYNC_ERROR_AFTER_MS, Ordering::SeqCst);
    assert_eq!(status().await, "sync_error");
    assert_eq!(reads(), 3);
}
