//! A generated list source (a test double for benchmarks): the CouchDB-protocol read side the
//! module's sync engine uses — `POST /lm/v1/register`, `GET /{db}`, `GET /{db}/_changes` (normal
//! and longpoll) — with every document computed from its sequence number and nothing stored.
//!
//! It exists for the 100 M-document sync run: the emulator's own store would need ~50 GB of disk
//! for that many documents (≈ 500 B each with its feed), more than this machine has beside the
//! build trees. The rows have the emulator's shape (`seq`, `id`, `changes`, `doc` with `_id`,
//! `_rev` and the list fields), so the module parses and maps exactly what it would from
//! `znak central`; serving costs the source less CPU than reading a store does.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use protocol::registration::{Databases, RegisterResponse, ReplicationSource};
use protocol::replication::db;
use serde_json::json;
use tokio::net::TcpListener;

/// How many documents each list holds; ids are derived from the sequence number (1-based).
#[derive(Debug, Clone, Copy)]
pub struct SyntheticLists {
    /// Blocked KIs.
    pub blocked_cis: u64,
    /// Minimum-price GTINs.
    pub min_price: u64,
}

impl SyntheticLists {
    fn count(&self, db: &str) -> Option<u64> {
        match db {
            "blocked_cis" => Some(self.blocked_cis),
            "min_price" => Some(self.min_price),
            "blocked_gtin" | "grey_gtin" => Some(0),
            _ => None,
        }
    }
}

/// The GTIN (14 digits, valid check digit) of number `i`.
pub fn gtin(i: u64) -> String {
    let first13 = format!("{:013}", 4_600_000_000_000 + i);
    let check = marking::gtin::check_digit(first13.as_bytes());
    format!("{first13}{check}")
}

/// The KI (GTIN + serial) of blocked document number `i`.
pub fn ki(i: u64) -> String {
    format!("01{}21{:08}", gtin(i % 5000), i)
}

/// Serves `lists` on `listener` until the task is dropped; the base URL is the listener's.
pub async fn serve(lists: SyntheticLists, listener: TcpListener) -> std::io::Result<()> {
    let base = format!("http://{}", listener.local_addr()?);
    let app = Router::new()
        .route(
            "/lm/v1/register",
            post(move || async move {
                axum::Json(RegisterResponse {
                    inst: "00000000-0000-4000-8000-000000000100".into(),
                    inn: "7700000001".into(),
                    replication: ReplicationSource {
                        url: base.clone(),
                        databases: Databases {
                            blocked_cis: db::BLOCKED_CIS.into(),
                            blocked_gtin: db::BLOCKED_GTIN.into(),
                            grey_gtin: db::GREY_GTIN.into(),
                            min_price: db::MIN_PRICE.into(),
                        },
                        username: String::new(),
                        password: String::new(),
                    },
                })
            }),
        )
        .route("/{db}", get(info))
        .route("/{db}/_changes", get(changes))
        .with_state(lists);
    // Small answers must not wait for the peer's delayed ACK (Nagle).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

async fn info(State(lists): State<SyntheticLists>, Path(db): Path<String>) -> Response {
    match lists.count(&db) {
        Some(n) => {
            axum::Json(json!({"db_name": db, "doc_count": n, "update_seq": n})).into_response()
        }
        None => not_found(&db),
    }
}

async fn changes(
    State(lists): State<SyntheticLists>,
    Path(db): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(count) = lists.count(&db) else {
        return not_found(&db);
    };
    let number = |name: &str| query.get(name).and_then(|v| v.parse::<u64>().ok());
    let since = number("since").unwrap_or(0).min(count);
    let limit = number("limit").unwrap_or(u64::MAX).max(1);
    let end = since.saturating_add(limit).min(count);
    if end == since && query.get("feed").map(String::as_str) == Some("longpoll") {
        // Nothing will ever change: hold the request as a source with no news does.
        let wait = number("timeout").unwrap_or(60_000).min(60_000);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    let mut body = String::with_capacity(((end - since) as usize) * 140 + 64);
    body.push_str("{\"results\":[");
    for seq in since + 1..=end {
        if seq > since + 1 {
            body.push(',');
        }
        let _ = match db.as_str() {
            "blocked_cis" => {
                let id = ki(seq);
                write!(
                    body,
                    r#"{{"seq":{seq},"id":"{id}","changes":[{{"rev":"1-{seq:x}"}}],"doc":{{"_id":"{id}","_rev":"1-{seq:x}","gtin":"{}"}}}}"#,
                    &id[2..16]
                )
            }
            _ => {
                let id = gtin(10_000 + seq);
                write!(
                    body,
                    r#"{{"seq":{seq},"id":"{id}","changes":[{{"rev":"1-{seq:x}"}}],"doc":{{"_id":"{id}","_rev":"1-{seq:x}","mrp":15000,"smp":12300}}}}"#
                )
            }
        };
    }
    let _ = write!(body, "],\"last_seq\":{end},\"pending\":{}}}", count - end);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn not_found(db: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "not_found", "reason": format!("no database {db}")})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_cover_every_document_once_and_end_with_pending_zero() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(
            SyntheticLists {
                blocked_cis: 25,
                min_price: 3,
            },
            listener,
        ));
        let client = lm::sync::source::http_client(Default::default()).unwrap();
        let mut since = 0;
        let mut ids = Vec::new();
        loop {
            let page: serde_json::Value = client
                .get(format!(
                    "{url}/blocked_cis/_changes?since={since}&limit=10&include_docs=true"
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for row in page["results"].as_array().unwrap() {
                assert_eq!(row["doc"]["_id"], row["id"]);
                ids.push(row["id"].as_str().unwrap().to_owned());
            }
            since = page["last_seq"].as_u64().unwrap();
            if page["pending"] == 0 {
                break;
            }
        }
        assert_eq!(ids.len(), 25);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 25);
        let info: serde_json::Value = client
            .get(format!("{url}/min_price"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["doc_count"], 3);
        let missing = client.get(format!("{url}/nope")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
    }
}
