//! Lookups, the sold DB with its retention, identity, and the start-up integrity check.

use std::path::Path;

use store::{
    Batch, Gtin, Identity, KiFingerprint, ListChange, ListDb, MinPrice, SOLD_RETENTION_MS, Store,
    StoreError, StoreOptions,
};

const KI: &str = "0104850013000162215fUjOs7DMo,Tf";
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

fn open(dir: &Path) -> Store {
    Store::open(dir, StoreOptions::default()).unwrap().0
}

fn gtin(text: &str) -> Gtin {
    Gtin::parse(text).unwrap()
}

fn batch(db: ListDb, changes: Vec<ListChange>, checkpoint: &str) -> Batch {
    Batch {
        db,
        changes,
        checkpoint: checkpoint.into(),
        caught_up: true,
        unmapped: 0,
    }
}

fn fill(store: &Store) {
    let lists = store.lists();
    lists
        .apply(&batch(
            ListDb::BlockedCis,
            vec![ListChange::BlockKi(KiFingerprint::of(KI))],
            "1",
        ))
        .unwrap();
    lists
        .apply(&batch(
            ListDb::BlockedGtin,
            vec![ListChange::ListGtin(gtin("04600000000013"))],
            "2",
        ))
        .unwrap();
    lists
        .apply(&batch(
            ListDb::GreyGtin,
            vec![ListChange::ListGtin(gtin("04850013000162"))],
            "3",
        ))
        .unwrap();
    let price = MinPrice {
        mrp: Some(84423),
        smp: Some(153000),
    };
    lists
        .apply(&batch(
            ListDb::MinPrice,
            vec![ListChange::Price(gtin("04850013000162"), price)],
            "4",
        ))
        .unwrap();
}

#[test]
fn lookups_answer_from_every_list() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    fill(&store);
    let lists = store.lists();
    let hit = lists.lookup(KI, Some(gtin("04850013000162"))).unwrap();
    assert!(hit.ki_blocked && hit.grey_gtin && !hit.gtin_blocked);
    assert_eq!(
        hit.min_price,
        Some(MinPrice {
            mrp: Some(84423),
            smp: Some(153000)
        })
    );
    assert!(
        lists
            .is_blocked("0104600000000013215other", Some(gtin("04600000000013")))
            .unwrap()
    );
    assert!(
        !lists
            .is_blocked("0104600000000020215other", Some(gtin("04600000000020")))
            .unwrap()
    );
    assert!(!lists.is_blocked("0104600000000020215other", None).unwrap());
    assert!(lists.is_grey(gtin("04850013000162")).unwrap());
    assert_eq!(lists.min_price(gtin("04600000000013")).unwrap(), None);
    assert_eq!(lists.db_state(ListDb::MinPrice).unwrap().doc_count, 1);
    assert_eq!(
        lists
            .db_state(ListDb::MinPrice)
            .unwrap()
            .checkpoint
            .as_deref(),
        Some("4")
    );
}

#[test]
fn reset_empties_one_list_and_renames_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    fill(&store);
    let before = store.lists().db_version().unwrap();
    store.lists().reset(ListDb::BlockedCis).unwrap();
    assert_ne!(store.lists().db_version().unwrap(), before);
    let state = store.lists().db_state(ListDb::BlockedCis).unwrap();
    assert_eq!(
        (state.checkpoint, state.doc_count, state.pulled),
        (None, 0, false)
    );
    assert!(!store.lists().lookup(KI, None).unwrap().ki_blocked);
    assert_eq!(
        store.lists().db_state(ListDb::GreyGtin).unwrap().doc_count,
        1
    );
}

#[test]
fn a_misfit_change_is_refused_and_nothing_of_the_batch_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let bad = batch(
        ListDb::BlockedCis,
        vec![
            ListChange::BlockKi(KiFingerprint::of(KI)),
            ListChange::ListGtin(gtin("04600000000013")),
        ],
        "9",
    );
    let err = store.lists().apply(&bad).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::KeyMismatch {
                db: "blocked_cis",
                key: "GTIN"
            }
        ),
        "{err}"
    );
    assert!(!store.lists().is_blocked(KI, None).unwrap());
    assert_eq!(
        store
            .lists()
            .db_state(ListDb::BlockedCis)
            .unwrap()
            .checkpoint,
        None
    );
}

#[test]
fn sold_db_records_lists_and_forgets_sales() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let local = store.local();
    for (i, ki) in ["c", "a", "b"].into_iter().enumerate() {
        assert!(local.sold_insert(ki, 1000 + i as u64).unwrap());
    }
    assert!(
        !local.sold_insert("a", 5000).unwrap(),
        "second sale of the same KI"
    );
    assert_eq!(
        local.sold_get("a").unwrap(),
        Some(1001),
        "first sale time is kept"
    );
    assert_eq!(
        local.sold_list(0, 100).unwrap(),
        (3, vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(local.sold_list(1, 1).unwrap(), (3, vec!["b".into()]));
    assert_eq!(local.sold_list(5, 10).unwrap(), (3, vec![]));
    assert!(local.sold_remove("b").unwrap());
    assert!(!local.sold_remove("b").unwrap());
    assert_eq!(local.sold_count().unwrap(), 2);
    local.sold_clear().unwrap();
    assert_eq!(local.sold_list(0, 100).unwrap(), (0, vec![]));
}

#[test]
fn sales_expire_after_thirty_days_by_the_given_clock() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let local = store.local();
    let t0 = 1_775_204_403_800;
    local.sold_insert("old", t0).unwrap();
    local.sold_insert("new", t0 + DAY_MS).unwrap();
    assert_eq!(local.sold_purge(t0 + SOLD_RETENTION_MS - 1).unwrap(), 0);
    assert_eq!(local.sold_purge(t0 + SOLD_RETENTION_MS + 1).unwrap(), 1);
    assert_eq!(local.sold_get("old").unwrap(), None);
    assert_eq!(local.sold_get("new").unwrap(), Some(t0 + DAY_MS));
    // a returned-then-resold KI expires from its new sale time
    assert!(local.sold_remove("new").unwrap());
    local.sold_insert("new", t0 + 40 * DAY_MS).unwrap();
    assert_eq!(local.sold_purge(t0 + 60 * DAY_MS).unwrap(), 0);
    assert_eq!(local.sold_count().unwrap(), 1);
}

