//! Model-based test: random batches applied to the store and to a `BTreeMap` model, random
//! "crash" points (a batch that fails part-way is dropped without commit; the store is dropped
//! and reopened; a segment file is left behind as by a crash between writing it and committing
//! the transaction that names it), resets, and after every reopen the store equals the model at
//! the last committed batch. Batches are small and many, so `blocked_cis` goes through blind
//! first-pull writes, the merge that completes the pull, looked-up incremental changes,
//! tombstones and segment merges.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use store::{
    Batch, Gtin, KiFingerprint, ListChange, ListDb, ListSnapshot, MinPrice, Store, StoreOptions,
};

#[derive(Debug, Clone)]
enum Op {
    /// Apply a batch; with `fail_at = Some(i)` a change that does not fit the list is slipped in
    /// at position `i`, so the transaction fails part-way and must leave nothing behind.
    Apply {
        batch: Batch,
        fail_at: Option<usize>,
    },
    /// Drop the store (a crash between transactions) and open it again.
    Reopen,
    /// Empty one list and forget its checkpoint (a mode switch or re-initialisation).
    Reset(ListDb),
    /// Drop the store, leave a stray segment behind (written, never committed), reopen.
    CrashAfterSegmentWrite,
}

fn gtin(n: u64) -> Gtin {
    Gtin::parse(&format!("{:014}", 4_600_000_000_000 + n)).unwrap()
}

fn ki(n: u32) -> KiFingerprint {
    KiFingerprint::of(&format!("0104600000000000215KI{n:04}"))
}

fn change_for(db: ListDb) -> impl Strategy<Value = ListChange> {
    let price = (proptest::option::of(0u64..5), proptest::option::of(0u64..5))
        .prop_map(|(mrp, smp)| MinPrice { mrp, smp });
    match db {
        ListDb::BlockedCis => prop_oneof![
            3 => (0u32..300).prop_map(|n| ListChange::BlockKi(ki(n))),
            1 => (0u32..300).prop_map(|n| ListChange::RemoveKi(ki(n))),
        ]
        .boxed(),
        ListDb::BlockedGtin | ListDb::GreyGtin => prop_oneof![
            3 => (0u64..20).prop_map(|n| ListChange::ListGtin(gtin(n))),
            1 => (0u64..20).prop_map(|n| ListChange::RemoveGtin(gtin(n))),
        ]
        .boxed(),
        ListDb::MinPrice => prop_oneof![
            3 => ((0u64..20), price).prop_map(|(n, p)| ListChange::Price(gtin(n), p)),
            1 => (0u64..20).prop_map(|n| ListChange::RemoveGtin(gtin(n))),
        ]
        .boxed(),
    }
}

fn batch() -> impl Strategy<Value = Batch> {
    proptest::sample::select(ListDb::ALL.to_vec()).prop_flat_map(|db| {
        (
            proptest::collection::vec(change_for(db), 0..40),
            0u64..1000,
            any::<bool>(),
            0u64..3,
        )
            .prop_map(move |(changes, seq, caught_up, unmapped)| Batch {
                db,
                changes,
                // Opaque sequences: sometimes a number, sometimes CouchDB's string form.
                checkpoint: if seq % 2 == 0 {
                    seq.to_string()
                } else {
                    format!("\"{seq}-g1AAAAB\"")
                },
                caught_up,
                unmapped,
            })
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (batch(), proptest::option::of(0usize..12)).prop_map(|(batch, fail_at)| Op::Apply {
            fail_at: fail_at.map(|i| i.min(batch.changes.len())),
            batch,
        }),
        1 => Just(Op::Reopen),
        1 => Just(Op::CrashAfterSegmentWrite),
        1 => proptest::sample::select(ListDb::ALL.to_vec()).prop_map(Op::Reset),
    ]
}

#[derive(Debug, Default)]
struct Model {
    lists: ListSnapshot,
    checkpoints: BTreeMap<ListDb, String>,
    pulled: BTreeSet<ListDb>,
    unmapped: BTreeMap<ListDb, u64>,
}

impl Model {
    fn apply(&mut self, batch: &Batch) {
        let lists = &mut self.lists;
        for change in &batch.changes {
            match (batch.db, change) {
                (ListDb::BlockedCis, ListChange::BlockKi(k)) => {
                    lists.blocked_cis.insert(k.0);
                }
                (ListDb::BlockedCis, ListChange::RemoveKi(k)) => {
                    lists.blocked_cis.remove(&k.0);
                }
                (ListDb::BlockedGtin, ListChange::ListGtin(g)) => {
                    lists.blocked_gtin.insert(g.as_u64());
                }
                (ListDb::BlockedGtin, ListChange::RemoveGtin(g)) => {
                    lists.blocked_gtin.remove(&g.as_u64());
                }
                (ListDb::GreyGtin, ListChange::ListGtin(g)) => {
                    lists.grey_gtin.insert(g.as_u64());
                }
                (ListDb::GreyGtin, ListChange::RemoveGtin(g)) => {
                    lists.grey_gtin.remove(&g.as_u64());
                }
                (ListDb::MinPrice, ListChange::Price(g, p)) => {
                    lists.min_price.insert(g.as_u64(), *p);
                }
                (ListDb::MinPrice, ListChange::RemoveGtin(g)) => {
                    lists.min_price.remove(&g.as_u64());
                }
                other => panic!("generator produced {other:?}"),
            }
        }
        self.checkpoints.insert(batch.db, batch.checkpoint.clone());
        if batch.caught_up {
            self.pulled.insert(batch.db);
        }
        *self.unmapped.entry(batch.db).or_default() += batch.unmapped;
    }

    fn reset(&mut self, db: ListDb) {
        match db {
            ListDb::BlockedCis => self.lists.blocked_cis.clear(),
            ListDb::BlockedGtin => self.lists.blocked_gtin.clear(),
            ListDb::GreyGtin => self.lists.grey_gtin.clear(),
            ListDb::MinPrice => self.lists.min_price.clear(),
        }
        self.checkpoints.remove(&db);
        self.pulled.remove(&db);
        self.unmapped.remove(&db);
    }

    fn len(&self, db: ListDb) -> u64 {
        let len = match db {
            ListDb::BlockedCis => self.lists.blocked_cis.len(),
            ListDb::BlockedGtin => self.lists.blocked_gtin.len(),
            ListDb::GreyGtin => self.lists.grey_gtin.len(),
            ListDb::MinPrice => self.lists.min_price.len(),
        };
        len as u64
    }
}

/// A change of the wrong kind for `db`: the store must refuse the whole batch.
fn misfit(db: ListDb) -> ListChange {
    match db {
        ListDb::BlockedCis => ListChange::ListGtin(gtin(0)),
        _ => ListChange::BlockKi(ki(0)),
    }
}

/// Leaves a copy of an existing segment under a new id, or a half-written file when there is
/// none: what a crash between writing a segment and committing its manifest leaves.
fn leave_stray_segment(dir: &std::path::Path) {
    let segments = dir.join("blocked_cis.segments");
    let existing = std::fs::read_dir(&segments)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "seg"));
    let stray = segments.join("7fffffffffffffff.seg");
    match existing {
        Some(path) => std::fs::copy(path, stray).map(drop).unwrap(),
        None => std::fs::write(segments.join("7ffffffffffffffe.seg.tmp"), b"half").unwrap(),
    }
}

