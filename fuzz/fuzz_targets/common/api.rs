//! Shared by the API fuzz targets: the module's real router (every extractor, body parser and
//! handler) over an in-memory test double of the backend, driven in process. For any body the
//! answer must be a JSON document and never a 5xx: a malformed request is the client's mistake.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::{Request, header};
use lm::api::{ApiState, Auth, Backend, BackendError, CodeFacts, Snapshot, router};
use protocol::lm::{ModuleState, OperationMode};
use tower::ServiceExt;

/// Test double of the module: ready, nothing blocked, an in-memory sold set.
#[derive(Debug, Default)]
pub struct DoubleBackend {
    sold: Mutex<BTreeSet<String>>,
}

impl Backend for DoubleBackend {
    fn now_ms(&self) -> u64 {
        1_775_204_403_800
    }

    fn snapshot(&self) -> Result<Snapshot, BackendError> {
        Ok(Snapshot {
            state: ModuleState::Ready,
            mode: OperationMode::Active,
            inst: "fuzz".into(),
            inn: "7731376812".into(),
            service_url: "http://127.0.0.1:1".into(),
            db_version: "fuzz".into(),
            last_sync: 1,
            last_update: 1,
            grey_mode: false,
            dbs: Vec::new(),
            extensions: Default::default(),
            valid_until: u64::MAX,
        })
    }

    fn facts(&self, ki: &str, _gtin: &str) -> Result<CodeFacts, BackendError> {
        let sold = self.sold.lock().map(|s| s.contains(ki)).unwrap_or(false);
        Ok(CodeFacts {
            sold,
            ..CodeFacts::default()
        })
    }

    fn sell(&self, ki: &str) -> Result<bool, BackendError> {
        let mut sold = self.sold.lock().map_err(|_| BackendError::Internal("lock".into()))?;
        if sold.len() > 10_000 {
            sold.clear();
        }
        Ok(sold.insert(ki.to_owned()))
    }

    fn unsell(&self, ki: &str) -> Result<bool, BackendError> {
        let mut sold = self.sold.lock().map_err(|_| BackendError::Internal("lock".into()))?;
        Ok(sold.remove(ki))
    }

    fn sold_page(&self, skip: u64, limit: u64) -> Result<(u64, Vec<String>), BackendError> {
        let sold = self.sold.lock().map_err(|_| BackendError::Internal("lock".into()))?;
        let page = sold.iter().skip(skip as usize).take(limit as usize);
        Ok((sold.len() as u64, page.cloned().collect()))
    }

    async fn init(&self, _token: String, _clear: bool, _grey: bool) -> Result<(), BackendError> {
        Ok(())
    }

    async fn set_grey_mode(&self, _enable: bool) -> Result<(), BackendError> {
        Ok(())
    }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let state = ApiState::new(DoubleBackend::default(), Auth::new(None, vec![]));
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            router: router(Arc::new(state)),
        }
    })
}

/// Sends `body` to `method path` with the default login and checks the answer.
pub fn call(method: &str, path: &str, body: &[u8]) {
    let harness = harness();
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, "Basic YWRtaW46YWRtaW4=")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .expect("request");
    harness.runtime.block_on(async {
        let response = harness
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        assert!(
            !status.is_server_error(),
            "{method} {path}: {status} for a client's body: {}",
            String::from_utf8_lossy(&bytes)
        );
        let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&bytes);
        assert!(parsed.is_ok(), "{method} {path}: {status}, body not JSON");
    });
}
