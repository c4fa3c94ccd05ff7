//! Reading requests: JSON bodies with a size limit and query strings, every failure an
//! [`ApiError`] with a JSON body (axum's own rejections answer plain text).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use http_body_util::BodyExt;
use protocol::lm::{GreyListRequest, InitRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

/// Largest request body accepted (design.md §5).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body of type `T`: 413 over [`BODY_LIMIT`], 400 for empty, malformed or mistyped JSON
/// and for anything but a JSON object (serde would read `["tok"]` as `{"token": "tok"}`).
/// The `Content-Type` is not checked: `curl -d` as in the guide sends a form type.
pub struct JsonBody<T>(pub T);

/// The JSON object a request body must be, named in the error that answers anything else.
pub trait BodyShape {
    /// The expected object as a client reads it, e.g. `{"token": string, ...}`.
    const SHAPE: &'static str;
}

impl BodyShape for InitRequest {
    const SHAPE: &'static str = r#"{"token": string, "clearSold": boolean (optional), "enableGreyList": boolean (optional)}"#;
}

impl BodyShape for GreyListRequest {
    const SHAPE: &'static str = r#"{"enableGreyList": boolean}"#;
}

/// Every route reading its body as a plain JSON value reads a list of KIs (checks, sell,
/// return) and parses it itself ([`super::check::parse_cis_list`]).
impl BodyShape for Value {
    const SHAPE: &'static str = r#"{"cis_list": [...]}"#;
}

impl<S: Send + Sync, T: DeserializeOwned + BodyShape> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let declared = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > (BODY_LIMIT + DRAIN_LIMIT) as u64) {
            return Err(ApiError::too_large(BODY_LIMIT));
        }
        let bytes = read_limited(request.into_body()).await?;
        require_object(&bytes, T::SHAPE)?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Refuses a body that is valid JSON but not an object, naming the object `shape` expected.
/// Anything else (an object, empty or invalid JSON) is left to [`parse_json`], whose errors
/// name the syntax or field problem.
pub fn require_object(bytes: &[u8], shape: &str) -> Result<(), ApiError> {
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    if matches!(first, None | Some(b'{')) {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(());
    };
    let got = match value {
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Object(_) => return Ok(()),
    };
    Err(ApiError::bad_request(format!(
        "the request body must be a JSON object {shape}, not {got}"
    )))
}

/// Bytes read past [`BODY_LIMIT`] and thrown away before answering 413, so the client is not
/// reset while still sending and does read the answer.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

async fn read_limited(mut body: axum::body::Body) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| {
            ApiError::bad_request(format!("could not read the request body: {err}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > BODY_LIMIT + DRAIN_LIMIT {
            break;
        }
        if seen <= BODY_LIMIT {
            bytes.extend_from_slice(&data);
        }
    }
    if seen > BODY_LIMIT {
        return Err(ApiError::too_large(BODY_LIMIT));
    }
    Ok(bytes)
}

/// Parses a JSON body, naming what is wrong and where.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; a JSON object is expected",
        ));
    }
    serde_json::from_slice(bytes).map_err(|err| {
        let what = match err.classify() {
            serde_json::error::Category::Data => "the JSON has a missing field or a wrong type",
            _ => "the request body is not valid JSON",
        };
        ApiError::bad_request(format!("{what}: {err}"))
    })
}

