//! The receipt rules through the gateway (`POST /check` with `quantity` and `receipt`): no code
//! twice in one receipt, parts of a keg not over what is left. Scripted doubles on 127.0.0.1.

mod doubles;
mod support;

use doubles::{Reply, module_ok, online_ok};
use serde_json::{Value, json};
use support::Gateway;

const KM: &str = "0104670540176099215'W9Um\u{1d}93dGVz";
const KI: &str = "0104670540176099215'W9Um";
const OTHER: &str = "0104670540176099215NN*cM";

/// A gateway whose CDN host answers `online`; the module says "not sold".
async fn gateway(online: Value) -> Gateway {
    let cdn = doubles::cdn_host().await;
    cdn.always(Reply::json(200, online));
    let module = doubles::module().await;
    module.always(Reply::json(200, module_ok(KI, false)));
    Gateway::start(&cdn.url, &module.url).await
}

fn keg() -> Value {
    let mut answer = online_ok(KM, 15);
    answer["codes"][0]["innerUnitCount"] = json!(50_000);
    answer["codes"][0]["soldUnitCount"] = json!(49_000);
    answer["codes"][0]["expireDate"] = json!("2099-01-01T00:00:00.000Z");
    answer
}

async fn check(url: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{url}/check"))
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

fn codes(outcome: &Value) -> Vec<String> {
    outcome["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r["code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn the_same_code_twice_in_one_receipt_is_refused() {
    let gateway = gateway(online_ok(KM, 8)).await;

    // The old request shape still works and sees no receipt.
    let (status, outcome) = check(&gateway.url, json!({"km": KM})).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["decision"], "allow");

    let (_, outcome) = check(&gateway.url, json!({"km": KM, "receipt": [{"km": OTHER}]})).await;
    assert_eq!(outcome["decision"], "allow", "another code is no duplicate");

    // Earlier entry given as its KI, this one as the full KM: the same item.
    let (_, outcome) = check(
        &gateway.url,
        json!({"km": KM, "receipt": [{"km": OTHER}, {"km": KI}]}),
    )
    .await;
    assert_eq!(outcome["decision"], "forbid", "{outcome}");
    assert_eq!(outcome["sale_allowed"], false);
    assert_eq!(codes(&outcome), ["duplicate_in_receipt"]);
    assert_eq!(outcome["reasons"][0]["data"]["ki"], KI);
    assert_eq!(
        outcome["source"], "online",
        "the answer still shows where it came from"
    );
}

#[tokio::test]
async fn parts_of_a_keg_may_not_exceed_what_is_left() {
    let gateway = gateway(keg()).await;

    // 1 000 ml left; 300 already on this receipt.
    let receipt = json!([{"km": KM, "quantity": 300}]);
    let (_, outcome) = check(
        &gateway.url,
        json!({"km": KM, "quantity": 700, "receipt": receipt}),
    )
    .await;
    assert_eq!(outcome["decision"], "allow", "{outcome}");

    let (_, outcome) = check(
        &gateway.url,
        json!({"km": KM, "quantity": 701, "receipt": receipt}),
    )
    .await;
    assert_eq!(outcome["decision"], "forbid", "{outcome}");
    assert_eq!(codes(&outcome), ["partial_sale_exceeds_rest"]);
    let data = &outcome["reasons"][0]["data"];
    assert_eq!(
        (
            &data["rest"],
            &data["innerUnitCount"],
            &data["soldUnitCount"],
            &data["inReceipt"]
        ),
        (&json!(700), &json!(50_000), &json!(49_000), &json!(300))
    );

    // The keg sold whole earlier on this receipt: no part of it is left.
    let (_, outcome) = check(
        &gateway.url,
        json!({"km": KM, "quantity": 1, "receipt": [{"km": KM}]}),
    )
    .await;
    assert_eq!(codes(&outcome), ["duplicate_in_receipt"]);
}

#[tokio::test]
async fn bad_receipt_input_is_a_clear_error() {
    let gateway = gateway(keg()).await;
    let cases = [
        (json!({"km": KM, "receipt": [{"km": "junk"}]}), "receipt[0]"),
        (
            json!({"km": KM, "receipt": [{"km": KI, "quantity": 0}]}),
            "receipt[0]: quantity",
        ),
        (json!({"km": KM, "quantity": 0}), "quantity must be above 0"),
        (
            json!({"km": KM, "receipt": [{"km": KI, "colour": 1}]}),
            "unknown field",
        ),
        (
            json!({"km": KM, "receipt": {"km": KI}}),
            "expected a sequence",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = check(&gateway.url, body.clone()).await;
        assert_eq!(
            (status, &answer["code"]),
            (400, &json!(400)),
            "{body}: {answer}"
        );
        let message = answer["description"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{body}: {message:?}");
    }
}