fn assert_equal(store: &Store, model: &Model) {
    let lists = store.lists();
    assert_eq!(lists.snapshot().unwrap(), model.lists);
    for db in ListDb::ALL {
        let state = lists.db_state(db).unwrap();
        assert_eq!(
            state.checkpoint.as_ref(),
            model.checkpoints.get(&db),
            "{db:?}"
        );
        if db == ListDb::BlockedCis && !state.pulled {
            // During the first pull blocked_cis is written blind: a document sent twice counts
            // twice until the pull completes (never fewer than the model).
            assert!(state.doc_count >= model.len(db), "{db:?}");
        } else {
            assert_eq!(state.doc_count, model.len(db), "{db:?}");
        }
        assert_eq!(state.pulled, model.pulled.contains(&db), "{db:?}");
        assert_eq!(
            state.unmapped,
            model.unmapped.get(&db).copied().unwrap_or(0)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn store_equals_model_at_last_committed_batch(ops in proptest::collection::vec(op(), 1..48)) {
        let dir = tempfile::tempdir().unwrap();
        let open = || Store::open(dir.path(), StoreOptions::default()).unwrap().0;
        let mut store = open();
        let mut model = Model::default();
        for op in &ops {
            match op {
                Op::Apply { batch, fail_at: None } => {
                    let before = store.lists().db_version().unwrap();
                    let changed = store.lists().apply(batch).unwrap();
                    let after = store.lists().db_version().unwrap();
                    let old = model.lists.clone();
                    model.apply(batch);
                    // A batch that changes the content always gets a new dbVersion (one whose
                    // changes cancel out within the batch may get one too).
                    if old != model.lists {
                        prop_assert!(changed);
                    }
                    prop_assert_eq!(before != after, changed);
                }
                Op::Apply { batch, fail_at: Some(at) } => {
                    let mut broken = batch.clone();
                    broken.changes.insert(*at, misfit(batch.db));
                    prop_assert!(store.lists().apply(&broken).is_err());
                    prop_assert!(!store.lists().is_poisoned());
                }
                Op::Reopen => {
                    drop(store);
                    store = open();
                    assert_equal(&store, &model);
                }
                Op::CrashAfterSegmentWrite => {
                    drop(store);
                    leave_stray_segment(dir.path());
                    let (reopened, report) = Store::open(dir.path(), StoreOptions::default()).unwrap();
                    prop_assert_eq!(report.quarantined, None);
                    store = reopened;
                    assert_equal(&store, &model);
                }
                Op::Reset(db) => {
                    store.lists().reset(*db).unwrap();
                    model.reset(*db);
                }
            }
        }
        drop(store);
        let store = open();
        assert_equal(&store, &model);
    }
}
