//! Store behaviour against a model: feeds in order, one row per doc, tombstones, restarts.

use serde_json::json;

use super::*;

fn put(id: &str, body: serde_json::Value) -> DocChange {
    DocChange::Put {
        id: id.into(),
        body: body.as_object().cloned().unwrap_or_default(),
    }
}

#[test]
fn changes_keep_one_row_per_doc_in_update_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let db = Db::MinPrice;
    store
        .apply(
            db,
            &[put("a", json!({"mrp": 1})), put("b", json!({"mrp": 2}))],
        )
        .expect("apply");
    store
        .apply(db, &[put("a", json!({"mrp": 3}))])
        .expect("apply");
    // An identical body makes no new revision.
    assert_eq!(
        store
            .apply(db, &[put("b", json!({"mrp": 2}))])
            .expect("apply"),
        0
    );
    store
        .apply(db, &[DocChange::Delete { id: "b".into() }])
        .expect("apply");

    let page = store.changes(db, 0, 100).expect("changes");
    let rows: Vec<_> = page
        .rows
        .iter()
        .map(|r| (r.id.as_str(), r.seq, r.deleted))
        .collect();
    assert_eq!(rows, vec![("a", 3, false), ("b", 4, true)]);
    assert_eq!(page.last_seq, 4);
    assert_eq!(page.rows[0].doc()["mrp"], 3);
    assert!(page.rows[0].rev.starts_with("2-"));
    assert_eq!(page.rows[1].doc()["_deleted"], true);

    let resumed = store.changes(db, 3, 100).expect("changes");
    assert_eq!(resumed.rows.len(), 1);
    let limited = store.changes(db, 0, 1).expect("changes");
    assert_eq!(
        (limited.rows.len(), limited.last_seq, limited.pending),
        (1, 3, 1)
    );

    let stats = store.db_stats(db).expect("stats");
    assert_eq!(
        (stats.doc_count, stats.doc_del_count, stats.update_seq),
        (1, 1, 4)
    );
}

#[test]
fn blocking_keeps_grey_gtins_in_step_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("open");
        let items = vec![
            ("k1".to_string(), "g".to_string()),
            ("k2".to_string(), "g".to_string()),
        ];
        assert_eq!(store.block_codes(&items, None).expect("block"), 2);
        assert_eq!(store.db_stats(Db::GreyGtin).expect("stats").doc_count, 1);
        assert_eq!(
            store.unblock_codes(&["k1".to_string()]).expect("unblock"),
            1
        );
        assert_eq!(store.db_stats(Db::GreyGtin).expect("stats").doc_count, 1);
        store.add_token("t", "7700000001").expect("token");
    }
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(
        store.token_inn("t").expect("token").as_deref(),
        Some("7700000001")
    );
    assert_eq!(
        store
            .unblock_codes(&["k2".to_string(), "k9".to_string()])
            .expect("unblock"),
        1
    );
    let grey = store.changes(Db::GreyGtin, 0, 10).expect("changes");
    assert_eq!(grey.rows.len(), 1);
    assert!(grey.rows[0].deleted);
    let cis = store.changes(Db::BlockedCis, 0, 10).expect("changes");
    assert!(cis.rows.iter().all(|r| r.deleted));
    assert_eq!(*store.watch_seq(Db::BlockedCis).borrow(), 4);
}

#[test]
fn local_docs_get_increasing_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let body = json!({"last_seq": 5})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let written = |rev: &str| LocalPut::Written { rev: rev.into() };
    assert_eq!(
        store
            .put_local_doc(Db::BlockedCis, "x", body.clone())
            .expect("put"),
        written("0-1")
    );
    // Without the stored revision, or with an old one, the write is a conflict.
    assert_eq!(
        store
            .put_local_doc(Db::BlockedCis, "x", body.clone())
            .expect("put"),
        LocalPut::Conflict {
            given: None,
            stored: Some("0-1".into())
        }
    );
    let mut next = body.clone();
    next.insert("_rev".into(), json!("0-1"));
    assert_eq!(
        store
            .put_local_doc(Db::BlockedCis, "x", next.clone())
            .expect("put"),
        written("0-2")
    );
    assert!(matches!(
        store.put_local_doc(Db::BlockedCis, "x", next).expect("put"),
        LocalPut::Conflict { .. }
    ));
    let mut fresh = body;
    fresh.insert("_rev".into(), json!("0-7"));
    assert!(matches!(
        store
            .put_local_doc(Db::BlockedCis, "y", fresh)
            .expect("put"),
        LocalPut::Conflict { stored: None, .. }
    ));
    let doc = store
        .local_doc(Db::BlockedCis, "x")
        .expect("get")
        .expect("present");
    assert_eq!(doc["_id"], "_local/x");
    assert_eq!(doc["last_seq"], 5);
    assert!(store.local_doc(Db::MinPrice, "x").expect("get").is_none());
}
