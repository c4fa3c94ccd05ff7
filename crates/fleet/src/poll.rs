//! Asking modules for their status: `GET /api/v2/status`, then `/api/v1/status` when v2 is
//! unknown (404/405), all hosts at once, each within its own deadline. The answer is read
//! leniently (the official module's attribute set may grow, v1 counts may be `"unknown"`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::hosts::Host;

/// A status answer larger than this is not a status answer.
const MAX_BODY: usize = 1024 * 1024;

/// How to poll.
#[derive(Debug, Clone, Copy)]
pub struct PollOptions {
    /// Deadline per host, both API generations included.
    pub timeout: Duration,
    /// Hosts asked at the same time.
    pub concurrency: usize,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            timeout: Duration::from_secs(5),
            concurrency: 64,
        }
    }
}

/// What one module said about itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleStatus {
    /// `v2` or `v1`: the API that answered.
    pub api: &'static str,
    /// `status` verbatim (`ready`, `initialization`, `sync_error`, ...).
    pub status: String,
    /// `version`.
    pub version: Option<String>,
    /// Software `name` (`regime` for the official module, `znak` for ours).
    pub name: Option<String>,
    /// `operationMode` (`active`, `service`).
    pub operation_mode: Option<String>,
    /// `lastSync`, Unix ms (0 = never).
    pub last_sync_ms: Option<i64>,
    /// `inst`.
    pub inst: Option<String>,
    /// `inn`.
    pub inn: Option<String>,
    /// Documents per list: v2 `dbState.<db>.docCount`, v1 `replicationStatus.<db>.localDocCount`
    /// (`None` where the module says `"unknown"`).
    pub doc_counts: BTreeMap<String, Option<u64>>,
}

/// The outcome of polling one host.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// The module answered with a status.
    Status(ModuleStatus),
    /// No connection or no answer within the deadline.
    Unreachable { error: String },
    /// Something answered, but not with a module status.
    BadAnswer { error: String },
}

/// One host and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostStatus {
    /// The host as listed.
    pub name: String,
    /// Its base URL.
    pub url: String,
    /// What it answered.
    pub answer: Answer,
}

/// The shared HTTP client: rustls with ring, never OpenSSL.
fn client() -> Result<reqwest::Client, reqwest::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Polls every host concurrently; the result is in the order of `hosts`.
pub async fn poll_all(hosts: &[Host], options: PollOptions) -> Vec<HostStatus> {
    let client = match client() {
        Ok(client) => client,
        Err(err) => {
            let error = format!("cannot create an HTTP client: {err}");
            return hosts
                .iter()
                .map(|host| unreachable(host, error.clone()))
                .collect();
        }
    };
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (index, host) in hosts.iter().cloned().enumerate() {
        let client = client.clone();
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let answer = match tokio::time::timeout(options.timeout, ask(&client, &host)).await {
                Ok(answer) => answer,
                Err(_) => Answer::Unreachable {
                    error: format!("no answer within {} s", options.timeout.as_secs_f64()),
                },
            };
            (index, answer)
        });
    }
    let mut answers: Vec<Option<Answer>> = vec![None; hosts.len()];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, answer)) = joined {
            answers[index] = Some(answer);
        }
    }
    hosts
        .iter()
        .zip(answers)
        .map(|(host, answer)| HostStatus {
            name: host.name.clone(),
            url: host.url.clone(),
            answer: answer.unwrap_or_else(|| Answer::BadAnswer {
                error: "the poll of this host failed internally".to_owned(),
            }),
        })
        .collect()
}

fn unreachable(host: &Host, error: String) -> HostStatus {
    HostStatus {
        name: host.name.clone(),
        url: host.url.clone(),
        answer: Answer::Unreachable { error },
    }
}

/// v2, then v1 if the module does not know v2.
async fn ask(client: &reqwest::Client, host: &Host) -> Answer {
    match fetch(client, host, "/api/v2/status").await {
        Fetched::Json(body) => read_status(&body, "v2"),
        Fetched::NotFound => match fetch(client, host, "/api/v1/status").await {
            Fetched::Json(body) => read_status(&body, "v1"),
            Fetched::NotFound => Answer::BadAnswer {
                error: "neither /api/v2/status nor /api/v1/status exists here".to_owned(),
            },
            Fetched::Failed(answer) => answer,
        },
        Fetched::Failed(answer) => answer,
    }
}

enum Fetched {
    Json(Value),
    NotFound,
    Failed(Answer),
}

async fn fetch(client: &reqwest::Client, host: &Host, path: &str) -> Fetched {
    let mut request = client
        .get(format!("{}{path}", host.url))
        .header("Accept", "application/json");
    if let Some(login) = &host.login {
        request = request.basic_auth(login, host.password.as_deref());
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(err) => {
            return Fetched::Failed(Answer::Unreachable {
                error: error_chain(&err),
            });
        }
    };
    let status = response.status();
    if status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED {
        return Fetched::NotFound;
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_BODY {
                    return bad(format!("{path}: answer larger than {MAX_BODY} bytes"));
                }
            }
            Ok(None) => break,
            Err(err) => {
                return Fetched::Failed(Answer::Unreachable {
                    error: format!("{path}: {}", error_chain(&err)),
                });
            }
        }
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let excerpt: String = text.chars().take(200).collect();
        return bad(format!("{path}: HTTP {status}: {excerpt}"));
    }
    match serde_json::from_slice(&body) {
        Ok(json) => Fetched::Json(json),
        Err(err) => bad(format!("{path}: the answer is not JSON: {err}")),
    }
}

fn bad(error: String) -> Fetched {
    Fetched::Failed(Answer::BadAnswer { error })
}

/// reqwest's message plus its causes ("error sending request: ...: Connection refused").
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Reads a status answer of either API generation.
pub fn read_status(body: &Value, api: &'static str) -> Answer {
    let Some(object) = body.as_object() else {
        return Answer::BadAnswer {
            error: format!("{api} status: the answer is not a JSON object"),
        };
    };
    let Some(status) = object.get("status").and_then(Value::as_str) else {
        return Answer::BadAnswer {
            error: format!("{api} status: the answer has no \"status\" string"),
        };
    };
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut doc_counts = BTreeMap::new();
    if let Some(dbs) = object.get("dbState").and_then(Value::as_object) {
        for (db, state) in dbs {
            doc_counts.insert(db.clone(), state.get("docCount").and_then(count));
        }
    } else if let Some(dbs) = object.get("replicationStatus").and_then(Value::as_object) {
        for (db, state) in dbs {
            doc_counts.insert(db.clone(), state.get("localDocCount").and_then(count));
        }
    }
    Answer::Status(ModuleStatus {
        api,
        status: status.to_owned(),
        version: text("version"),
        name: text("name"),
        operation_mode: text("operationMode"),
        last_sync_ms: object.get("lastSync").and_then(Value::as_i64),
        inst: text("inst"),
        inn: text("inn"),
        doc_counts,
    })
}

/// A document count: a number, or a numeric string; `"unknown"` is `None`.
fn count(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}
