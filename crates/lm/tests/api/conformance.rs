//! Every JSON example of protocol.md §3 as a fixture: our answers carry each of its fields, with
//! the same JSON type, on the real module fed by the emulator.

use serde_json::{Value, json};

use crate::support::{gtin, ki, start_emulator, start_lm};

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of `example` is in `ours` with the same JSON type (recursing into objects and
/// into the first element of arrays).
fn assert_shape(example: &Value, ours: &Value, path: &str) {
    assert_eq!(
        kind(ours),
        kind(example),
        "{path}: type differs; ours = {ours}"
    );
    match (example, ours) {
        (Value::Object(fields), Value::Object(our_fields)) => {
            for (name, value) in fields {
                let Some(our_value) = our_fields.get(name) else {
                    panic!("{path}.{name} is missing; ours = {ours}");
                };
                assert_shape(value, our_value, &format!("{path}.{name}"));
            }
        }
        (Value::Array(items), Value::Array(our_items)) => {
            if let (Some(first), Some(our_first)) = (items.first(), our_items.first()) {
                assert_shape(first, our_first, &format!("{path}[0]"));
            }
        }
        _ => {}
    }
}

const STATUS_V2: &str = r#"{
"version": "2.1.0-627", "status": "ready", "serviceUrl": "https://rsapi.crpt.ru",
"operationMode": "active", "name": "regime", "lastUpdate": 1775204403800,
"lastSync": 1775204403800, "inst": "019d5226-37e6-7c0f-8393-3aa7beae6e9d", "inn": "7731376812",
"dbVersion": "019d4daa-828a-7bb3-95e1-9d05dcc8e665",
"dbState": {"min_price": {"docCount": 1232820}, "blocked_gtin": {"docCount": 1914},
            "blocked_cis": {"docCount": 785214}}
}"#;

const OUT_CHECK_V2: &str = r#"{"results": [
  {"version": "7312a9ab-e26d-476d-848f-4d18030eb5d3", "reqTimestamp": 1745586780302,
   "reqId": "960df5f6-d365-8c7e-c7d2-b5b25f002385", "inst": "e5c1c79e-b3e8-4f59-868d-044db5e405ee",
   "description": "ok",
   "codes": [{"isGreyGtin": false, "isBlocked": false, "mrp": 84423, "smp": 153000,
              "gtin": "04850013000162", "cis": "0104850013000162215aBcDe!", "sold": false}],
   "code": 0},
  {"version": "7312a9ab-e26d-476d-848f-4d18030eb5d3", "reqTimestamp": 1745586780302,
   "reqId": "960df5f6-d365-8c7e-c7d2-b5b25f0008bb", "inst": "e5c1c79e-b3e8-4f59-868d-044db5e405ee",
   "description": "ok",
   "codes": [{"printView": "0104850013000162215fUjOs7DMo,Tf", "isGreyGtin": false, "isBlocked": true,
              "smp": 153000, "gtin": "04850013000162", "cis": "0104850013000162215fUjOs7DMo,Tf",
              "sold": false}],
   "code": 0}
]}"#;

const OUT_CHECK_V1: &str = r#"{"code":0,
 "codes":[{"cis":"0104603586014674215012516137746","gtin":"04603586014674","isBlocked":false,
           "isGreyGtin":false,"printView":"0104603586014674215012516137746"}],
 "description":"ok","inst":"84c4d96a-1c44-4660-a1a2-1b0220f72d07",
 "reqId":"36a8eed9-b8f9-899b-5cd0-b2114b102dc6","reqTimestamp":1748622685213}"#;

/// Fields the public Zabbix template and [CASH8]/[FMU] read from v1 `status`.
const STATUS_V1: &str = r#"{"version": "1.5.0-462", "status": "ready", "serviceUrl": "https://rsapi.crpt.ru",
 "requiresDownload": false, "operationMode": "active", "lastUpdate": 1, "lastSync": 1,
 "inn": "7731376812", "dbVersion": "v", "isGreyGtin": false, "inst": "i", "name": "regime",
 "replicationStatus": {
   "cis": {"localDocCount": 0, "serverDocCount": 0, "timeLag": 0},
   "blocked_series": {"localDocCount": 0, "serverDocCount": 0, "timeLag": 0},
   "blocked_gtin": {"localDocCount": 0, "serverDocCount": 0, "timeLag": 0},
   "blocked_cis": {"localDocCount": 0, "serverDocCount": 0, "timeLag": 0}}}"#;

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

