//! Interop: the sync engine replicates from PouchDB (express-pouchdb, an independent
//! implementation of the CouchDB protocol, started here on loopback by tools/pouchdb/serve.js)
//! and ends with exactly the same lists as from the test-double operator fed the same documents.
//! Needs node and tools/pouchdb/node_modules: run scripts/test-deps first.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use lm::{ManualClock, Status};
use serde_json::{Value, json};
use store::ListDb;
use support::{FakeOperator, Running, T0, config, count, gtin, init_request, ki};

/// The PouchDB server process; killed when dropped.
struct PouchServer {
    child: Child,
    url: String,
}

impl Drop for PouchServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_pouchdb(fixtures: &Value, dir: &std::path::Path) -> PouchServer {
    let tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/pouchdb");
    assert!(
        tools.join("node_modules/express-pouchdb").is_dir(),
        "PouchDB is not installed: run scripts/test-deps"
    );
    let file = dir.join("fixtures.json");
    std::fs::write(&file, fixtures.to_string()).unwrap();
    let mut child = Command::new("node")
        .arg(tools.join("serve.js"))
        .arg(&file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (scripts/test-deps installs it)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value =
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("serve.js said {line:?}"));
    let port = ready["port"].as_u64().unwrap();
    PouchServer {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// The same documents for both sources: live docs, deletions, and one document that cannot map.
fn fixtures() -> Value {
    let mut blocked_cis: Vec<Value> = (0..300)
        .map(|i| json!({"_id": ki(i), "gtin": gtin(i % 50), "ogvs": ["FSTEC"]}))
        .collect();
    for i in 0..10 {
        blocked_cis[i * 7]["_deleted"] = json!(true);
    }
    let blocked_gtin: Vec<Value> = (0..30).map(|i| json!({"_id": gtin(i)})).collect();
    let mut min_price: Vec<Value> = (0..150)
        .map(|i| json!({"_id": gtin(i), "mrp": 10_000 + i, "smp": 15_000 + i}))
        .collect();
    min_price.push(json!({"_id": "not-a-gtin", "mrp": 1}));
    json!({"blocked_cis": blocked_cis, "blocked_gtin": blocked_gtin, "min_price": min_price,
           "grey_gtin": [{"_id": gtin(900)}]})
}

fn feed(operator: &FakeOperator, fixtures: &Value) {
    for (db, docs) in fixtures.as_object().unwrap() {
        for doc in docs.as_array().unwrap() {
            let id = doc["_id"].as_str().unwrap();
            operator.put(db, id, doc.clone());
            if doc.get("_deleted").is_some() {
                operator.delete(db, id);
            }
        }
    }
}

async fn sync_from(
    replication_url: Option<String>,
    fixtures: &Value,
) -> (store::ListSnapshot, lm::StatusSnapshot) {
    let operator = FakeOperator::start().await;
    match replication_url {
        Some(url) => operator.with(|s| s.replication_url = Some(url)),
        None => feed(&operator, fixtures),
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &operator);
    config.batch_limit = 64;
    let running = Running::start(config, ManualClock::at(T0));
    running.module.init(init_request()).await.unwrap();
    let ready = running.until("ready", |s| s.status == Status::Ready).await;
    let lists = running.module.store().unwrap().lists().snapshot().unwrap();
    running.stop().await;
    (lists, ready)
}

#[tokio::test]
async fn replicates_from_pouchdb_with_the_same_result_as_from_the_operator() {
    let fixtures = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let pouch = start_pouchdb(&fixtures, dir.path());

    let (from_pouch, pouch_status) = sync_from(Some(pouch.url.clone()), &fixtures).await;
    assert_eq!(count(&pouch_status, ListDb::BlockedCis), Some(290));
    assert_eq!(count(&pouch_status, ListDb::BlockedGtin), Some(30));
    assert_eq!(count(&pouch_status, ListDb::MinPrice), Some(150));
    let prices = pouch_status
        .databases
        .iter()
        .find(|d| d.db == ListDb::MinPrice)
        .unwrap();
    assert_eq!(prices.unmapped, 1);

    let (from_operator, operator_status) = sync_from(None, &fixtures).await;
    assert_eq!(
        from_pouch, from_operator,
        "identical lists from both sources"
    );
    let counts =
        |s: &lm::StatusSnapshot| s.databases.iter().map(|d| d.doc_count).collect::<Vec<_>>();
    assert_eq!(counts(&pouch_status), counts(&operator_status));
}
