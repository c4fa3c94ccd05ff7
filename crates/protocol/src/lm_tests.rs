//! Round trips of every JSON example of protocol.md §3: parse, check a few fields, write back,
//! and compare with the original as JSON values.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;

fn round_trip<T: Serialize + DeserializeOwned>(example: Value) -> T {
    let parsed: T = serde_json::from_value(example.clone()).expect("example parses");
    let written = serde_json::to_value(&parsed).expect("writes");
    assert_eq!(written, example, "round trip changed the JSON");
    parsed
}

#[test]
fn init_request() {
    let init: InitRequest = round_trip(json!({"token": "X-API-KEY"}));
    assert_eq!(init.token, "X-API-KEY");
    assert_eq!(init.clear_sold, None);
    let full: InitRequest =
        round_trip(json!({"token": "t", "clearSold": true, "enableGreyList": false}));
    assert_eq!(full.clear_sold, Some(true));
    assert_eq!(full.enable_grey_list, Some(false));
}

#[test]
fn status_v2_example() {
    let status: Status = round_trip(json!({
        "version": "2.1.0-627",
        "status": "ready",
        "serviceUrl": "https://rsapi.crpt.ru",
        "operationMode": "active",
        "name": "regime",
        "lastUpdate": 1775204403800_i64,
        "lastSync": 1775204403800_i64,
        "inst": "019d5226-37e6-7c0f-8393-3aa7beae6e9d",
        "inn": "7731376812",
        "dbVersion": "019d4daa-828a-7bb3-95e1-9d05dcc8e665",
        "dbState": {
            "min_price": {"docCount": 1232820},
            "blocked_gtin": {"docCount": 1914},
            "blocked_cis": {"docCount": 785214}
        }
    }));
    assert_eq!(status.status, ModuleState::Ready);
    assert_eq!(status.operation_mode, OperationMode::Active);
    let db = status.db_state.expect("dbState");
    assert_eq!(db["blocked_cis"].doc_count, 785214);
}

#[test]
fn status_v1_with_replication_counters() {
    let status: Status = round_trip(json!({
        "version": "1.5.0",
        "status": "sync_error",
        "serviceUrl": "https://rsapi.crpt.ru",
        "requiresDownload": false,
        "replicationStatus": {
            "cis": {"localDocCount": 10, "serverDocCount": 12, "timeLag": 3000},
            "blocked_gtin": {"localDocCount": "unknown", "serverDocCount": "unknown",
                             "timeLag": "unknown"}
        },
        "operationMode": "service",
        "lastUpdate": 1,
        "lastSync": 0,
        "inn": "7731376812",
        "dbVersion": "v",
        "isGreyGtin": true,
        "inst": "i",
        "name": "regime"
    }));
    assert_eq!(status.status, ModuleState::SyncError);
    let repl = status.replication_status.expect("replicationStatus");
    assert_eq!(repl["cis"].time_lag, Some(Counter::Number(3000)));
    assert_eq!(
        repl["blocked_gtin"].local_doc_count,
        Some(Counter::Text("unknown".into()))
    );
}

#[test]
fn status_tolerates_unknown_fields_and_states() {
    let status: Status = serde_json::from_value(json!({
        "version": "9", "status": "hibernating", "serviceUrl": "", "operationMode": "warp",
        "name": "regime", "lastUpdate": 0, "lastSync": 0, "inst": "", "inn": "",
        "dbVersion": "", "info": {"anything": 1}
    }))
    .expect("parses");
    assert_eq!(status.status, ModuleState::Unknown);
    assert_eq!(status.operation_mode, OperationMode::Unknown);
}

#[test]
fn out_check_v2_request() {
    let req: OutCheckRequest = round_trip(json!({
        "cis_list": [
            {"cis": "0104850013000162215aBcDe!", "pg": 16},
            {"cis": "0104850013000162215fUjOs7DMo,Tf"}
        ]
    }));
    assert_eq!(req.cis_list[0].pg, Some(16));
    assert_eq!(req.cis_list[1].pg, None);
}

