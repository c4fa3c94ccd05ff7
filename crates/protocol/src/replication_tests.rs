//! Round trips against CouchDB-shaped JSON (CouchDB 3 string seqs and PouchDB number seqs).

use serde_json::{Value, json};

use super::*;

#[test]
fn seq_is_kept_verbatim_whatever_its_shape() {
    for text in [r#"42"#, r#""13-g1AAAAB7eJzLYWBgYM""#, r#"[3,"abc"]"#] {
        let seq: Seq = serde_json::from_str(text).expect("parses");
        assert_eq!(serde_json::to_string(&seq).expect("serialises"), text);
    }
    assert_eq!(Seq::Number(42).to_query(), "42");
    assert_eq!(Seq::Text("13-g1A".into()).to_query(), "13-g1A");
}

#[test]
fn db_info_ignores_unknown_fields() {
    let info: DbInfo = serde_json::from_value(json!({
        "db_name": "blocked_cis", "doc_count": 785214, "doc_del_count": 3,
        "update_seq": "785217-g1AAAA", "purge_seq": 0, "compact_running": false,
        "sizes": {"active": 1, "external": 2, "file": 3}, "instance_start_time": "0"
    }))
    .expect("parses");
    assert_eq!(info.doc_count, 785_214);
    assert_eq!(info.update_seq, Seq::Text("785217-g1AAAA".into()));
}

#[test]
fn changes_feed_with_docs_and_deletion() {
    let text = r#"{
      "results": [
        {"seq": 1, "id": "0104670540176099215'W9Um", "changes": [{"rev": "1-a"}],
         "doc": {"_id": "0104670540176099215'W9Um", "_rev": "1-a",
                 "gtin": "04670540176099", "ogvs": ["RPN"]}},
        {"seq": 3, "id": "0104602220006549215opFcmK", "changes": [{"rev": "2-c"}],
         "deleted": true,
         "doc": {"_id": "0104602220006549215opFcmK", "_rev": "2-c", "_deleted": true}}
      ],
      "last_seq": 3, "pending": 0
    }"#;
    let feed: ChangesResponse = serde_json::from_str(text).expect("parses");
    let original: Value = serde_json::from_str(text).expect("json");
    assert_eq!(serde_json::to_value(&feed).expect("serialises"), original);

    let blocked: BlockedCis = feed.results[0].doc_as().expect("doc").expect("shape");
    assert_eq!(blocked.gtin, "04670540176099");
    assert_eq!(blocked.ogvs, Some(vec!["RPN".to_string()]));
    assert!(feed.results[1].deleted);
    assert!(feed.results[1].doc_as::<BlockedCis>().is_none());
    assert_eq!(feed.last_seq, Seq::Number(3));
}

#[test]
fn list_documents_round_trip_and_ignore_unknown_fields() {
    let gtin: BlockedGtin =
        serde_json::from_value(json!({"_id": "04602220006549", "ogvs": ["FTS"], "x": 1}))
            .expect("parses");
    assert_eq!(gtin.gtin, "04602220006549");
    let grey: GreyGtin =
        serde_json::from_value(json!({"_id": "04602220006549", "_rev": "1-a"})).expect("parses");
    assert_eq!(grey.rev.as_deref(), Some("1-a"));
    let price = MinPrice {
        gtin: "00840147505712".into(),
        rev: None,
        mrp: Some(20000),
        smp: None,
    };
    assert_eq!(
        serde_json::to_value(&price).expect("serialises"),
        json!({"_id": "00840147505712", "mrp": 20000})
    );
    assert!(serde_json::from_value::<BlockedCis>(json!({"_id": "k"})).is_err());
}

#[test]
fn changes_params_use_couchdb_names() {
    let params = ChangesParams {
        since: Some("now".into()),
        limit: Some(100),
        include_docs: Some(true),
        style: Some(Style::AllDocs),
        feed: Some(Feed::Longpoll),
        timeout: Some(25_000),
        heartbeat: None,
    };
    assert_eq!(
        serde_json::to_value(&params).expect("serialises"),
        json!({"since": "now", "limit": 100, "include_docs": true, "style": "all_docs",
               "feed": "longpoll", "timeout": 25000})
    );
}

#[test]
fn put_response_and_error_shapes() {
    let put: PutResponse =
        serde_json::from_str(r#"{"ok":true,"id":"_local/abc","rev":"0-1"}"#).expect("parses");
    assert!(put.ok);
    let err: CouchError =
        serde_json::from_str(r#"{"error":"not_found","reason":"missing"}"#).expect("parses");
    assert_eq!(err.error, "not_found");
}
