//! The durable sell/return queue against a scripted module double: order, retry with backoff,
//! nothing lost while the module is down.

mod doubles;

use doubles::Reply;
use serde_json::json;
use till::config::ModuleConfig;
use till::module::ModuleClient;
use till::queue::{Operation, SoldQueue};

const KI: &str = "0104670540176099215'W9Um";

#[tokio::test]
async fn module_outage_is_retried_with_backoff_and_order_is_kept() {
    let module = doubles::module().await;
    module.then(Reply::json(
        500,
        json!({"code": 500, "description": "down"}),
    ));
    module.always(Reply::json(
        201,
        json!({"results": [{"success": true, "cis": KI}]}),
    ));
    let client = ModuleClient::new(
        &ModuleConfig {
            url: module.url.clone(),
            login: Some("admin".into()),
            password: Some("admin".into()),
            token: None,
            client_id: None,
        },
        Some("1234567890123456"),
    )
    .expect("client");
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = SoldQueue::open(&dir.path().join("q.json")).expect("opens");
    queue
        .enqueue(Operation::Sell, vec![KI.into()], 0)
        .expect("queued");
    queue
        .enqueue(Operation::Return, vec![KI.into()], 0)
        .expect("queued");

    assert_eq!(queue.flush(&client, 0).await.expect("flushes"), 0);
    let state = queue.read().expect("reads");
    assert_eq!(state.pending.len(), 2, "nothing lost");
    assert_eq!(state.pending[0].attempts, 1);
    assert_eq!(state.pending[0].next_attempt_ms, 1_000);
    assert!(
        state.pending[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("500")
    );

    assert_eq!(
        queue.flush(&client, 999).await.expect("flushes"),
        0,
        "not due yet"
    );
    assert_eq!(queue.flush(&client, 1_000).await.expect("flushes"), 2);
    assert!(queue.read().expect("reads").pending.is_empty());
    let paths: Vec<String> = module.requests().into_iter().map(|r| r.0).collect();
    assert_eq!(
        paths,
        ["/api/v2/cis/sell", "/api/v2/cis/sell", "/api/v2/cis/return"]
    );
    assert_eq!(module.requests()[2].2, json!({"cis_list": [KI]}));
    assert_eq!(module.requests()[2].1["x-clientid"], "1234567890123456");
}