#[tokio::test]
async fn every_example_of_section_3_matches_our_answers() {
    let emulator = start_emulator().await;
    let priced = ki(7, "5aBcDe!");
    let blocked = ki(7, "5fUjOs7DMo,Tf");
    emulator
        .admin
        .block(vec![blocked.clone()], None)
        .await
        .unwrap();
    emulator
        .admin
        .price(vec![gtin(7)], Some(84423), Some(153000))
        .await
        .unwrap();
    let lm = start_lm(&emulator.url, crate::support::FAST).await;

    // Before init: status without dbState, checks refused with 4045.
    let (status, body) = lm.get("/api/v2/status").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "not_configured");
    assert!(body.get("dbState").is_none());
    assert_eq!(body["lastSync"], 0);
    let (status, body) = lm
        .post(
            "/api/v2/cis/outCheck",
            json!({"cis_list": [{"cis": priced}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_shape(
        &json!({"code": 400, "description": "", "errorCode": 4045}),
        &body,
        "not ready",
    );

    // §3.2 init: 200 and a small JSON body.
    let (status, body) = lm
        .post("/api/v2/init", json!({"token": emulator.token}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"code": 0, "description": "ok"}));
    lm.wait_status("ready").await;

    // §3.3 status v2 (+ isGreyGtin of the field table).
    let (_, ours) = lm.get("/api/v2/status").await;
    assert_shape(&parse(STATUS_V2), &ours, "status");
    assert_eq!(ours["isGreyGtin"], false);
    assert_eq!(ours["dbState"]["blocked_cis"]["docCount"], 1);
    assert_eq!(ours["dbState"]["min_price"]["docCount"], 1);
    assert_eq!(ours["inn"], "7700000001");
    assert!(ours["lastSync"].as_u64().unwrap() > 0);

    // §3.3 status v1 with replicationStatus and requiresDownload.
    let (_, ours) = lm.get("/api/v1/status").await;
    assert_shape(&parse(STATUS_V1), &ours, "v1 status");
    assert_eq!(ours["requiresDownload"], false);
    assert_eq!(ours["replicationStatus"]["blocked_cis"]["localDocCount"], 1);
    assert_eq!(
        ours["replicationStatus"]["blocked_cis"]["serverDocCount"],
        1
    );

    // §3.4 outCheck v2: one results[] element per KI, each with its own reqId.
    let request = json!({"cis_list": [{"cis": priced, "pg": 16}, {"cis": blocked}]});
    let (status, ours) = lm.post("/api/v2/cis/outCheck", request).await;
    assert_eq!(status, 200);
    assert_shape(&parse(OUT_CHECK_V2), &ours, "outCheck");
    let results = ours["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_ne!(results[0]["reqId"], results[1]["reqId"]);
    assert_eq!(results[0]["inst"], results[1]["inst"]);
    let second = &results[1]["codes"][0];
    assert_shape(
        &parse(OUT_CHECK_V2)["results"][1]["codes"][0],
        second,
        "outCheck[1]",
    );
    assert_eq!(second["isBlocked"], true);
    assert_eq!(second["printView"], blocked);

    // §3.5 v1 flat answer, POST and GET.
    let (status, ours) = lm
        .post("/api/v1/cis/outCheck", json!({"cis_list": [priced]}))
        .await;
    assert_eq!(status, 200);
    assert_shape(&parse(OUT_CHECK_V1), &ours, "v1 outCheck");
    assert!(ours.get("results").is_none());
    let (status, ours) = lm.get(&format!("/api/v1/cis/check?cis={priced}")).await;
    assert_eq!(status, 200);
    assert_shape(&parse(OUT_CHECK_V1), &ours, "v1 cis/check");

    // §3.6 sell (201), return, sold.
    let sell = json!({"cis_list": [priced, blocked]});
    let (status, ours) = lm.post("/api/v2/cis/sell", sell.clone()).await;
    assert_eq!(status, 201);
    let outcomes = parse(r#"{"results":[{"success": true, "cis": "..."}]}"#);
    assert_shape(&outcomes, &ours, "sell");
    let (_, ours) = lm.get("/api/v2/cis/sold?skip=0&limit=2").await;
    assert_shape(
        &parse(r#"{"total_count": 11, "cis_list": ["…", "…"]}"#),
        &ours,
        "sold",
    );
    let (status, ours) = lm.post("/api/v2/cis/return", sell).await;
    assert_eq!(status, 200);
    assert_shape(&outcomes, &ours, "return");
    let (status, ours) = lm
        .post("/api/v2/greyList", json!({"enableGreyList": false}))
        .await;
    assert_eq!(
        (status, ours),
        (200, json!({"code": 0, "description": "ok"}))
    );
}