#[test]
fn identity_and_status_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let identity = Identity {
        inst: "019d5226-37e6-7c0f-8393-3aa7beae6e9d".into(),
        inn: "7731376812".into(),
        service_url: "http://127.0.0.1:1".into(),
        token: "token".into(),
        source: "{}".into(),
        grey_mode: true,
    };
    {
        let store = open(dir.path());
        assert_eq!(store.local().identity().unwrap(), None);
        store.local().set_identity(Some(&identity)).unwrap();
        store.local().set_status("initialization").unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.local().identity().unwrap(), Some(identity));
    assert_eq!(
        store.local().status().unwrap().as_deref(),
        Some("initialization")
    );
    store.local().set_identity(None).unwrap();
    assert_eq!(store.local().identity().unwrap(), None);
}

#[test]
fn damaged_lists_are_quarantined_and_sales_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        fill(&store);
        store.local().sold_insert(KI, 1).unwrap();
    }
    let lists = dir.path().join("lists.redb");
    let mut bytes = std::fs::read(&lists).unwrap();
    let len = bytes.len();
    // Damage the committed pages (past the header), where the tables live.
    for byte in &mut bytes[len / 2..] {
        *byte ^= 0x5a;
    }
    std::fs::write(&lists, &bytes).unwrap();

    let (store, report) = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let aside = report.quarantined.expect("quarantined");
    assert!(report.damage.is_some());
    assert_eq!(
        std::fs::read(&aside).unwrap(),
        bytes,
        "kept aside byte for byte"
    );
    assert!(!store.lists().is_blocked(KI, None).unwrap());
    for db in ListDb::ALL {
        assert_eq!(store.lists().db_state(db).unwrap(), Default::default());
    }
    assert_eq!(store.local().sold_get(KI).unwrap(), Some(1));
}

#[test]
fn a_file_that_is_not_a_database_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lists.redb"), b"not a database at all").unwrap();
    let (_store, report) = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert!(report.quarantined.is_some());
}

#[test]
fn a_damaged_sold_db_stops_the_open_and_is_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.redb");
    std::fs::write(&local, b"garbage").unwrap();
    let err = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::LocalDamaged { .. }), "{err}");
    assert!(err.to_string().contains("local.redb"), "{err}");
    assert_eq!(std::fs::read(&local).unwrap(), b"garbage");
}

#[test]
fn a_store_open_elsewhere_is_refused_not_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let err = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyOpen(_)), "{err}");
    // local.redb, lists.redb and the segment directory: nothing renamed aside.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("blocked_cis.segments"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn a_bit_flip_in_a_segment_quarantines_the_lists_and_keeps_sales() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        fill(&store);
        store.local().sold_insert(KI, 1).unwrap();
        assert!(store.lists().is_blocked(KI, None).unwrap());
    }
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let mut bytes = std::fs::read(&files[0]).unwrap();
    bytes[40] ^= 0x04;
    std::fs::write(&files[0], &bytes).unwrap();

    let (store, report) = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert!(report.quarantined.is_some());
    let damage = report.damage.unwrap();
    assert!(damage.contains("checksum"), "{damage}");
    // The damaged segment is kept aside with its directory, byte for byte.
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("blocked_cis.segments.damaged-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    let kept = std::fs::read(aside[0].join(files[0].file_name().unwrap())).unwrap();
    assert_eq!(kept, bytes);
    // Never a wrong answer from damaged data: the lists are empty and must be re-synced.
    assert!(!store.lists().is_blocked(KI, None).unwrap());
    assert_eq!(
        store.lists().db_state(ListDb::BlockedCis).unwrap(),
        Default::default()
    );
    assert_eq!(store.local().sold_get(KI).unwrap(), Some(1));
}

#[test]
fn a_missing_segment_is_damage_and_an_orphan_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        fill(&store);
    }
    let files = segment_files(dir.path());
    // A segment written by a transaction that never committed, and a half-written one.
    let orphan = files[0].with_file_name("00000000000000ff.seg");
    std::fs::copy(&files[0], &orphan).unwrap();
    let half = files[0].with_file_name("0000000000000100.seg.tmp");
    std::fs::write(&half, b"half").unwrap();
    {
        let (store, report) = Store::open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(report.quarantined, None);
        assert!(store.lists().is_blocked(KI, None).unwrap());
        assert_eq!(segment_files(dir.path()), files);
    }
    std::fs::remove_file(&files[0]).unwrap();
    let (store, report) = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert!(report.damage.unwrap().contains("missing"));
    assert!(!store.lists().is_blocked(KI, None).unwrap());
}