#[test]
fn out_check_v2_response() {
    let resp: OutCheckResponse = round_trip(json!({"results": [
      {"version": "7312a9ab-e26d-476d-848f-4d18030eb5d3", "reqTimestamp": 1745586780302_i64,
       "reqId": "960df5f6-d365-8c7e-c7d2-b5b25f002385",
       "inst": "e5c1c79e-b3e8-4f59-868d-044db5e405ee",
       "description": "ok",
       "codes": [{"isGreyGtin": false, "isBlocked": false, "mrp": 84423, "smp": 153000,
                  "gtin": "04850013000162", "cis": "0104850013000162215aBcDe!", "sold": false}],
       "code": 0},
      {"version": "7312a9ab-e26d-476d-848f-4d18030eb5d3", "reqTimestamp": 1745586780302_i64,
       "reqId": "960df5f6-d365-8c7e-c7d2-b5b25f0008bb",
       "inst": "e5c1c79e-b3e8-4f59-868d-044db5e405ee",
       "description": "ok",
       "codes": [{"printView": "0104850013000162215fUjOs7DMo,Tf", "isGreyGtin": false,
                  "isBlocked": true, "smp": 153000, "gtin": "04850013000162",
                  "cis": "0104850013000162215fUjOs7DMo,Tf", "sold": false}],
       "code": 0}
    ]}));
    assert_eq!(resp.results.len(), 2);
    assert_ne!(resp.results[0].req_id, resp.results[1].req_id);
    let first = &resp.results[0].codes.as_ref().expect("codes")[0];
    assert_eq!(first.mrp, Some(Some(84423)));
    assert_eq!(first.sold, Some(false));
    let second = &resp.results[1].codes.as_ref().expect("codes")[0];
    assert!(second.is_blocked);
    assert_eq!(second.mrp, None);
}

#[test]
fn out_check_v2_reads_the_old_ver_name() {
    let result: CheckResult = serde_json::from_value(json!({
        "code": 0, "description": "ok", "reqId": "r", "reqTimestamp": 1, "inst": "i", "ver": "v"
    }))
    .expect("parses");
    assert_eq!(result.version, "v");
    assert_eq!(result.codes, None);
}

#[test]
fn out_check_v1_request_and_flat_answer() {
    let req: CisList = round_trip(json!({"cis_list": ["01048657365749062155esJWe"]}));
    assert_eq!(req.cis_list.len(), 1);
    let resp: OutCheckV1Response = round_trip(json!({"code":0,
       "codes":[{"cis":"0104603586014674215012516137746","gtin":"04603586014674",
                 "isBlocked":false, "isGreyGtin":false,
                 "printView":"0104603586014674215012516137746"}],
       "description":"ok","inst":"84c4d96a-1c44-4660-a1a2-1b0220f72d07",
       "reqId":"36a8eed9-b8f9-899b-5cd0-b2114b102dc6","reqTimestamp":1748622685213_i64}));
    assert_eq!(resp.version, None);
    assert_eq!(resp.codes.expect("codes")[0].sold, None);
}

#[test]
fn grey_list_request() {
    let req: GreyListRequest = round_trip(json!({"enableGreyList": true}));
    assert!(req.enable_grey_list);
}

#[test]
fn sell_return_and_sold() {
    let sell: CisList = round_trip(json!({"cis_list":["01048657365749062155esJWe",
        "0104850013000162215fUjOs7DMo,Tf"]}));
    assert_eq!(sell.cis_list.len(), 2);
    let sold: CisOutcomes = round_trip(json!({"results":[
        {"success": true, "cis": "01048657365749062155esJWe"},
        {"success": false, "cis": "0104850013000162215fUjOs7DMo,Tf"}]}));
    assert!(sold.results[0].success);
    let page: SoldPage = round_trip(json!({"total_count": 11,
        "cis_list": ["01048657365749062155esJWe ", "0104850013000162215fUjOs7DMo,Tf "]}));
    assert_eq!(page.total_count, 11);
    let query: SoldQuery = round_trip(json!({"skip": 5, "limit": 2}));
    assert_eq!(query.limit, Some(2));
}

#[test]
fn error_body() {
    let err: ErrorBody = round_trip(json!({"code": 400, "description": "module is not ready",
                                          "errorCode": 4045}));
    assert_eq!(err.error_code, Some(ERROR_NOT_READY));
    let plain: ErrorBody = round_trip(json!({"code": 401, "description": "unauthorised"}));
    assert_eq!(plain.error_code, None);
}

#[test]
fn mrp_null_is_kept_apart_from_absent() {
    let code: ModuleCode = round_trip(json!({"cis": "c", "gtin": "g", "isBlocked": false,
        "isGreyGtin": false, "sold": false, "mrp": null}));
    assert_eq!(code.mrp, Some(None));
    assert_eq!(code.mrp.flatten(), None);
    let absent: ModuleCode = round_trip(json!({"cis": "c", "gtin": "g", "isBlocked": false,
        "isGreyGtin": false}));
    assert_eq!(absent.mrp, None);
}
