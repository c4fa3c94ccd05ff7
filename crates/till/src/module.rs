//! HTTP client of the local module (protocol.md §3): `outCheck` v2 with a fallback to v1 for
//! old modules, `cis/sell`, `cis/return`, `status`.

use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use protocol::lm::{
    CheckResult, CisList, CisOutcomes, CisQuery, ErrorBody, ModuleCode, OutCheckRequest,
    OutCheckResponse, OutCheckV1Response, SoldPage, Status,
};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::Value;

use crate::config::ModuleConfig;
use crate::online::{ServiceError, http_client};

/// The module's answer about one KI, from v2 or v1.
#[derive(Debug, Clone)]
pub struct ModuleAnswer {
    pub code: ModuleCode,
    pub req_id: String,
    pub req_timestamp: i64,
    pub inst: String,
    /// Blacklist DB version; some v1 builds do not send it.
    pub version: Option<String>,
    /// The whole answer as received.
    pub raw: Value,
}

/// Why the module gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    #[error("local module not ready (errorCode {error_code}): {description}")]
    NotReady {
        error_code: u32,
        description: String,
    },
    #[error("local module unreachable: {0}")]
    Unreachable(String),
    #[error("local module answered HTTP {status}: {description}")]
    Refused { status: u16, description: String },
    #[error("local module answer unusable: {0}")]
    BadAnswer(String),
}

/// Local-module client; remembers when the module only speaks v1.
#[derive(Debug)]
pub struct ModuleClient {
    client: Client,
    base: String,
    basic: Option<String>,
    token: Option<String>,
    client_id: Option<String>,
    v1_only: AtomicBool,
}

impl ModuleClient {
    pub fn new(config: &ModuleConfig, fiscal_drive: Option<&str>) -> Result<Self, ServiceError> {
        let basic = match (&config.login, &config.password) {
            (Some(l), Some(p)) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{l}:{p}"))
            )),
            _ => None,
        };
        Ok(Self {
            client: http_client(false)?,
            base: config.url.trim_end_matches('/').to_owned(),
            basic,
            token: config.token.as_ref().map(|t| format!("Token {t}")),
            client_id: config.client_id.clone().or(fiscal_drive.map(str::to_owned)),
            v1_only: AtomicBool::new(false),
        })
    }

    fn with_headers(&self, request: RequestBuilder, token_allowed: bool) -> RequestBuilder {
        let auth = if token_allowed {
            self.token.as_ref().or(self.basic.as_ref())
        } else {
            self.basic.as_ref()
        };
        let request = match auth {
            Some(a) => request.header(reqwest::header::AUTHORIZATION, a),
            None => request,
        };
        match &self.client_id {
            Some(id) => request.header("X-ClientId", id),
            None => request,
        }
    }

    /// Checks one KI; `pg` helps the module pick the NCP minimum price.
    pub async fn out_check(&self, ki: &str, pg: Option<u16>) -> Result<ModuleAnswer, ModuleError> {
        if !self.v1_only.load(Ordering::Relaxed) {
            let body = OutCheckRequest {
                cis_list: vec![CisQuery {
                    cis: ki.to_owned(),
                    pg,
                }],
            };
            let request = self
                .client
                .post(format!("{}/api/v2/cis/outCheck", self.base));
            let (status, raw) = self
                .send(self.with_headers(request, true).json(&body))
                .await?;
            if status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED {
                let raw = expect_ok(status, raw)?;
                let response: OutCheckResponse = parse(&raw)?;
                let mut results = response.results;
                if results.is_empty() {
                    return Err(ModuleError::BadAnswer(format!("no result for {ki}")));
                }
                let at = results
                    .iter()
                    .position(|r| r.codes.iter().flatten().any(|c| c.cis == ki))
                    .unwrap_or(0);
                return answer_v2(results.swap_remove(at), ki, raw);
            }
            tracing::info!(module = %self.base, "module has no v2 outCheck; using v1");
            self.v1_only.store(true, Ordering::Relaxed);
        }
        let body = CisList {
            cis_list: vec![ki.to_owned()],
        };
        let request = self
            .client
            .post(format!("{}/api/v1/cis/outCheck", self.base));
        let (status, raw) = self
            .send(self.with_headers(request, false).json(&body))
            .await?;
        let raw = expect_ok(status, raw)?;
        let flat: OutCheckV1Response = parse(&raw)?;
        check_code(flat.code, &flat.description)?;
        let code = pick(flat.codes, ki)?;
        Ok(ModuleAnswer {
            code,
            req_id: flat.req_id,
            req_timestamp: flat.req_timestamp,
            inst: flat.inst,
            version: flat.version,
            raw,
        })
    }

    /// `POST /api/v2/cis/sell` (201) or `/cis/return` (200).
    pub async fn register(&self, kis: &[String], sell: bool) -> Result<CisOutcomes, ModuleError> {
        let path = if sell { "sell" } else { "return" };
        let body = CisList {
            cis_list: kis.to_vec(),
        };
        let request = self.client.post(format!("{}/api/v2/cis/{path}", self.base));
        let (status, raw) = self
            .send(self.with_headers(request, false).json(&body))
            .await?;
        let raw = expect_ok(status, raw)?;
        parse(&raw)
    }

    /// The module's whole sold list: `GET /api/v2/cis/sold` page by page (1000, the maximum).
    /// Entries are trimmed: the documented example carries trailing spaces (protocol.md §3.6,
    /// UNCONFIRMED whether real modules send them).
    pub async fn sold_list(&self) -> Result<std::collections::HashSet<String>, ModuleError> {
        const PAGE: u64 = 1000;
        let mut sold = std::collections::HashSet::new();
        let mut skip = 0;
        loop {
            let request = self.client.get(format!(
                "{}/api/v2/cis/sold?skip={skip}&limit={PAGE}",
                self.base
            ));
            let (status, raw) = self.send(self.with_headers(request, false)).await?;
            let page: SoldPage = parse(&expect_ok(status, raw)?)?;
            let got = page.cis_list.len() as u64;
            sold.extend(page.cis_list.iter().map(|c| c.trim().to_owned()));
            skip += got;
            if got == 0 || skip >= page.total_count {
                return Ok(sold);
            }
        }
    }

    /// `GET /api/v2/status`.
    pub async fn status(&self) -> Result<Status, ModuleError> {
        let request = self.client.get(format!("{}/api/v2/status", self.base));
        let (status, raw) = self.send(self.with_headers(request, false)).await?;
        let raw = expect_ok(status, raw)?;
        parse(&raw)
    }

    /// The module's lifecycle state: `GET /api/v2/status`, or `/api/v1/status` when the module
    /// has no v2 (same fallback rule as `outCheck`). Returns which API answered and the body.
    pub async fn lifecycle(&self) -> Result<(&'static str, Value), ModuleError> {
        let request = self.client.get(format!("{}/api/v2/status", self.base));
        let (status, raw) = self.send(self.with_headers(request, false)).await?;
        if status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED {
            return Ok(("v2", expect_ok(status, raw)?));
        }
        let request = self.client.get(format!("{}/api/v1/status", self.base));
        let (status, raw) = self.send(self.with_headers(request, false)).await?;
        Ok(("v1", expect_ok(status, raw)?))
    }

    async fn send(&self, request: RequestBuilder) -> Result<(StatusCode, Value), ModuleError> {
        let response = request
            .send()
            .await
            .map_err(|e| ModuleError::Unreachable(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ModuleError::Unreachable(e.to_string()))?;
        let raw = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&bytes).chars().take(200).collect())
        });
        tracing::info!(module = %self.base, status = status.as_u16(), answer = %raw, "module answered");
        Ok((status, raw))
    }
}

