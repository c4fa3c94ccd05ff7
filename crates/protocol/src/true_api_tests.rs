//! Round trips against the JSON examples of protocol.md §1: parse the guide's text, write it back
//! and compare as JSON values, so a renamed or dropped field fails.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;

fn round_trip<T: Serialize + DeserializeOwned>(text: &str) -> T {
    let parsed: T = serde_json::from_str(text).expect("guide example parses");
    let written = serde_json::to_value(&parsed).expect("serialises");
    let original: Value = serde_json::from_str(text).expect("example is JSON");
    assert_eq!(written, original);
    parsed
}

#[test]
fn cdn_info_example() {
    let info: CdnInfo = round_trip(
        r#"{"code": 0, "description": "ok", "hosts": [
            {"host": "https://cdn01.am.crptech.ru"},
            {"host": "https://cdn02.am.crptech.ru"},
            {"host": "https://cdn03.am.crptech.ru"}]}"#,
    );
    assert_eq!(info.hosts[1].host, "https://cdn02.am.crptech.ru");
}

#[test]
fn health_check_example() {
    let health: HealthCheck = round_trip(r#"{"code": 0, "description": "ok", "avgTimeMs": 300}"#);
    assert_eq!(health.avg_time_ms, 300);
}

#[test]
fn codes_check_request_example() {
    let request: CodesCheckRequest = round_trip(
        r#"{"codes":["01048657365749062155esJWe\u001d93dGVz"],
            "fiscalDriveNumber": "1234567890123456", "timeZone": 11}"#,
    );
    assert_eq!(request.codes[0].as_bytes()[25], 0x1d);
    assert_eq!(request.time_zone, Some(11));
    let minimal: CodesCheckRequest = round_trip(r#"{"codes":["x"]}"#);
    assert_eq!(minimal.fiscal_drive_number, None);
}

#[test]
fn codes_check_response_example() {
    let response: CodesCheckResponse = round_trip(
        r#"{"code": 0, "description": "ok", "codes": [{
            "cis":"01048657365749062155esJWe93dGVz", "valid": true,
            "printView": "01048657365749062155esJWe", "gtin": "04865736574906",
            "groupIds": [15], "verified": true, "found": true, "realizable": false,
            "utilised": true, "isBlocked": false,
            "expireDate": "2024-08-16T00:00:00.000Z",
            "productionDate": "2023-08-16T00:00:00.000Z", "errorCode": 0,
            "isTracking": false, "sold": true, "packageType": "UNIT",
            "producerInn": "7731376812", "grayZone": false,
            "soldUnitCount": 49000, "innerUnitCount": 50000}],
            "reqId": "2ce10bdb-6510-4d37-be04-dd473b98c728", "reqTimestamp": 1692691702065}"#,
    );
    let code = &response.codes.as_ref().expect("codes")[0];
    assert_eq!(code.group_ids, Some(vec![15]));
    assert_eq!(code.sold_unit_count, Some(49000));
    assert_eq!(response.req_timestamp, 1_692_691_702_065);
}

#[test]
fn every_optional_field_has_its_guide_name() {
    let all = json!({
        "cis": "c", "found": true, "valid": true, "printView": "p", "gtin": "g",
        "groupIds": [3], "verified": true, "realizable": true, "utilised": true,
        "expireDate": "e", "variableExpirations": {"1": "a", "2": "b"},
        "productionDate": "d", "productWeight": 1250.5, "prVetDocument": "v",
        "isOwner": true, "isBlocked": true, "ogvs": ["RD", "VETRF"], "message": "m",
        "errorCode": 0, "isTracking": true, "sold": false, "eliminationState": 1,
        "mrp": 14500, "smp": 20000, "grayZone": false, "innerUnitCount": 20,
        "soldUnitCount": 1, "packageType": "GROUP", "packageQuantity": 10,
        "parent": "k", "producerInn": "7731376812"
    });
    let info: CodeInfo = serde_json::from_value(all.clone()).expect("parses");
    assert_eq!(serde_json::to_value(&info).expect("serialises"), all);
}

#[test]
fn code_that_is_not_a_km_omits_optional_fields() {
    let info = CodeInfo {
        cis: "hello".into(),
        error_code: Some(ErrorCode::ValidationError.code()),
        ..CodeInfo::default()
    };
    assert_eq!(
        serde_json::to_value(&info).expect("serialises"),
        json!({"cis": "hello", "found": false, "valid": false, "verified": false,
               "realizable": false, "utilised": false, "errorCode": 1})
    );
}

#[test]
fn error_body_5000_example() {
    let body: ErrorBody = round_trip(r#"{"code": 5000, "description": "string", "codes": []}"#);
    assert_eq!(body.code, EXTERNAL_SYSTEM_UNAVAILABLE);
}

#[test]
fn permissive_access_example() {
    let token: PermissiveAccessResponse = round_trip(
        r#"{"access_token":"string","id_token":"string","expires_in":0,"token_type":"string"}"#,
    );
    assert_eq!(token.expires_in, 0);
}

#[test]
fn error_codes_match_the_guide_table() {
    for (number, code) in ErrorCode::ALL.iter().enumerate() {
        assert_eq!(code.code() as usize, number);
        assert_eq!(ErrorCode::from_code(number as u32), Some(*code));
    }
    assert_eq!(ErrorCode::NotFound.code(), 10);
    assert_eq!(ErrorCode::from_code(12), None);
}
