//! Backup and restore of the sold DB (it exists only at the module's site): a page with sale
//! times, an export as JSON or CSV, and an import of either that is validated whole — every KI
//! and time — before anything is written.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::SOLD_RETENTION_MS;

use crate::api::ApiState;
use crate::api::backend::Backend;
use crate::api::body::{QueryPairs, RawQuery};
use crate::api::check;
use crate::api::error::ApiError;

/// Largest import accepted (a sold DB of a few million codes).
pub const IMPORT_LIMIT: usize = 256 * 1024 * 1024;
/// Format tag of a JSON export.
pub const FORMAT: &str = "znak-sold/1";
/// A sale time this far past the module's clock is refused (clock skew of the exporting PC).
const FUTURE_SLACK_MS: u64 = 24 * 3600 * 1000;
/// Entries read per store call while exporting.
const EXPORT_CHUNK: u64 = 10_000;

/// One sold code with its sale time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SoldEntry {
    pub ki: String,
    /// Unix ms.
    pub sold_at: u64,
}

/// `GET /admin/api/sold` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SoldEntries {
    pub total: u64,
    pub entries: Vec<SoldEntry>,
}

/// What an import did.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ImportOutcome {
    /// New codes written.
    pub added: u64,
    /// Codes already in the sold DB (their first sale time is kept).
    pub present: u64,
    /// Entries past the 30-day retention, not written.
    pub expired: u64,
}

/// A JSON export (also what an import reads; an import also takes a bare list of entries).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    /// `znak-sold/1`
    pub format: String,
    pub inst: String,
    pub inn: String,
    /// Unix ms.
    pub exported_at: u64,
    pub sold: Vec<SoldEntry>,
}

/// `GET /admin/api/sold?skip=&limit=`: entries with sale times, KI order.
pub async fn page<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    RawQuery(query): RawQuery,
) -> Result<Json<SoldEntries>, ApiError> {
    let pairs = QueryPairs::parse(&query, &["skip", "limit"])?;
    let skip = number(&pairs, "skip", 0)?;
    let limit = number(&pairs, "limit", 100)?.min(1000);
    let (total, entries) = state
        .backend
        .sold_entries(skip, limit)
        .map_err(check::module_error)?;
    let entries = entries
        .into_iter()
        .map(|(ki, sold_at)| SoldEntry { ki, sold_at })
        .collect();
    Ok(Json(SoldEntries { total, entries }))
}

fn number(pairs: &QueryPairs, name: &str, default: u64) -> Result<u64, ApiError> {
    match pairs.get(name) {
        None | Some("") => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter {name} must be a non-negative integer, got {text:?}"
            ))
        }),
    }
}

/// `GET /admin/api/sold/export?format=json|csv`: the whole sold DB as a download.
pub async fn export<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = QueryPairs::parse(&query, &["format"])?;
    let csv = match pairs.get("format").unwrap_or("json") {
        "json" | "" => false,
        "csv" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "format {other:?} is not known: use json or csv"
            )));
        }
    };
    let mut sold = Vec::new();
    loop {
        let skip = sold.len() as u64;
        let (_, chunk) = state
            .backend
            .sold_entries(skip, EXPORT_CHUNK)
            .map_err(check::module_error)?;
        let done = (chunk.len() as u64) < EXPORT_CHUNK;
        sold.extend(
            chunk
                .into_iter()
                .map(|(ki, sold_at)| SoldEntry { ki, sold_at }),
        );
        if done {
            break;
        }
    }
    let now = state.backend.now_ms();
    let (body, content_type, extension) = if csv {
        (to_csv(&sold), "text/csv; charset=utf-8", "csv")
    } else {
        let snapshot = state.snapshot().map_err(check::module_error)?;
        let export = Export {
            format: FORMAT.to_owned(),
            inst: snapshot.inst.clone(),
            inn: snapshot.inn.clone(),
            exported_at: now,
            sold,
        };
        let text = serde_json::to_string_pretty(&export)
            .map_err(|err| ApiError::internal(format!("cannot write the export: {err}")))?;
        (text, "application/json", "json")
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!("attachment; filename=\"sold-{now}.{extension}\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// `POST /admin/api/sold/import`: a JSON export (or `{"cis_list": [...]}` as `cis/sold` pages
/// give, sold now), or CSV `ki,sold_at_ms` (`Content-Type: text/csv`, or a body that is not
/// JSON). Nothing is written unless every entry is valid.
pub async fn import<M: Backend>(
    State(state): State<Arc<ApiState<M>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportOutcome>, ApiError> {
    let bytes = axum::body::to_bytes(body, IMPORT_LIMIT)
        .await
        .map_err(|_| ApiError::too_large(IMPORT_LIMIT))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|err| ApiError::bad_request(format!("the upload is not UTF-8 text: {err}")))?;
    let declared_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/csv"));
    let now = state.backend.now_ms();
    let trimmed = text.trim_start();
    let raw = if declared_csv || !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        from_csv(text)?
    } else {
        from_json(text, now)?
    };
    let mut earliest: BTreeMap<String, u64> = BTreeMap::new();
    for (index, entry) in raw.iter().enumerate() {
        let ki = check::to_ki(&entry.ki)
            .map_err(|reason| ApiError::bad_request(format!("entry {}: {reason}", index + 1)))?
            .ki;
        if entry.sold_at > now.saturating_add(FUTURE_SLACK_MS) {
            return Err(ApiError::bad_request(format!(
                "entry {}: soldAt {} is in the future (the module's clock reads {now})",
                index + 1,
                entry.sold_at
            )));
        }
        let time = earliest.entry(ki).or_insert(entry.sold_at);
        *time = (*time).min(entry.sold_at);
    }
    let cutoff = now.saturating_sub(SOLD_RETENTION_MS);
    let (live, expired): (Vec<_>, Vec<_>) = earliest.into_iter().partition(|(_, at)| *at > cutoff);
    let added = state
        .backend
        .sold_restore(&live)
        .map_err(check::module_error)?;
    tracing::info!(
        added,
        entries = raw.len(),
        "sold DB imported from the admin page"
    );
    Ok(Json(ImportOutcome {
        added,
        present: live.len() as u64 - added,
        expired: expired.len() as u64,
    }))
}

fn from_json(text: &str, now: u64) -> Result<Vec<SoldEntry>, ApiError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|err| ApiError::bad_request(format!("the upload is not valid JSON: {err}")))?;
    let entries = |value: Value| {
        serde_json::from_value::<Vec<SoldEntry>>(value).map_err(|err| {
            ApiError::bad_request(format!(
                "sold must be a list of {{\"ki\": string, \"soldAt\": Unix ms}}: {err}"
            ))
        })
    };
    match value {
        Value::Array(_) => entries(value),
        Value::Object(mut object) => {
            if let Some(sold) = object.remove("sold") {
                return entries(sold);
            }
            let Some(Value::Array(list)) = object.remove("cis_list") else {
                return Err(ApiError::bad_request(
                    "the JSON must be an export ({\"sold\": [...]}) or a cis/sold page ({\"cis_list\": [...]})",
                ));
            };
            list.into_iter()
                .enumerate()
                .map(|(index, item)| match item {
                    Value::String(ki) => Ok(SoldEntry { ki, sold_at: now }),
                    _ => Err(ApiError::bad_request(format!(
                        "cis_list[{index}] is not a string"
                    ))),
                })
                .collect()
        }
        _ => Err(ApiError::bad_request(
            "the JSON must be an object or an array",
        )),
    }
}

