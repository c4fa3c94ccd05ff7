//! The True API token method (`POST /api/v3/true-api/auth/permissive-access`): a till that
//! obtains its X-API-KEY itself, with an INN in the data standing in for the УКЭП signer.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::harness::{Emulator, INN, start, start_in};

/// `POST` of `body` to the token method: status and JSON body.
async fn post_token_method(emu: &Emulator, body: Vec<u8>) -> (u16, Value) {
    let response = emu
        .http
        .post(format!(
            "{}/api/v3/true-api/auth/permissive-access",
            emu.main
        ))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("permissive-access");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// The request a till sends, with `signed` as the signed data.
fn request_for(signed: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "data": STANDARD.encode(signed) })).expect("json")
}

/// The access token of a 200 answer, after checking the answer's shape: exactly the four
/// fields of protocol.md §1.2 with their JSON types.
fn access_token_of(answer: &Value) -> String {
    let fields = answer.as_object().expect("an object");
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["access_token", "expires_in", "id_token", "token_type"],
        "{answer}"
    );
    assert!(answer["id_token"].is_string(), "{answer}");
    assert!(answer["expires_in"].is_i64(), "{answer}");
    assert!(answer["expires_in"].as_i64() > Some(0), "{answer}");
    assert_eq!(answer["token_type"], json!("Bearer"));
    answer["access_token"]
        .as_str()
        .expect("access_token is a string")
        .to_string()
}

#[tokio::test]
async fn a_token_from_signed_data_works_on_every_true_api_method() {
    let emu = start(1).await;
    let signed = format!("some data, signer INN {INN}, signed with a stand-in");
    let (status, answer) = post_token_method(&emu, request_for(signed.as_bytes())).await;
    assert_eq!(status, 200, "{answer}");
    let token = access_token_of(&answer);
    assert_ne!(token, emu.token, "a new token each time");
    assert!(uuid::Uuid::parse_str(&token).is_ok(), "a UUID: {token}");

    let cdn_info = format!("{}/api/v4/true-api/cdn/info", emu.main);
    let (status, hosts) = emu.get_as(&cdn_info, &token).await;
    assert_eq!(status, 200, "{hosts}");
    assert_eq!(hosts["hosts"][0]["host"], json!(emu.cdn[0]));
    let (status, health) = emu.get_as(&emu.health_url(0), &token).await;
    assert_eq!(status, 200, "{health}");

    let spec = central::issue::IssueSpec {
        pg: 1,
        count: 1,
        ..Default::default()
    };
    let codes = emu.admin.issue(&spec).await.expect("issue");
    let checked = emu.item_as(&token, &codes[0]).await;
    assert_eq!(checked["found"], json!(true), "{checked}");

    // id_token is not an X-API-KEY.
    let id_token = answer["id_token"].as_str().unwrap_or_default();
    let (status, _) = emu.get_as(&cdn_info, id_token).await;
    assert_eq!(status, 401);

    // The token is stored like an admin-made one: it outlives a restart.
    let emu = start_in(emu.stop().await, 1).await;
    let cdn_info = format!("{}/api/v4/true-api/cdn/info", emu.main);
    let (status, _) = emu.get_as(&cdn_info, &token).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn padding_is_optional_and_a_twelve_digit_inn_is_taken_too() {
    let emu = start(1).await;
    let sole_trader = "770000000123";
    emu.admin.token(sole_trader).await.expect("token");
    // 14 bytes: base64 ends in "=" that is left out here.
    let unpadded = STANDARD.encode(format!("I{sole_trader}!"));
    let unpadded = unpadded.trim_end_matches('=');
    let body = serde_json::to_vec(&json!({ "data": unpadded })).expect("json");
    let (status, answer) = post_token_method(&emu, body).await;
    assert_eq!(status, 200, "{answer}");
    let token = access_token_of(&answer);
    let (status, hosts) = emu
        .get_as(&format!("{}/api/v4/true-api/cdn/info", emu.main), &token)
        .await;
    assert_eq!(status, 200, "{hosts}");
}

#[tokio::test]
async fn an_unknown_inn_gets_401_naming_it() {
    let emu = start(1).await;
    let (status, answer) = post_token_method(&emu, request_for(b"7700000099")).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["code"], json!(401));
    let description = answer["description"].as_str().expect("description");
    assert!(description.contains("7700000099"), "{description}");
}

#[tokio::test]
async fn bad_input_gets_400_naming_the_problem() {
    let emu = start(1).await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "invalid JSON"),
        (b"".to_vec(), "invalid JSON"),
        (br#"["7700000001"]"#.to_vec(), "JSON object"),
        (br#"{}"#.to_vec(), "data: required"),
        (br#"{"data":null}"#.to_vec(), "data: required"),
        (br#"{"data":7700000001}"#.to_vec(), "not a string"),
        (br#"{"data":""}"#.to_vec(), "data: empty"),
        (br#"{"data":"not base64!"}"#.to_vec(), "not base64"),
        (request_for(b"no digits in here"), "no INN"),
        // 11 and 13 digits are not an INN.
        (request_for(b"77000000011 1027700000001"), "no INN"),
    ];
    for (body, reason) in cases {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let (status, answer) = post_token_method(&emu, body).await;
        assert_eq!(status, 400, "{shown}: {answer}");
        assert_eq!(answer["code"], json!(400), "{shown}: {answer}");
        let description = answer["description"].as_str().expect("description");
        assert!(
            description.contains(reason),
            "{shown}: {description:?} lacks {reason:?}"
        );
    }
    let (status, answer) = emu
        .get_as(
            &format!("{}/api/v3/true-api/auth/permissive-access", emu.main),
            &emu.token,
        )
        .await;
    assert_eq!((status, &answer["code"]), (405, &json!(405)));
}

/// protocol.md §1.13 names only `codes/check`, `cdn/info` and `cdn/health/check` for the 203.
#[tokio::test]
async fn emergency_mode_leaves_the_token_method_working() {
    let emu = start(1).await;
    emu.admin.emergency(true).await.expect("emergency on");
    let (status, answer) = post_token_method(&emu, request_for(INN.as_bytes())).await;
    assert_eq!(status, 200, "{answer}");
    let token = access_token_of(&answer);
    let (status, _) = emu
        .get_as(&format!("{}/api/v4/true-api/cdn/info", emu.main), &token)
        .await;
    assert_eq!(status, 203);
}

#[tokio::test]
async fn the_admin_client_obtains_a_token_the_same_way() {
    let emu = start(1).await;
    let answer = emu
        .admin
        .token_from_signed_data(INN.as_bytes())
        .await
        .expect("token method");
    assert_eq!(answer.token_type, "Bearer");
    let cdn_info = format!("{}/api/v4/true-api/cdn/info", emu.main);
    let (status, _) = emu.get_as(&cdn_info, &answer.access_token).await;
    assert_eq!(status, 200);
    match emu.admin.token_from_signed_data(b"7700000099").await {
        Err(central::client::ClientError::Api {
            status,
            description,
        }) => {
            assert_eq!(status, 401);
            assert!(description.contains("7700000099"), "{description}");
        }
        other => panic!("expected a 401, got {other:?}"),
    }
}
