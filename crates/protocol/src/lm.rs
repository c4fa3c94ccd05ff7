//! The local module's HTTP API, v1 and v2 (protocol.md §3). Field names are the wire names.
//!
//! Every field the reference marks required in v2 but that older modules (v1, LM 1.x) do not
//! send is an `Option` here, so one type reads both generations; a server fills them all.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `errorCode` in a 400 answer of `outCheck`: module `not_configured` or `initialization`.
pub const ERROR_NOT_READY: u32 = 4045;
/// `errorCode` in a 400 answer of `outCheck`: `sync_error`, 72 h without sync.
pub const ERROR_SYNC_STALE: u32 = 4050;

/// `POST /api/v{1,2}/init` body (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitRequest {
    /// The participant's True API token (X-API-KEY).
    pub token: String,
    /// `true` deletes the sold-goods DB (added v13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_sold: Option<bool>,
    /// `true` initialises in grey-GTIN-list mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_grey_list: Option<bool>,
}

/// Lifecycle state reported in `status` (§3.3). Only `Ready` allows offline checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModuleState {
    NotConfigured,
    Initialization,
    Ready,
    Failure,
    SyncError,
    /// A value this client does not know (the attribute set may grow).
    #[serde(other)]
    Unknown,
}

/// `operationMode` of `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperationMode {
    Active,
    Service,
    #[serde(other)]
    Unknown,
}

/// One entry of v2 `dbState`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbState {
    pub doc_count: u64,
}

/// A v1 replication counter: a number, or the string `"unknown"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Counter {
    Number(i64),
    Text(String),
}

/// One entry of v1 `replicationStatus` (`cis`, `blocked_series`, `blocked_gtin`, `blocked_cis`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub local_doc_count: Option<Counter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub server_doc_count: Option<Counter>,
    /// Milliseconds in FMU-API's model (unit UNCONFIRMED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub time_lag: Option<Counter>,
}

/// `GET /api/v{1,2}/status` answer (§3.3). Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub version: String,
    pub status: ModuleState,
    pub service_url: String,
    pub operation_mode: OperationMode,
    pub name: String,
    /// Unix ms of the last known start of an active replication.
    pub last_update: i64,
    /// Unix ms of the last sync over all DBs; 0 if never initialised. The 72 h rule counts here.
    pub last_sync: i64,
    pub inst: String,
    pub inn: String,
    pub db_version: String,
    /// v2 only, after initialisation: db name → document count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub db_state: Option<BTreeMap<String, DbState>>,
    /// Required in the v2 table, absent from its example: optional for reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub is_grey_gtin: Option<bool>,
    /// v1 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub requires_download: Option<bool>,
    /// v1 only: db name → counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub replication_status: Option<BTreeMap<String, ReplicationState>>,
    /// Extension (znak; not in the operator's API, which tells clients to ignore unknown
    /// fields): db name → progress of its running or last pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub sync_progress: Option<BTreeMap<String, SyncProgress>>,
    /// Extension (znak): why the module is in `failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub failure_reason: Option<String>,
    /// Extension (znak): the last sync error, until a sync succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub last_sync_error: Option<String>,
}

/// Extension (znak): progress of one database's pull, so an admin sees "37 % of blocked_cis,
/// 2.1 M docs/min, ~4 min left" during a long initialisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncProgress {
    /// Documents received in this pull.
    pub received: u64,
    /// Documents the source announced when the pull started (0 = unknown).
    pub expected: u64,
    /// Whole percent done, when `expected` is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, maximum = 100)]
    pub percent: Option<u8>,
    /// Documents per minute since the pull started.
    pub docs_per_minute: u64,
    /// Seconds left at that rate, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub eta_seconds: Option<u64>,
    /// The first full pull of this database has completed.
    pub pulled: bool,
    /// Unix ms when the pull started.
    pub started_at: u64,
    /// Unix ms of its last batch.
    pub updated_at: u64,
}

/// One KI of a v2 `outCheck` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CisQuery {
    /// The KI, without crypto tail.
    pub cis: String,
    /// Product group id (protocol.md §1.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 65535)]
    pub pg: Option<u16>,
}

/// `POST /api/v2/cis/outCheck` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OutCheckRequest {
    /// 1 to 1000 KIs (the module also takes plain KI strings here).
    #[schema(min_items = 1, max_items = 1000)]
    pub cis_list: Vec<CisQuery>,
}

/// A list of plain KI strings: the v1 `outCheck` body, and the body of `cis/sell`,
/// `cis/return` (§3.5, §3.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CisList {
    /// 1 to 1000 KIs.
    #[schema(min_items = 1, max_items = 1000)]
    pub cis_list: Vec<String>,
}

/// What the module knows about one KI (an item of `codes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModuleCode {
    pub cis: String,
    pub gtin: String,
    pub is_blocked: bool,
    pub is_grey_gtin: bool,
    /// In the local sold DB: a repeat sale. Always sent by v2 (added v12); absent in v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub sold: Option<bool>,
    /// NCP minimum price, kopecks, when the GTIN is in the min-price DB (§3.4). Three states:
    /// absent (`None`), `"mrp": null` (`Some(None)`: `pg` 16 asked and the GTIN is not in the
    /// min-price DB), a price (`Some(Some(kopecks))`). Readers wanting just the price use
    /// `mrp.flatten()`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub mrp: Option<Option<u64>>,
    /// Lowest ЕМЦ of the tobacco consumer pack, kopecks. Always sent by v2 (added v17).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub smp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub print_view: Option<String>,
}

/// One element of a v2 `outCheck` answer: one per requested KI, each with its own `reqId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub code: i64,
    pub description: String,
    /// May be absent when `code` ≠ 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub codes: Option<Vec<ModuleCode>>,
    pub req_id: String,
    pub req_timestamp: i64,
    pub inst: String,
    /// Version (UUID) of the blacklist DB; older builds called it `ver`.
    #[serde(alias = "ver")]
    pub version: String,
}

/// `POST /api/v2/cis/outCheck` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OutCheckResponse {
    pub results: Vec<CheckResult>,
}

/// v1 `outCheck` / `cis/check` answer: flat, no `results` wrapper (§3.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutCheckV1Response {
    pub code: i64,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub codes: Option<Vec<ModuleCode>>,
    pub req_id: String,
    pub req_timestamp: i64,
    pub inst: String,
    /// Absent in some v1 builds; `ver` in older ones.
    #[serde(default, alias = "ver", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub version: Option<String>,
}

/// `POST /api/v2/greyList` body (§3.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GreyListRequest {
    pub enable_grey_list: bool,
}

/// One item of a `cis/sell` or `cis/return` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CisOutcome {
    /// Sell: added to the sold DB; return: removed from it.
    pub success: bool,
    pub cis: String,
}

/// `cis/sell` (201) and `cis/return` (200) answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CisOutcomes {
    pub results: Vec<CisOutcome>,
}

/// `GET /api/v2/cis/sold?skip=&limit=` query; `limit` 0…1000, default 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct SoldQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// `GET /api/v2/cis/sold` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SoldPage {
    /// Documents in the sold DB.
    pub total_count: u64,
    pub cis_list: Vec<String>,
}

/// Deserialises a field that is present (possibly `null`) as `Some(_)`; `default` covers absent.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Error body of every 4xx/5xx of the module (design.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The HTTP status.
    pub code: u16,
    pub description: String,
    /// 4045 or 4050 where the guide defines one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error_code: Option<u32>,
}

#[cfg(test)]
#[path = "lm_tests.rs"]
mod tests;
