//! The sync engine against a test-double operator on loopback: full pull, incremental pulls,
//! resume from checkpoints, faults retried without applying half, grey mode.

mod support;

use lm::{InitRequest, ManualClock, Status};
use serde_json::json;
use store::{Gtin, ListDb};
use support::{FakeOperator, Running, T0, config, count, gtin, init_request, ki};

fn init(grey: bool) -> InitRequest {
    InitRequest {
        enable_grey_list: grey,
        ..init_request()
    }
}

fn counts_match(operator: &FakeOperator, snapshot: &lm::StatusSnapshot) -> bool {
    snapshot
        .databases
        .iter()
        .all(|d| d.doc_count == operator.doc_count(d.db.name()))
}

#[tokio::test]
async fn init_pulls_every_list_and_becomes_ready() {
    let operator = FakeOperator::start().await;
    operator.fill(100);
    operator.put(
        "min_price",
        "bad-gtin",
        json!({"_id": "bad-gtin", "mrp": 1}),
    );
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(config(dir.path(), &operator), ManualClock::at(T0));
    assert_eq!(running.module.status().status, Status::NotConfigured);
    running.module.init(init(false)).await.unwrap();
    let ready = running.until("ready", |s| s.status == Status::Ready).await;

    assert_eq!(
        ready.inst.as_deref(),
        Some("00000000-0000-4000-8000-000000000001")
    );
    assert_eq!(ready.inn.as_deref(), Some("7700000001"));
    assert_eq!(ready.last_sync, T0);
    assert_eq!(count(&ready, ListDb::BlockedCis), Some(100));
    assert_eq!(count(&ready, ListDb::BlockedGtin), Some(10));
    assert_eq!(count(&ready, ListDb::MinPrice), Some(50));
    assert_eq!(count(&ready, ListDb::GreyGtin), None, "grey list inactive");
    let prices = ready
        .databases
        .iter()
        .find(|d| d.db == ListDb::MinPrice)
        .unwrap();
    assert_eq!(prices.unmapped, 1, "the bad document is counted, not fatal");
    let progress = prices.progress.unwrap();
    assert_eq!((progress.received, progress.expected), (51, 51));

    let store = running.module.store().unwrap();
    assert!(store.lists().is_blocked(&ki(42), None).unwrap());
    assert!(!store.lists().is_blocked(&ki(100), None).unwrap());
    let price = store
        .lists()
        .min_price(Gtin::parse(&gtin(7)).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!((price.mrp, price.smp), (Some(10007), Some(20007)));
    running.stop().await;
}

#[tokio::test]
async fn incremental_changes_and_deletions_follow_the_source() {
    let operator = FakeOperator::start().await;
    operator.fill(20);
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(config(dir.path(), &operator), ManualClock::at(T0));
    running.module.init(init(false)).await.unwrap();
    let ready = running.until("ready", |s| s.status == Status::Ready).await;
    let version = ready.db_version.clone();

    operator.delete("blocked_cis", &ki(3));
    operator.put(
        "blocked_cis",
        "0104600000000000215NEW",
        json!({"gtin": gtin(1)}),
    );
    operator.delete("blocked_gtin", &gtin(0));
    let synced = running
        .until("incremental pull", |s| {
            count(s, ListDb::BlockedGtin) == Some(1) && counts_match(&operator, s)
        })
        .await;
    assert_ne!(synced.db_version, version, "content changed: new dbVersion");
    let lists = running.module.store().unwrap().lists();
    assert!(!lists.is_blocked(&ki(3), None).unwrap());
    assert!(lists.is_blocked("0104600000000000215NEW", None).unwrap());
    running.stop().await;
}

#[tokio::test]
async fn a_restart_resumes_from_the_stored_checkpoint() {
    let operator = FakeOperator::start().await;
    operator.fill(60);
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(config(dir.path(), &operator), ManualClock::at(T0));
    running.module.init(init(false)).await.unwrap();
    running
        .until("part of blocked_cis", |s| {
            count(s, ListDb::BlockedCis).unwrap_or(0) >= 21
        })
        .await;
    operator.with(|s| s.faults.down = true);
    let clock = running.stop().await;
    let checkpoint = {
        let (store, _) = store::Store::open(dir.path(), Default::default()).unwrap();
        let state = store.lists().db_state(ListDb::BlockedCis).unwrap();
        assert!(!state.pulled);
        assert_eq!(
            state.checkpoint.as_deref(),
            Some(&*format!("\"{}-fake\"", state.doc_count))
        );
        state.doc_count
    };

    operator.with(|s| {
        s.faults.down = false;
        s.since_log.clear();
    });
    let running = Running::start(config(dir.path(), &operator), clock);
    let ready = running
        .until("ready after restart", |s| s.status == Status::Ready)
        .await;
    assert!(counts_match(&operator, &ready));
    let first = operator.with(|s| s.since_log.first().cloned()).unwrap();
    assert_eq!(
        first,
        ("blocked_cis".into(), Some(format!("{checkpoint}-fake")))
    );
    assert_eq!(
        operator.with(|s| s.registrations),
        1,
        "no re-registration on restart"
    );
    running.stop().await;
}

#[tokio::test]
async fn errors_truncated_and_garbled_pages_are_retried_without_applying_half() {
    let operator = FakeOperator::start().await;
    operator.fill(50);
    operator.with(|s| {
        s.faults.fail_next = 3;
        s.faults.truncate_next = 2;
        s.faults.garbage_next = 2;
    });
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(config(dir.path(), &operator), ManualClock::at(T0));
    running.module.init(init(false)).await.unwrap();
    let ready = running.until("ready", |s| s.status == Status::Ready).await;
    assert!(counts_match(&operator, &ready), "{ready:#?}");
    assert_eq!(ready.last_error, None, "cleared by the successful sync");
    running.stop().await;
}

#[tokio::test]
async fn grey_mode_replaces_blocked_cis_and_switching_resyncs() {
    let operator = FakeOperator::start().await;
    operator.fill(30);
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(config(dir.path(), &operator), ManualClock::at(T0));
    running.module.init(init(true)).await.unwrap();
    let ready = running
        .until("ready in grey mode", |s| s.status == Status::Ready)
        .await;
    assert!(ready.grey_mode);
    assert_eq!(count(&ready, ListDb::GreyGtin), Some(3));
    assert_eq!(count(&ready, ListDb::BlockedCis), None);
    let lists = running.module.store().unwrap().lists();
    assert!(lists.is_grey(Gtin::parse(&gtin(1001)).unwrap()).unwrap());
    assert_eq!(lists.db_state(ListDb::BlockedCis).unwrap().doc_count, 0);

    running.module.set_grey_mode(false).await.unwrap();
    let status = running.module.status();
    assert!(matches!(
        status.status,
        Status::Initialization | Status::Ready
    ));
    let ready = running
        .until("blocked_cis pulled", |s| {
            s.status == Status::Ready && count(s, ListDb::BlockedCis) == Some(30)
        })
        .await;
    assert!(!ready.grey_mode);
    assert_eq!(
        lists.db_state(ListDb::GreyGtin).unwrap().doc_count,
        0,
        "grey list emptied"
    );
    assert!(lists.is_blocked(&ki(5), None).unwrap());
    running.stop().await;
}

#[tokio::test]
async fn pages_gathered_into_one_commit_resume_from_the_last_committed_page() {
    let operator = FakeOperator::start().await;
    operator.fill(100);
    let dir = tempfile::tempdir().unwrap();
    let mut gathering = config(dir.path(), &operator);
    gathering.commit_changes = 20; // pages of 7: a commit every third page (21 changes)
    let running = Running::start(gathering.clone(), ManualClock::at(T0));
    running.module.init(init(false)).await.unwrap();
    running
        .until("two commits", |s| {
            count(s, ListDb::BlockedCis).unwrap_or(0) >= 42
        })
        .await;
    operator.with(|s| s.faults.down = true);
    let clock = running.stop().await;
    let committed = {
        let (store, _) = store::Store::open(dir.path(), Default::default()).unwrap();
        let state = store.lists().db_state(ListDb::BlockedCis).unwrap();
        assert_eq!(
            state.doc_count % 21,
            0,
            "only whole gathered pages: {state:?}"
        );
        assert_eq!(
            state.checkpoint.as_deref(),
            Some(&*format!("\"{}-fake\"", state.doc_count))
        );
        state.doc_count
    };
    operator.with(|s| {
        s.faults.down = false;
        s.since_log.clear();
    });
    let running = Running::start(gathering, clock);
    let ready = running.until("ready", |s| s.status == Status::Ready).await;
    assert!(counts_match(&operator, &ready));
    let first = operator.with(|s| s.since_log.first().cloned()).unwrap();
    assert_eq!(first.1, Some(format!("{committed}-fake")));
    running.stop().await;
}
