//! Bad input gets a status and a JSON body with `code` and `description`, never a panic or hang.

use serde_json::{Value, json};

use crate::harness::start;

async fn post_raw(
    emu: &crate::harness::Emulator,
    url: &str,
    key: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = emu
        .http
        .post(url)
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(key) = key {
        request = request.header("X-API-KEY", key);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON body");
    (status, body)
}

#[tokio::test]
async fn true_api_rejects_bad_requests_with_json_reasons() {
    let emu = start(1).await;
    let check = format!("{}/api/v4/true-api/codes/check", emu.cdn[0]);
    let token = Some(emu.token.as_str());
    let cases: Vec<(Option<&str>, Vec<u8>, u16, &str)> = vec![
        (None, br#"{"codes":["x"]}"#.to_vec(), 401, "X-API-KEY"),
        (
            Some("12345678-1234-1234-1234-123456789012"),
            br#"{"codes":["x"]}"#.to_vec(),
            401,
            "not a token",
        ),
        (token, b"{not json".to_vec(), 400, "invalid JSON"),
        (token, br#"{"codes":"x"}"#.to_vec(), 400, "invalid JSON"),
        (token, br#"{"codes":[]}"#.to_vec(), 400, "at least one"),
        (
            token,
            br#"{"codes":["x"],"timeZone":12}"#.to_vec(),
            400,
            "timeZone",
        ),
        (token, vec![b' '; 2 << 20], 413, ""),
    ];
    for (key, body, status, reason) in cases {
        let (s, answer) = post_raw(&emu, &check, key, body).await;
        assert_eq!(s, status, "{answer}");
        assert_eq!(answer["code"], json!(status));
        let description = answer["description"].as_str().expect("description");
        assert!(
            description.contains(reason),
            "{description:?} lacks {reason:?}"
        );
    }
    let too_many: Vec<String> = (0..1001).map(|i| format!("code{i}")).collect();
    let (s, answer) = post_raw(
        &emu,
        &check,
        token,
        serde_json::to_vec(&json!({"codes": too_many})).expect("json"),
    )
    .await;
    assert_eq!(s, 400, "{answer}");

    let (s, answer) = emu
        .get(&format!("{}/api/v4/true-api/nothing", emu.cdn[0]))
        .await;
    assert_eq!((s, &answer["code"]), (404, &json!(404)));
    let (s, answer) = emu
        .get(&format!("{}/api/v4/true-api/codes/check", emu.cdn[0]))
        .await;
    assert_eq!((s, &answer["code"]), (405, &json!(405)));
    let (s, answer) = emu.get(&format!("{}/admin/v1/nothing", emu.main)).await;
    assert_eq!((s, &answer["code"]), (404, &json!(404)));
}

#[tokio::test]
async fn a_string_that_is_not_a_code_gets_an_item_without_code_fields() {
    let emu = start(1).await;
    let (s, body) = emu.check(0, "hello").await;
    assert_eq!(s, 200);
    let item = &body["codes"][0];
    assert_eq!(
        (&item["cis"], &item["valid"], &item["found"]),
        (&json!("hello"), &json!(false), &json!(false))
    );
    assert_eq!(item["errorCode"], 2);
    for absent in [
        "printView",
        "gtin",
        "groupIds",
        "isTracking",
        "sold",
        "packageType",
    ] {
        assert!(item.get(absent).is_none(), "{absent} present: {item}");
    }
}

#[tokio::test]
async fn unknown_and_tampered_codes() {
    let emu = start(1).await;
    let spec = central::issue::IssueSpec {
        pg: 1,
        count: 2,
        ..Default::default()
    };
    let codes = emu.admin.issue(&spec).await.expect("issue");
    let (_, body) = emu.check(0, &codes[0]).await;
    let item = &body["codes"][0];
    assert_eq!(
        (&item["found"], &item["verified"], &item["errorCode"]),
        (&json!(true), &json!(true), &json!(0))
    );
    assert_eq!(
        (&item["groupIds"], &item["isTracking"], &item["packageType"]),
        (&json!([1]), &json!(true), &json!("UNIT"))
    );

    // Another signature on the same KI: found, not verified.
    let mut tampered = codes[0].clone();
    let last = tampered.pop().expect("char");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let (_, body) = emu.check(0, &tampered).await;
    assert_eq!(
        (&body["codes"][0]["found"], &body["codes"][0]["verified"]),
        (&json!(true), &json!(false))
    );

    // A well-formed code the operator never issued.
    let unknown = "0104670540176099215zzzzz\u{1d}93abcd";
    let (_, body) = emu.check(0, unknown).await;
    assert_eq!(
        (&body["codes"][0]["found"], &body["codes"][0]["errorCode"]),
        (&json!(false), &json!(10))
    );
}

#[tokio::test]
async fn admin_names_the_bad_value() {
    let emu = start(1).await;
    let err = emu.admin.token("77").await.expect_err("bad inn");
    assert!(err.to_string().contains("10 or 12 digits"), "{err}");
    let err = emu
        .admin
        .block(
            vec!["0104670540176099215'W9Um".into(), "nonsense".into()],
            None,
        )
        .await
        .expect_err("bad code");
    assert!(err.to_string().contains("codes[1]"), "{err}");
    let err = emu
        .admin
        .price(vec!["04670540176098".into()], Some(1), None)
        .await
        .expect_err("bad gtin");
    assert!(err.to_string().contains("check digit"), "{err}");
    let spec = central::issue::IssueSpec {
        pg: 7,
        count: 1,
        ..Default::default()
    };
    let err = emu.admin.issue(&spec).await.expect_err("bad pg");
    assert!(err.to_string().contains("no such product group"), "{err}");
}

#[tokio::test]
async fn an_ogv_outside_the_guides_list_is_refused_and_blocks_nothing() {
    let emu = start(1).await;
    let spec = central::issue::IssueSpec {
        pg: 8,
        count: 1,
        ..Default::default()
    };
    let km = emu.admin.issue(&spec).await.expect("issue").remove(0);
    let gtin = marking::MarkingCode::parse(&km)
        .expect("parses")
        .gtin()
        .to_string();
    let refused = |err: central::client::ClientError, value: &str| match err {
        central::client::ClientError::Api {
            status: 400,
            description,
        } => assert!(
            description.contains(&format!("{value:?}")) && description.contains("VETRF"),
            "{description}"
        ),
        other => panic!("{value}: {other}"),
    };

    let err = emu
        .admin
        .block(vec![km.clone()], Some(vec!["RPN".into(), "FSTEC".into()]))
        .await
        .expect_err("block with FSTEC");
    refused(err, "FSTEC");
    // Names are as on the wire: upper case.
    let err = emu
        .admin
        .block_gtin(vec![gtin.clone()], Some(vec!["fts".into()]))
        .await
        .expect_err("block-gtin with fts");
    refused(err, "fts");
    let blocked_at_issue = central::issue::IssueSpec {
        block: Some(vec!["POLICE".into()]),
        ..spec
    };
    let err = emu
        .admin
        .issue(&blocked_at_issue)
        .await
        .expect_err("issue blocked by POLICE");
    refused(err, "POLICE");

    let (_, body) = emu.check(0, &km).await;
    assert_eq!(body["codes"][0]["isBlocked"], json!(false));
    // The answer on the wire is the JSON error.
    let (status, body) = post_raw(
        &emu,
        &format!("{}{}/block", emu.main, central::admin::PREFIX),
        None,
        serde_json::to_vec(&json!({"codes": [km], "ogvs": ["XYZ"]})).expect("json"),
    )
    .await;
    assert_eq!((status, &body["code"]), (400, &json!(400)));
    // Every authority of the guide is taken.
    let all = central::admin::OGVS.iter().map(|o| o.to_string()).collect();
    emu.admin
        .block(vec![km.clone()], Some(all))
        .await
        .expect("block");
    let (_, body) = emu.check(0, &km).await;
    assert_eq!(body["codes"][0]["ogvs"], json!(central::admin::OGVS));
}