/// The query string as `(name, value)` pairs, percent-decoded.
///
/// KIs in query strings are the root cause of the guide's v11 removal of GET checks, so this is
/// lenient where a strict form decoder would lose characters: `+` stays `+` (a KI never contains
/// a space), a `%` not followed by two hex digits stays literal, and a piece without `=` or with
/// a name the caller does not know is glued back (with its `&`) to the value before it — an
/// unescaped `&` inside a KI.
pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    /// Splits `query` knowing which parameter names the route accepts.
    pub fn parse(query: &str, known: &[&str]) -> Result<QueryPairs, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut raw_values: Vec<String> = Vec::new();
        for piece in query.split('&') {
            let name_value = piece.split_once('=');
            match name_value {
                Some((name, value)) if known.contains(&name) => {
                    pairs.push((name.to_owned(), String::new()));
                    raw_values.push(value.to_owned());
                }
                _ => match raw_values.last_mut() {
                    Some(last) => {
                        last.push('&');
                        last.push_str(piece);
                    }
                    None if piece.is_empty() => {}
                    None => {
                        let name = name_value.map_or(piece, |(name, _)| name);
                        return Err(ApiError::bad_request(format!(
                            "unknown query parameter {:?}; this method accepts: {}",
                            percent_decode(name).unwrap_or_else(|_| name.to_owned()),
                            known.join(", ")
                        )));
                    }
                },
            }
        }
        for ((name, value), raw) in pairs.iter_mut().zip(raw_values) {
            *value = percent_decode(&raw).map_err(|_| {
                ApiError::bad_request(format!(
                    "query parameter {name} is not UTF-8 after percent-decoding"
                ))
            })?;
        }
        Ok(QueryPairs(pairs))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The raw query string of a request (`""` when there is none).
pub struct RawQuery(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RawQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RawQuery(parts.uri.query().unwrap_or("").to_owned()))
    }
}

/// `%XX` → byte; anything else literal (including `+` and a stray `%`).
pub fn percent_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(index + 1).and_then(|b| hex(*b)),
                bytes.get(index + 2).and_then(|b| hex(*b)),
            )
        {
            out.push(high << 4 | low);
            index += 3;
            continue;
        }
        out.push(byte);
        index += 1;
    }
    String::from_utf8(out)
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_plus_and_stray_percent() {
        assert_eq!(percent_decode("a+b%2Bc%25%zz%4").unwrap(), "a+b+c%%zz%4");
        assert_eq!(percent_decode("%22%26%3C").unwrap(), "\"&<");
        assert!(percent_decode("%ff").is_err());
    }

    #[test]
    fn unescaped_ampersand_is_glued_back_into_the_ki() {
        let pairs = QueryPairs::parse("cis=0104850013000162215a&b=c&d", &["cis"]).unwrap();
        assert_eq!(pairs.get("cis"), Some("0104850013000162215a&b=c&d"));
        let two = QueryPairs::parse("skip=5&limit=2", &["skip", "limit"]).unwrap();
        assert_eq!(two.get("skip"), Some("5"));
        assert_eq!(two.get("limit"), Some("2"));
    }

    #[test]
    fn unknown_first_parameter_is_named() {
        let err = QueryPairs::parse("foo=1", &["cis"]).err().unwrap();
        assert!(err.description.contains("\"foo\""), "{}", err.description);
        assert!(QueryPairs::parse("", &["cis"]).unwrap().0.is_empty());
    }

    #[test]
    fn only_objects_pass_and_the_error_names_the_expected_object() {
        let shape = InitRequest::SHAPE;
        for (body, got) in [
            (&b"[\"tok\"]"[..], "an array"),
            (b" \"tok\"", "a string"),
            (b"5", "a number"),
            (b"true", "a boolean"),
            (b"null", "null"),
        ] {
            let err = require_object(body, shape).err().unwrap();
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(err.description.contains(shape), "{}", err.description);
            assert!(err.description.ends_with(got), "{}", err.description);
        }
        // Objects, and what parse_json explains better, pass.
        for body in [&b" {\"token\": \"t\"}"[..], b"", b"[1,", b"nonsense"] {
            assert!(require_object(body, shape).is_ok());
        }
    }

    #[test]
    fn json_errors_name_the_problem() {
        let err = parse_json::<protocol::lm::CisList>(b"{\"cis_list\": [1]}")
            .err()
            .unwrap();
        assert!(
            err.description.contains("wrong type"),
            "{}",
            err.description
        );
        let err = parse_json::<protocol::lm::CisList>(b"{\"cis_list\": [")
            .err()
            .unwrap();
        assert!(
            err.description.contains("not valid JSON"),
            "{}",
            err.description
        );
        let err = parse_json::<protocol::lm::CisList>(b"  ").err().unwrap();
        assert!(err.description.contains("empty"), "{}", err.description);
    }
}
