//! Answering checks: request lists → KIs → what the lists and the sold DB say (protocol.md §3.4).

use protocol::lm::{ModuleCode, ModuleState};
use serde_json::Value;

use super::backend::{BackendError, CodeFacts, Snapshot};
use super::clients::Verdict;
use super::error::ApiError;

/// Most KIs one `outCheck`, `cis/check`, `sell` or `return` request may carry (design.md §5).
pub const MAX_KIS: usize = 1000;
/// Product group of nicotine-containing products: asked with no price listed → `"mrp": null`.
pub const PG_NCP: u16 = 16;

/// One requested code: what was sent and the optional product group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub cis: String,
    pub pg: Option<u16>,
}

/// A KI cut from what a till sent (a full KM sent by mistake loses its crypto tail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ki {
    pub ki: String,
    pub gtin: String,
}

/// Reads `{"cis_list": [...]}` whose items are KI strings (v1, sell, return) or
/// `{"cis": "...", "pg": N}` objects (v2), naming the first wrong item.
pub fn parse_cis_list(body: &Value) -> Result<Vec<Requested>, ApiError> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::bad_request(
            "the body must be a JSON object {\"cis_list\": [...]}",
        ));
    };
    let Some(list) = object.get("cis_list") else {
        return Err(ApiError::bad_request("missing field cis_list"));
    };
    let Some(items) = list.as_array() else {
        return Err(ApiError::bad_request("cis_list must be an array"));
    };
    if items.is_empty() {
        return Err(ApiError::bad_request(
            "cis_list is empty: send at least one KI",
        ));
    }
    if items.len() > MAX_KIS {
        return Err(ApiError::bad_request(format!(
            "cis_list has {} KIs; at most {MAX_KIS} per request",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| parse_item(index, item))
        .collect()
}

fn parse_item(index: usize, item: &Value) -> Result<Requested, ApiError> {
    let shape = || {
        ApiError::bad_request(format!(
            "cis_list[{index}] must be a KI string or an object {{\"cis\": string, \"pg\": number}}"
        ))
    };
    match item {
        Value::String(cis) => Ok(Requested {
            cis: cis.clone(),
            pg: None,
        }),
        Value::Object(fields) => {
            let cis = fields
                .get("cis")
                .and_then(Value::as_str)
                .ok_or_else(shape)?;
            let pg = match fields.get("pg") {
                None | Some(Value::Null) => None,
                Some(value) => Some(
                    value
                        .as_u64()
                        .and_then(|pg| u16::try_from(pg).ok())
                        .ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "cis_list[{index}].pg must be a product-group number"
                            ))
                        })?,
                ),
            };
            Ok(Requested {
                cis: cis.to_owned(),
                pg,
            })
        }
        _ => Err(shape()),
    }
}

/// Cuts a KI out of what was sent, or says why it is not a marking code.
pub fn to_ki(sent: &str) -> Result<Ki, String> {
    if sent.trim().is_empty() {
        return Err("the KI is empty".to_owned());
    }
    let code = marking::MarkingCode::parse(sent).map_err(|err| format!("not a KI: {err}"))?;
    Ok(Ki {
        ki: code.ki(),
        gtin: code.gtin().to_owned(),
    })
}

/// The readiness gate of checks: only `ready` answers (protocol.md §3.4).
pub fn require_ready(snapshot: &Snapshot) -> Result<(), ApiError> {
    match snapshot.state {
        ModuleState::Ready => Ok(()),
        ModuleState::SyncError => Err(ApiError::sync_stale()),
        ModuleState::NotConfigured => Err(ApiError::not_ready("not_configured")),
        ModuleState::Initialization => Err(ApiError::not_ready("initialization")),
        // protocol.md §3.4: any status but `ready` is a 400; `failure` has no code of its own,
        // and 4045 (not ready) makes a till fall back exactly as it does for the others.
        ModuleState::Failure | ModuleState::Unknown => Err(ApiError::not_ready(
            "failure (its store cannot be used; see the module's log)",
        )),
    }
}

/// Which optional fields an answer carries: v2 sends `sold`, `mrp`, `smp`; the v1 sample of
/// protocol.md §3.5 has none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    V1,
    V2,
}

/// The `codes[]` item of one KI.
pub fn module_code(
    ki: &Ki,
    pg: Option<u16>,
    facts: &CodeFacts,
    grey_mode: bool,
    generation: Generation,
) -> ModuleCode {
    let grey = grey_mode && facts.grey_gtin;
    let (listed_mrp, listed_smp) = facts.min_price.unwrap_or((None, None));
    let mrp = match listed_mrp {
        Some(kopecks) => Some(Some(kopecks)),
        None if pg == Some(PG_NCP) => Some(None),
        None => None,
    };
    let v2 = generation == Generation::V2;
    ModuleCode {
        cis: ki.ki.clone(),
        gtin: ki.gtin.clone(),
        is_blocked: facts.ki_blocked || facts.gtin_blocked || grey,
        is_grey_gtin: grey,
        sold: v2.then_some(facts.sold),
        mrp: if v2 { mrp } else { None },
        smp: if v2 { listed_smp } else { None },
        print_view: Some(ki.ki.clone()),
    }
}

