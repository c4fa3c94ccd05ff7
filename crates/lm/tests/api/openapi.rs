//! The OpenAPI document at `/api/openapi.json`: it lists exactly what the router serves, every
//! `$ref` resolves, and real answers of the real module validate against its schemas.

use std::collections::BTreeSet;
use std::sync::Arc;

use lm::api::{ApiState, Auth, routes};
use serde_json::{Value, json};

use crate::support::{
    FAST, FakeBackend, Lm, admin, basic, http_client, json_of, ki, quick_serve_config, start,
    start_emulator, start_lm, start_with,
};

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH"];

async fn fetch_document(base: &str) -> Value {
    let response = http_client()
        .get(format!("{base}/api/openapi.json"))
        .header("Authorization", admin())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "content type of the document"
    );
    let (status, document) = json_of(response).await;
    assert_eq!(status, 200, "{document}");
    document
}

fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            pairs.insert((path.clone(), method.to_uppercase()));
        }
    }
    pairs
}

#[tokio::test]
async fn the_document_lists_every_route_the_router_serves() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let document = fetch_document(&server.base).await;
    assert_eq!(document["openapi"], "3.1.0");

    let table: BTreeSet<(String, String)> = routes::<FakeBackend>()
        .iter()
        .flat_map(|route| {
            route
                .methods
                .iter()
                .map(|method| (route.path.to_owned(), (*method).to_owned()))
        })
        .collect();
    assert_eq!(
        documented(&document),
        table,
        "document and route table differ"
    );

    let paths: BTreeSet<&String> = table.iter().map(|(path, _)| path).collect();
    for path in paths {
        for method in METHODS {
            let response = server
                .http
                .request(method.parse().unwrap(), server.url(path))
                .header("Authorization", admin())
                .json(&json!({"cis_list": ["not a KI"], "token": ""}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let operation = &document["paths"][path.as_str()][method.to_lowercase()];
            if operation.is_null() {
                assert_eq!(status, 405, "{method} {path} is served but not documented");
                continue;
            }
            assert!(
                status != 404 && status != 405,
                "{method} {path} is documented but answers {status}"
            );
            assert!(
                operation["responses"].get(status.to_string()).is_some(),
                "{method} {path} answered {status}, which its operation does not list: {}",
                operation["responses"]
            );
        }
    }
    let (status, _) = json_of(
        server
            .http
            .get(server.url("/api/v3/nothing"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
}

/// Every `{"$ref": "#/..."}` below `value`, with where it was found.
fn references(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref" {
                    out.push((
                        at.to_owned(),
                        inner.as_str().expect("$ref string").to_owned(),
                    ));
                } else {
                    references(inner, &format!("{at}/{key}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                references(inner, &format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_resolves() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let document = fetch_document(&server.base).await;
    let mut found = Vec::new();
    references(&document, "", &mut found);
    assert!(found.len() > 20, "suspiciously few references: {found:?}");
    for (at, target) in &found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: {target} is not local to the document"));
        assert!(
            document.pointer(pointer).is_some(),
            "{at}: {target} does not resolve"
        );
    }
    // Every schema the components hold compiles as JSON Schema 2020-12 (OpenAPI 3.1's dialect).
    for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
        validator(&document, schema).unwrap_or_else(|err| panic!("schema {name}: {err}"));
    }
    // Operation ids are unique (generators name functions after them).
    let mut ids = BTreeSet::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        }
    }
}

fn validator(document: &Value, schema: &Value) -> Result<jsonschema::Validator, String> {
    let mut rooted = schema.clone();
    // Local `#/components/...` references resolve against this root.
    rooted["components"] = document["components"].clone();
    jsonschema::draft202012::new(&rooted).map_err(|err| err.to_string())
}

/// Validates a real answer against the schema the document gives for it.
fn assert_documented(document: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let responses = &document["paths"][path][method.to_lowercase()]["responses"];
    assert!(!responses.is_null(), "{method} {path} is not documented");
    // A status the operation does not list is covered by its `default` response.
    let response = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
        .unwrap_or_else(|| panic!("{method} {path}: status {status} is not documented"));
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} {status}: no JSON schema"
    );
    let validator = validator(document, schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|err| format!("{} at {}", err, err.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status} does not match its schema: {errors:#?}\n{body:#}"
    );
}

async fn exchange(lm: &Lm, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = lm
        .http
        .request(method.parse().unwrap(), format!("{}{path}", lm.base))
        .header("Authorization", admin());
    if let Some(body) = body {
        request = request.json(&body);
    }
    json_of(request.send().await.unwrap()).await
}

#[tokio::test]
async fn real_answers_validate_against_the_documented_schemas() {
    let emulator = start_emulator().await;
    let blocked = ki(1, "5aBcDe!");
    let clean = ki(2, "5fUjOs7");
    emulator
        .admin
        .block(vec![blocked.clone()], None)
        .await
        .unwrap();
    emulator
        .admin
        .price(vec![crate::support::gtin(2)], Some(84423), Some(153000))
        .await
        .unwrap();
    let lm = start_lm(&emulator.url, FAST).await;
    let document = fetch_document(&lm.base).await;
    let check = |path: &'static str, method: &'static str, body: Option<Value>| {
        let lm = &lm;
        let document = &document;
        async move {
            let route = path.split('?').next().unwrap();
            let (status, answer) = exchange(lm, method, path, body).await;
            assert_documented(document, method, route, status, &answer);
            (status, answer)
        }
    };
    let v2 = json!({"cis_list": [{"cis": blocked}, {"cis": clean, "pg": 16}, {"cis": "x"}]});
    let v1 = json!({"cis_list": [blocked, clean]});

    // Before init: status not_configured, checks refused with errorCode 4045.
    check("/api/v2/status", "GET", None).await;
    check("/api/v1/status", "GET", None).await;
    let (status, refused) = check("/api/v2/cis/outCheck", "POST", Some(v2.clone())).await;
    assert_eq!((status, refused["errorCode"].as_u64()), (400, Some(4045)));

    lm.init(&emulator.token, false).await;
    let (_, status_v2) = check("/api/v2/status", "GET", None).await;
    assert!(status_v2["dbState"].is_object(), "{status_v2}");
    let (_, status_v1) = check("/api/v1/status", "GET", None).await;
    assert!(status_v1["replicationStatus"].is_object(), "{status_v1}");

    let (status, answer) = check("/api/v2/cis/outCheck", "POST", Some(v2)).await;
    assert_eq!(status, 200, "{answer}");
    let codes: Vec<&Value> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| &result["codes"][0])
        .collect();
    assert_eq!(codes[0]["isBlocked"], true, "{answer}");
    assert_eq!(answer["results"][2]["code"], 400, "{answer}");
    check("/api/v1/cis/outCheck", "POST", Some(v1.clone())).await;
    check("/api/v1/cis/check", "POST", Some(v1.clone())).await;
    let get_one = format!("/api/v1/cis/outCheck?cis={}", clean);
    let (status, answer) = exchange(&lm, "GET", &get_one, None).await;
    assert_documented(&document, "GET", "/api/v1/cis/outCheck", status, &answer);

    // The sold DB, the admin page's JSON.
    let sell = json!({"cis_list": [clean]});
    let (status, _) = check("/api/v2/cis/sell", "POST", Some(sell.clone())).await;
    assert_eq!(status, 201);
    check("/api/v2/cis/sold?limit=10", "GET", None).await;
    check("/api/v2/cis/return", "POST", Some(sell)).await;
    check("/admin/api/overview", "GET", None).await;
    check("/admin/api/sold", "GET", None).await;

    // Errors: malformed, wrong types, unknown route, wrong method, wrong credentials.
    let (status, _) = check("/api/v2/cis/outCheck", "POST", Some(json!({"cis_list": 7}))).await;
    assert_eq!(status, 400);
    let (status, _) = check("/api/v2/cis/sold?limit=99999", "GET", None).await;
    assert_eq!(status, 400);
    let (status, answer) = exchange(&lm, "GET", "/api/v2/nothing", None).await;
    assert_eq!(status, 404);
    assert_documented(&document, "GET", "/api/v2/status", 404, &answer);
    let (status, answer) = exchange(&lm, "DELETE", "/api/v2/cis/outCheck", None).await;
    assert_eq!(status, 405);
    assert_documented(&document, "POST", "/api/v2/cis/outCheck", 405, &answer);
    let response = lm
        .http
        .post(format!("{}/api/v2/cis/outCheck", lm.base))
        .header("Authorization", basic("admin", "wrong"))
        .json(&json!({"cis_list": [clean]}))
        .send()
        .await
        .unwrap();
    let (status, answer) = json_of(response).await;
    assert_documented(&document, "POST", "/api/v2/cis/outCheck", status, &answer);
    assert_eq!(status, 401);
}

/// `/metrics` is open by default and asks for Basic when configured to: the document says
/// whichever is in force, and the real answer without credentials matches it.
#[tokio::test]
async fn the_metrics_auth_in_the_document_follows_the_configuration() {
    for require in [false, true] {
        let mut state = ApiState::new(FakeBackend::ready(), Auth::new(None, vec![]));
        state.metrics_require_auth = require;
        let server = start_with(Arc::new(state), quick_serve_config()).await;
        let document = fetch_document(&server.base).await;
        let operation = &document["paths"]["/metrics"]["get"];
        let security = operation.get("security").cloned().unwrap_or(json!([]));
        let responses = &operation["responses"];
        if require {
            assert_eq!(security, json!([{"basic": []}]), "{operation}");
            assert!(responses.get("401").is_some(), "{operation}");
        } else {
            assert_eq!(security, json!([]), "{operation}");
            assert!(responses.get("401").is_none(), "{operation}");
            assert!(responses.get("429").is_none(), "{operation}");
        }
        let status = server
            .http
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, if require { 401 } else { 200 });
        assert!(
            responses.get(status.to_string()).is_some(),
            "require {require}: {status} not documented"
        );
    }
}
