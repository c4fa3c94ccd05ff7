//! The CouchDB replication protocol, read side (design.md §3): database info, `_changes`,
//! `_local` checkpoint docs, and the documents of the four list databases.
//!
//! A sequence ([`Seq`]) is opaque: a number (PouchDB, CouchDB 1.x) or a string (CouchDB 2+). Store
//! it and send it back verbatim. Unknown fields are ignored everywhere.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Names of the list databases (design.md §3).
pub mod db {
    pub const BLOCKED_CIS: &str = "blocked_cis";
    pub const BLOCKED_GTIN: &str = "blocked_gtin";
    pub const GREY_GTIN: &str = "grey_gtin";
    pub const MIN_PRICE: &str = "min_price";
    pub const ALL: [&str; 4] = [BLOCKED_CIS, BLOCKED_GTIN, GREY_GTIN, MIN_PRICE];
}

/// An opaque update sequence, sent back exactly as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Seq {
    Number(u64),
    Text(String),
    /// Any other JSON (old clustered CouchDB sent arrays).
    Other(Value),
}

impl Seq {
    /// The value for a `since=` query parameter: a number or string as is, other JSON as text.
    pub fn to_query(&self) -> String {
        self.to_string()
    }
}

impl Default for Seq {
    fn default() -> Self {
        Seq::Number(0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seq::Number(n) => write!(f, "{n}"),
            Seq::Text(s) => f.write_str(s),
            Seq::Other(v) => write!(f, "{v}"),
        }
    }
}

/// `GET /{db}`: the fields a replicator needs (CouchDB sends more; they are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_name: Option<String>,
    pub doc_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_del_count: Option<u64>,
    pub update_seq: Seq,
    /// CouchDB 1.x field some replicators (PouchDB) still read; "0" when the source has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_start_time: Option<String>,
}

/// `feed=` of `_changes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feed {
    #[default]
    Normal,
    /// Wait (up to `timeout` ms) until there is at least one change after `since`.
    Longpoll,
    Continuous,
    Eventsource,
}

/// `style=` of `_changes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    #[default]
    MainOnly,
    AllDocs,
}

/// Query parameters of `GET /{db}/_changes` that znak uses; others are ignored by the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesParams {
    /// A [`Seq`] as text ([`Seq::to_query`]); `now` means the current end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_docs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<Feed>,
    /// Milliseconds a longpoll waits before answering with no results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Milliseconds between keep-alive newlines (continuous feeds); accepted and ignored otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<u64>,
}

/// `GET /{db}/_changes` response of a normal or longpoll feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangesResponse {
    pub results: Vec<Change>,
    pub last_seq: Seq,
    /// Changes left after this batch (CouchDB 2+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
}

/// One row of `_changes`: the newest change of one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub seq: Seq,
    pub id: String,
    pub changes: Vec<RevRef>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// With `include_docs=true`; for a deletion `{"_id", "_rev", "_deleted": true}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<Value>,
}

impl Change {
    /// The included document read as `T`; `None` when absent, for a deletion, or on a shape
    /// error (the error is returned so the caller can count and log it).
    pub fn doc_as<T: DeserializeOwned>(&self) -> Option<Result<T, serde_json::Error>> {
        match &self.doc {
            Some(doc) if !self.deleted => Some(T::deserialize(doc)),
            _ => None,
        }
    }
}

/// `{"rev": "1-abc"}` in `changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevRef {
    pub rev: String,
}

/// Answer to a document `PUT` (e.g. a `_local` checkpoint): `{"ok": true, "id", "rev"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutResponse {
    pub ok: bool,
    pub id: String,
    pub rev: String,
}

/// CouchDB's error body: `{"error": "not_found", "reason": "missing"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouchError {
    pub error: String,
    pub reason: String,
}

/// `blocked_cis` document: a code blocked for sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedCis {
    /// The KI (no crypto tail).
    #[serde(rename = "_id")]
    pub ki: String,
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    pub gtin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ogvs: Option<Vec<String>>,
}

/// `blocked_gtin` document: every code of the GTIN is blocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedGtin {
    #[serde(rename = "_id")]
    pub gtin: String,
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ogvs: Option<Vec<String>>,
}

/// `grey_gtin` document: a GTIN that has blocked codes (grey mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GreyGtin {
    #[serde(rename = "_id")]
    pub gtin: String,
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
}

/// `min_price` document: minimum prices of a GTIN, kopecks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinPrice {
    #[serde(rename = "_id")]
    pub gtin: String,
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// NCP / alternative tobacco minimum price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrp: Option<u64>,
    /// Tobacco single minimum price (ЕМЦ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smp: Option<u64>,
}

#[cfg(test)]
#[path = "replication_tests.rs"]
mod tests;