/// What an answered check came to, for metrics: a listed code counts as blocked even when it
/// was also sold.
pub fn verdict(code: &ModuleCode, facts: &CodeFacts) -> Verdict {
    if code.is_blocked {
        Verdict::Blocked
    } else if facts.sold {
        Verdict::Sold
    } else {
        Verdict::Ok
    }
}

/// A failure below the API as an HTTP error.
pub fn module_error(err: BackendError) -> ApiError {
    match err {
        BackendError::Conflict(text) => ApiError::new(axum::http::StatusCode::CONFLICT, text),
        BackendError::Refused(text) => ApiError::bad_request(text),
        BackendError::Upstream(text) => ApiError::new(axum::http::StatusCode::BAD_GATEWAY, text),
        BackendError::OutOfSpace(text) => {
            ApiError::new(axum::http::StatusCode::INSUFFICIENT_STORAGE, text)
        }
        BackendError::Internal(text) => ApiError::internal(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_of_strings_and_objects_parse() {
        let list = parse_cis_list(&json!({"cis_list": ["a", {"cis": "b", "pg": 16}]})).unwrap();
        assert_eq!(
            list[0],
            Requested {
                cis: "a".into(),
                pg: None
            }
        );
        assert_eq!(
            list[1],
            Requested {
                cis: "b".into(),
                pg: Some(16)
            }
        );
    }

    #[test]
    fn bad_lists_are_named() {
        let cases = [
            (json!([]), "JSON object"),
            (json!({}), "missing field cis_list"),
            (json!({"cis_list": "x"}), "must be an array"),
            (json!({"cis_list": []}), "empty"),
            (json!({"cis_list": ["a", 5]}), "cis_list[1]"),
            (
                json!({"cis_list": [{"cis": "a", "pg": "x"}]}),
                "cis_list[0].pg",
            ),
            (json!({"cis_list": vec!["a"; MAX_KIS + 1]}), "at most 1000"),
        ];
        for (body, expected) in cases {
            let err = parse_cis_list(&body).unwrap_err();
            assert!(
                err.description.contains(expected),
                "{body}: {}",
                err.description
            );
            assert_eq!(err.status.as_u16(), 400);
        }
    }

    #[test]
    fn full_km_is_cut_and_specials_are_kept() {
        let km = "0104850013000162215fUjOs7DMo,Tf\u{1d}93dGVz";
        let ki = to_ki(km).unwrap();
        assert_eq!(ki.ki, "0104850013000162215fUjOs7DMo,Tf");
        assert_eq!(ki.gtin, "04850013000162");
        assert_eq!(
            to_ki("0104850013000162215aBcDe!").unwrap().ki,
            "0104850013000162215aBcDe!"
        );
        assert!(to_ki("").is_err());
        assert!(to_ki("hello").is_err());
    }

    #[test]
    fn mrp_rules_of_the_guide() {
        let ki = Ki {
            ki: "k".into(),
            gtin: "g".into(),
        };
        let priced = CodeFacts {
            min_price: Some((Some(84423), Some(153000))),
            ..CodeFacts::default()
        };
        let code = module_code(&ki, None, &priced, false, Generation::V2);
        assert_eq!((code.mrp, code.smp), (Some(Some(84423)), Some(153000)));
        let unlisted = CodeFacts::default();
        let ncp = module_code(&ki, Some(PG_NCP), &unlisted, false, Generation::V2);
        assert_eq!((ncp.mrp, ncp.smp), (Some(None), None));
        let other = module_code(&ki, Some(3), &unlisted, false, Generation::V2);
        assert_eq!(other.mrp, None);
        let v1 = module_code(&ki, Some(PG_NCP), &priced, false, Generation::V1);
        assert_eq!((v1.mrp, v1.smp, v1.sold), (None, None, None));
    }

    #[test]
    fn grey_gtin_blocks_only_in_grey_mode() {
        let ki = Ki {
            ki: "k".into(),
            gtin: "g".into(),
        };
        let grey = CodeFacts {
            grey_gtin: true,
            ..CodeFacts::default()
        };
        let normal = module_code(&ki, None, &grey, false, Generation::V2);
        assert!(!normal.is_blocked && !normal.is_grey_gtin);
        let greyed = module_code(&ki, None, &grey, true, Generation::V2);
        assert!(greyed.is_blocked && greyed.is_grey_gtin);
    }
}