fn expect_ok(status: StatusCode, raw: Value) -> Result<Value, ModuleError> {
    if status.is_success() {
        return Ok(raw);
    }
    let body: Option<ErrorBody> = serde_json::from_value(raw.clone()).ok();
    let error_code = body.as_ref().and_then(|b| b.error_code).or_else(|| {
        raw.get("errorCode")
            .and_then(Value::as_u64)
            .map(|c| c as u32)
    });
    let description = body.map_or_else(|| raw.to_string(), |b| b.description);
    match error_code {
        Some(error_code) => Err(ModuleError::NotReady {
            error_code,
            description,
        }),
        None => Err(ModuleError::Refused {
            status: status.as_u16(),
            description,
        }),
    }
}

fn parse<T: serde::de::DeserializeOwned>(raw: &Value) -> Result<T, ModuleError> {
    serde_json::from_value(raw.clone()).map_err(|e| ModuleError::BadAnswer(e.to_string()))
}

fn check_code(code: i64, description: &str) -> Result<(), ModuleError> {
    if code == 0 {
        Ok(())
    } else {
        Err(ModuleError::BadAnswer(format!(
            "code {code}: {description}"
        )))
    }
}

fn pick(codes: Option<Vec<ModuleCode>>, ki: &str) -> Result<ModuleCode, ModuleError> {
    codes
        .into_iter()
        .flatten()
        .find(|c| c.cis == ki)
        .ok_or_else(|| ModuleError::BadAnswer(format!("answer has no item for {ki}")))
}

fn answer_v2(result: CheckResult, ki: &str, raw: Value) -> Result<ModuleAnswer, ModuleError> {
    check_code(result.code, &result.description)?;
    let code = pick(result.codes, ki)?;
    Ok(ModuleAnswer {
        code,
        req_id: result.req_id,
        req_timestamp: result.req_timestamp,
        inst: result.inst,
        version: Some(result.version),
        raw,
    })
}
