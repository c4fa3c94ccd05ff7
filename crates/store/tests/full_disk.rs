//! A full disk is transient: a write that fails for lack of space leaves nothing behind, the
//! store keeps answering from what was committed, never poisons itself, and the same write
//! succeeds once space returns. Damage is still damage (see `store.rs`).

use store::{Batch, FullDiskSwitch, Gtin, KiFingerprint, ListChange, ListDb, Store, StoreOptions};

fn ki(i: u32) -> String {
    format!("0104600000000000215KI{i:06}")
}

fn batch(db: ListDb, changes: Vec<ListChange>, checkpoint: u32) -> Batch {
    Batch {
        db,
        changes,
        checkpoint: checkpoint.to_string(),
        caught_up: true,
        unmapped: 0,
    }
}

fn blocked(from: u32, to: u32) -> Batch {
    batch(
        ListDb::BlockedCis,
        (from..to)
            .map(|i| ListChange::BlockKi(KiFingerprint::of(&ki(i))))
            .collect(),
        to,
    )
}

fn gtins(from: u64, to: u64) -> Batch {
    batch(
        ListDb::BlockedGtin,
        (from..to)
            .map(|i| {
                ListChange::ListGtin(
                    Gtin::parse(&format!("{:014}", 4_600_000_000_000 + i)).unwrap(),
                )
            })
            .collect(),
        to as u32,
    )
}

fn open(dir: &std::path::Path, switch: &FullDiskSwitch) -> Store {
    let options = StoreOptions {
        full_disk: Some(switch.clone()),
        ..StoreOptions::default()
    };
    let (store, report) = Store::open(dir, options).unwrap();
    assert_eq!(report.quarantined, None);
    store
}

/// Both kinds of write: a `blocked_cis` batch (a segment file first, then `lists.redb`) and a
/// GTIN batch (`lists.redb` only), and a sale (`local.redb`). `seen`: the free space shows the
/// disk full (refused before writing); otherwise the writes themselves fail half-way.
fn full_disk_round(seen: bool) {
    let dir = tempfile::tempdir().unwrap();
    let switch = FullDiskSwitch::new();
    let store = open(dir.path(), &switch);
    store.lists().apply(&blocked(0, 100)).unwrap();
    store.lists().apply(&gtins(0, 10)).unwrap();
    let version = store.lists().db_version().unwrap();

    let set = |full| {
        if seen {
            switch.set_full(full)
        } else {
            switch.set_full_unseen(full)
        }
    };
    set(true);
    for _ in 0..3 {
        for (what, result) in [
            (
                "segment",
                store.lists().apply(&blocked(100, 200)).map(|_| ()),
            ),
            ("gtin", store.lists().apply(&gtins(10, 20)).map(|_| ())),
            ("sale", store.local().sold_insert("KI-sold", 1).map(|_| ())),
        ] {
            let err = result.expect_err(what);
            assert!(err.is_out_of_space(), "{what}: {err}");
            assert!(!err.is_fatal(), "{what}: {err}");
        }
        assert!(!store.is_poisoned());
        // Still answering from the last commit, exactly.
        let lists = store.lists();
        assert!(lists.is_blocked(&ki(99), None).unwrap());
        assert!(!lists.is_blocked(&ki(100), None).unwrap());
        assert_eq!(lists.db_state(ListDb::BlockedCis).unwrap().doc_count, 100);
        assert_eq!(lists.db_state(ListDb::BlockedGtin).unwrap().doc_count, 10);
        assert_eq!(lists.db_version().unwrap(), version);
        assert_eq!(store.local().sold_get("KI-sold").unwrap(), None);
    }
    // No half-written segment is left taking space.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join(store::SEGMENTS_DIR))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    set(false);
    store.lists().apply(&blocked(100, 200)).unwrap();
    store.lists().apply(&gtins(10, 20)).unwrap();
    assert!(store.local().sold_insert("KI-sold", 1).unwrap());
    let lists = store.lists();
    assert!(lists.is_blocked(&ki(150), None).unwrap());
    assert_eq!(lists.db_state(ListDb::BlockedCis).unwrap().doc_count, 200);
    assert_eq!(lists.db_state(ListDb::BlockedGtin).unwrap().doc_count, 20);
    assert_ne!(lists.db_version().unwrap(), version);
    drop(store);

    // And the files are sound afterwards.
    let store = open(dir.path(), &switch);
    assert_eq!(
        store
            .lists()
            .db_state(ListDb::BlockedCis)
            .unwrap()
            .doc_count,
        200
    );
    assert!(store.local().sold_get("KI-sold").unwrap().is_some());
}

#[test]
fn a_full_disk_seen_in_advance_refuses_writes_until_space_returns() {
    full_disk_round(true);
}

#[test]
fn writes_failing_half_way_on_a_full_disk_are_retried_without_a_restart() {
    full_disk_round(false);
}

#[test]
fn too_little_free_space_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        reserve_bytes: u64::MAX,
        ..StoreOptions::default()
    };
    // Opening writes (table creation) too, so even that is refused with a clear reason.
    let err = Store::open(dir.path(), options).unwrap_err();
    assert!(err.is_out_of_space(), "{err}");
    assert!(err.to_string().contains("kept in reserve"), "{err}");
}