/// CSV as written by [`to_csv`]: RFC 4180 quoting (a KI may hold `,` and `"`).
fn to_csv(entries: &[SoldEntry]) -> String {
    let mut out = String::from("ki,sold_at_ms\r\n");
    for entry in entries {
        if entry.ki.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&entry.ki.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&entry.ki);
        }
        out.push(',');
        out.push_str(&entry.sold_at.to_string());
        out.push_str("\r\n");
    }
    out
}

fn from_csv(text: &str) -> Result<Vec<SoldEntry>, ApiError> {
    let mut entries = Vec::new();
    let mut rest = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut line = 0;
    while !rest.is_empty() {
        line += 1;
        let bad = |why: String| ApiError::bad_request(format!("CSV line {line}: {why}"));
        let (ki, after) = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(bad("unterminated quoted field".into())),
                    Some((i, '"')) if quoted[i + 1..].starts_with('"') => {
                        value.push('"');
                        chars.next();
                    }
                    Some((i, '"')) => break i + 1,
                    Some((_, c)) => value.push(c),
                }
            };
            (value, &quoted[end..])
        } else {
            let end = rest.find([',', '\n']).unwrap_or(rest.len());
            (rest[..end].trim_end_matches('\r').to_owned(), &rest[end..])
        };
        let (field, next) = match after.find('\n') {
            Some(end) => (&after[..end], &after[end + 1..]),
            None => (after, ""),
        };
        rest = next;
        let field = field.trim_end_matches('\r');
        let time = field
            .strip_prefix(',')
            .ok_or_else(|| bad("expected two fields: ki,sold_at_ms".into()))?
            .trim();
        if line == 1 && ki == "ki" {
            continue;
        }
        if ki.is_empty() && time.is_empty() {
            continue;
        }
        let sold_at = time
            .parse()
            .map_err(|_| bad(format!("sold_at_ms {time:?} is not a Unix time in ms")))?;
        entries.push(SoldEntry { ki, sold_at });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_kis_with_commas_and_quotes() {
        let entries = vec![
            SoldEntry {
                ki: "0104850013000162215fUjOs7DMo,Tf".into(),
                sold_at: 1,
            },
            SoldEntry {
                ki: "010460358601467421\"q\"uote".into(),
                sold_at: 1_775_204_403_800,
            },
            SoldEntry {
                ki: "01046035860146742150125".into(),
                sold_at: 3,
            },
        ];
        assert_eq!(from_csv(&to_csv(&entries)).unwrap(), entries);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let err = from_csv("ki,sold_at_ms\nabc,12\ndef\n").unwrap_err();
        assert!(err.description.contains("line 3"), "{err}");
        let err = from_csv("abc,tomorrow\n").unwrap_err();
        assert!(err.description.contains("line 1"), "{err}");
        let err = from_csv("\"abc,1\n").unwrap_err();
        assert!(err.description.contains("unterminated"), "{err}");
    }
}
