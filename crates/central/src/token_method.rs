//! The True API token method on the main host (protocol.md §1.2):
//! `POST /api/v3/true-api/auth/permissive-access` with `{"data": "<base64>"}` answers
//! `{"access_token", "id_token", "expires_in", "token_type"}`, `access_token` being the
//! `X-API-KEY` of `cdn/info`, `cdn/health/check` and `codes/check`.
//!
//! At the operator, `data` is arbitrary data with an attached УКЭП (CMS) signature and the
//! signer's certificate names the participant. The emulator cannot verify such a signature, so
//! it takes a stand-in for the signer instead: `data` is standard base64 (padding optional;
//! whitespace such as the line breaks of signing tools is ignored), and the first run of exactly
//! 10 or 12 ASCII digits in the decoded bytes is the participant's INN (runs of other lengths,
//! such as an OGRN or a date, are skipped). A real CMS blob will in general not work: its DER
//! bytes do not present the INN as such a run (a digit-valued byte next to it lengthens the
//! run); send e.g. the bytes `7700000001` instead.
//!
//! The INN must be a participant the emulator knows, i.e. one the admin `token --inn` command
//! has issued a token to; each call then issues a new token for it exactly as that command does,
//! so it works everywhere an admin-made token does. Answers:
//!
//! * 200: `access_token` the new token; `id_token` a random UUID that is *not* a token (the
//!   guide marks `id_token` optional and never uses it, so a till that sends it as `X-API-KEY`
//!   by mistake gets 401 here rather than passing); `expires_in` [`TOKEN_VALIDITY_SECS`]
//!   (the emulator does not expire tokens); `token_type` [`TOKEN_TYPE`] (the guide gives only
//!   "string");
//! * 401 for an INN the emulator does not know, naming it;
//! * 400 for a body that is not a JSON object, a missing or non-string `data`, `data` that is
//!   not base64, or decoded data without an INN — each naming what is wrong.
//!
//! Emergency mode does not touch this method: the guide (§1.13) lists the 203 answer for
//! `codes/check`, `cdn/info` and `cdn/health/check` only.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use base64::Engine;
use protocol::true_api::PermissiveAccessResponse;
use serde_json::Value;

use crate::http_error::ApiError;
use crate::state::AppState;

/// `expires_in` of every answer: a year. The operator's tokens are valid up to a date it moves
/// on (protocol.md §1.2); the emulator's never expire, so this only has to be plausible.
pub const TOKEN_VALIDITY_SECS: i64 = 365 * 24 * 60 * 60;

/// `token_type` of every answer: the guide gives no value, and the token is a bearer credential.
pub const TOKEN_TYPE: &str = "Bearer";

/// Standard alphabet; `=` padding may be present or left out.
const DATA_BASE64: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;

/// `POST /api/v3/true-api/auth/permissive-access`.
pub async fn permissive_access(
    State(app): State<AppState>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<PermissiveAccessResponse>, ApiError> {
    let signed = signed_data(&body?)?;
    let inn = signer_inn(&signed).ok_or_else(|| {
        ApiError::bad_request(
            "data: the decoded data contain no INN (a run of 10 or 12 ASCII digits), which the \
             emulator takes in place of the signer's certificate",
        )
    })?;
    if !app.is_participant(&inn) {
        return Err(ApiError::unauthorized(format!(
            "INN {inn} is not a participant known to this operator (issue it a token first: \
             admin token --inn {inn})"
        )));
    }
    let token = app.issue_token(inn).await?;
    Ok(Json(PermissiveAccessResponse {
        access_token: token,
        id_token: Some(uuid::Uuid::new_v4().to_string()),
        expires_in: TOKEN_VALIDITY_SECS,
        token_type: TOKEN_TYPE.into(),
    }))
}

/// The decoded `data` of the request body. The body is read as any JSON value so that each
/// wrong shape gets a reason of its own (serde's would not name `data` for a wrong type, and
/// would take an array for the object).
fn signed_data(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let Some(object) = body.as_object() else {
        return Err(ApiError::bad_request(
            "the body must be a JSON object {\"data\": \"<base64>\"}",
        ));
    };
    let data = match object.get("data") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "data: required (base64 of the signed data)",
            ));
        }
        Some(Value::String(data)) => data,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "data: {other} is not a string; base64 of the signed data is expected"
            )));
        }
    };
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(ApiError::bad_request(
            "data: empty; base64 of the signed data is expected",
        ));
    }
    DATA_BASE64
        .decode(compact.as_bytes())
        .map_err(|e| ApiError::bad_request(format!("data: not base64 (standard alphabet): {e}")))
}

/// The first maximal run of ASCII digits that is 10 or 12 long, as a string.
fn signer_inn(signed: &[u8]) -> Option<String> {
    signed
        .split(|b| !b.is_ascii_digit())
        .find(|run| matches!(run.len(), 10 | 12))
        .map(|run| run.iter().map(|&b| char::from(b)).collect())
}

#[cfg(test)]
mod tests {
    use super::{DATA_BASE64, signed_data, signer_inn};
    use base64::Engine;

    #[test]
    fn the_inn_is_the_first_run_of_ten_or_twelve_digits() {
        assert_eq!(signer_inn(b"7700000001").as_deref(), Some("7700000001"));
        assert_eq!(
            signer_inn(b"INN=770000000112;").as_deref(),
            Some("770000000112")
        );
        // An OGRN (13), a date (8) and an 11-digit run are skipped.
        assert_eq!(
            signer_inn(b"OGRN 1027700000001 at 20261205, 77000000011, INN 7700000002 7700000003")
                .as_deref(),
            Some("7700000002")
        );
        assert_eq!(signer_inn(b"no digits"), None);
        assert_eq!(signer_inn(b"77000000011"), None);
        assert_eq!(signer_inn(b""), None);
    }

    #[test]
    fn data_is_standard_base64_with_or_without_padding_and_line_breaks() {
        let padded = DATA_BASE64.encode(b"inn 7700000001");
        assert!(padded.ends_with('='), "{padded}");
        let unpadded = padded.trim_end_matches('=');
        let wrapped = format!("{}\r\n{}", &padded[..8], &padded[8..]);
        for data in [padded.as_str(), unpadded, wrapped.as_str()] {
            let body = serde_json::json!({ "data": data }).to_string();
            let decoded = signed_data(body.as_bytes()).expect("decodes");
            assert_eq!(decoded, b"inn 7700000001");
        }
    }
}
