//! The status lifecycle end to end, driven by a manual clock (no test waits for real time to
//! pass a rule): 72 h → sync_error, 15 min without data during init → not_configured, 10 days
//! without contact → re-initialisation once contact returns, failure when the store is unusable.

mod support;

use lm::lifecycle::{INIT_STALL_MS, REINIT_AFTER_MS, SYNC_ERROR_AFTER_MS};
use lm::sync::registration::RegistrationError;
use lm::{InitError, InitRequest, ManualClock, Module, Status};
use store::ListDb;
use support::{FakeOperator, Running, T0, config, count, init_request};

#[tokio::test]
async fn seventy_two_hours_without_sync_is_sync_error_until_a_sync_succeeds() {
    let operator = FakeOperator::start().await;
    operator.fill(10);
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(config(dir.path(), &operator), ManualClock::at(T0));
    running.module.init(init_request()).await.unwrap();
    running.until("ready", |s| s.status == Status::Ready).await;

    operator.with(|s| s.faults.down = true);
    running.clock.advance_ms(SYNC_ERROR_AFTER_MS - 1);
    assert_eq!(running.module.status().status, Status::Ready);
    running.clock.advance_ms(1);
    assert_eq!(running.module.status().status, Status::SyncError);

    operator.with(|s| s.faults.down = false);
    let ready = running
        .until("ready again", |s| s.status == Status::Ready)
        .await;
    assert_eq!(ready.last_sync, T0 + SYNC_ERROR_AFTER_MS);
    assert_eq!(operator.with(|s| s.registrations), 1);
    running.stop().await;
}

#[tokio::test]
async fn fifteen_minutes_without_data_during_init_falls_back_to_not_configured() {
    let operator = FakeOperator::start().await;
    operator.fill(10);
    operator.with(|s| s.faults.down = true);
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(config(dir.path(), &operator), ManualClock::at(T0));
    running.module.init(init_request()).await.unwrap();
    let initialising = running.module.status();
    assert_eq!(initialising.status, Status::Initialization);
    assert!(initialising.inst.is_some());

    running.clock.advance_ms(INIT_STALL_MS - 1);
    assert_eq!(running.module.status().status, Status::Initialization);
    running.clock.advance_ms(1);
    let abandoned = running
        .until("registration forgotten", |s| s.inst.is_none())
        .await;
    assert_eq!(abandoned.status, Status::NotConfigured);
    let store = running.module.store().unwrap();
    assert_eq!(
        store.local().status().unwrap().as_deref(),
        Some("not_configured")
    );

    // Contact returning does not resume an abandoned initialisation: init must be called again.
    operator.with(|s| s.faults.down = false);
    running.module.init(init_request()).await.unwrap();
    running.until("ready", |s| s.status == Status::Ready).await;
    running.stop().await;
}

#[tokio::test]
async fn ten_days_without_contact_reinitialises_when_contact_returns() {
    let operator = FakeOperator::start().await;
    operator.fill(10);
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(config(dir.path(), &operator), ManualClock::at(T0));
    running.module.init(init_request()).await.unwrap();
    let first = running.until("ready", |s| s.status == Status::Ready).await;

    operator.with(|s| s.faults.down = true);
    running.clock.advance_ms(REINIT_AFTER_MS);
    assert_eq!(running.module.status().status, Status::SyncError);
    operator.put(
        "blocked_cis",
        "0104600000000000215LATE",
        serde_json::json!({"gtin": "04600000000000"}),
    );
    operator.with(|s| s.faults.down = false);

    let second = running
        .until("re-initialised and ready", |s| {
            s.status == Status::Ready && s.inst != first.inst
        })
        .await;
    assert_eq!(operator.with(|s| s.registrations), 2);
    assert_eq!(count(&second, ListDb::BlockedCis), Some(11));
    assert_eq!(second.last_sync, T0 + REINIT_AFTER_MS);
    running.stop().await;
}

#[tokio::test]
async fn a_refused_token_leaves_the_module_not_configured() {
    let operator = FakeOperator::start().await;
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(config(dir.path(), &operator), ManualClock::at(T0));
    let err = running
        .module
        .init(InitRequest {
            token: "wrong".into(),
            ..init_request()
        })
        .await
        .unwrap_err();
    match &err {
        InitError::Registration(RegistrationError::Refused {
            status,
            description,
            ..
        }) => {
            assert_eq!((*status, description.as_str()), (401, "unknown token"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(running.module.status().status, Status::NotConfigured);
    running.stop().await;
}

#[tokio::test]
async fn an_unusable_store_is_failure_with_the_reason() {
    let operator = FakeOperator::start().await;
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let module = Module::open(config(&not_a_dir, &operator), ManualClock::at(T0));
    let status = module.status();
    assert_eq!(status.status, Status::Failure);
    assert!(status.failure.unwrap().contains("file"));
    assert!(matches!(
        module.init(init_request()).await,
        Err(InitError::Failure(_))
    ));
}

#[tokio::test]
async fn sold_purge_uses_the_module_clock() {
    let operator = FakeOperator::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(T0);
    let module = Module::open(config(dir.path(), &operator), clock.clone());
    let local = module.store().unwrap().local();
    local.sold_insert("ki-1", T0).unwrap();
    clock.advance_ms(store::SOLD_RETENTION_MS);
    assert_eq!(
        module.purge_sold().unwrap(),
        0,
        "exactly 30 days: still kept"
    );
    clock.advance_ms(1);
    assert_eq!(module.purge_sold().unwrap(), 1);
}
