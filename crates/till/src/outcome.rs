//! The result of one check as the till program sees it (`znak check`, `POST /check`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decision::Violation;
use crate::tag::Tag1260;

/// What the till should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Forbid,
    /// No check happened (no answer, or emergency); see `sale_allowed`.
    NoCheck,
}

/// Which answer the decision rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Online,
    Offline,
    None,
    Emergency,
}

/// What happened on one side of the race.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SideReport {
    /// `answered`, `timeout`, `failed`, `not_ready` (module status or errorCode 4045/4050),
    /// `emergency`, `not_configured`, `skipped`.
    pub status: &'static str,
    /// The CDN host or module URL asked last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The answer as received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Value>,
}

/// One check, ready to print.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckOutcome {
    pub decision: Decision,
    pub source: Source,
    /// Whether the sale may go ahead (`allow`, or `no_check` while checks are not mandatory).
    pub sale_allowed: bool,
    /// Every violated prohibition case, or why no check was possible.
    pub reasons: Vec<Violation>,
    /// Remarks that do not forbid (unchecked rules, missing tag parts, …).
    pub notes: Vec<String>,
    /// The value of tag 1265, `null` when tag 1260 must be left out.
    pub tag1265: Option<String>,
    pub tag1260: Option<Tag1260>,
    pub elapsed_ms: u64,
    pub km: String,
    pub ki: String,
    pub pg: Option<u16>,
    pub online: SideReport,
    pub module: SideReport,
}

impl CheckOutcome {
    /// `znak check`'s exit status: 0 allow, 1 forbid or no check.
    pub fn exit_code(&self) -> u8 {
        match self.decision {
            Decision::Allow => 0,
            Decision::Forbid | Decision::NoCheck => 1,
        }
    }
}
