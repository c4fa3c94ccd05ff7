//! The operator's True API for permissive mode (protocol.md §1): token, CDN list, CDN health and
//! `codes/check`. Field names are exactly the guide's; every field the guide does not mark "+" is
//! an `Option` and is left out of the JSON when `None`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Path prefix of every True API method except the token method (protocol.md §1.1).
pub const PREFIX: &str = "/api/v4/true-api";
/// `GET` on the main host: the list of CDN hosts.
pub const CDN_INFO_PATH: &str = "/api/v4/true-api/cdn/info";
/// `GET` on each CDN host.
pub const HEALTH_CHECK_PATH: &str = "/api/v4/true-api/cdn/health/check";
/// `POST` on a CDN host.
pub const CODES_CHECK_PATH: &str = "/api/v4/true-api/codes/check";
/// `POST` on the main host: token from signed data (protocol.md §1.2).
pub const PERMISSIVE_ACCESS_PATH: &str = "/api/v3/true-api/auth/permissive-access";
/// The header carrying the participant token.
pub const API_KEY_HEADER: &str = "X-API-KEY";

/// HTTP status meaning "emergency mode is in force, switch checks off" (protocol.md §1.13).
pub const EMERGENCY_STATUS: u16 = 203;
/// Body `code` of a 5xx meaning "the external system could not answer about this KM" (§1.5).
pub const EXTERNAL_SYSTEM_UNAVAILABLE: i64 = 5000;

/// `POST /api/v3/true-api/auth/permissive-access` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissiveAccessRequest {
    /// Base64 of arbitrary data with an attached signature.
    pub data: String,
}

/// `POST /api/v3/true-api/auth/permissive-access` response 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissiveAccessResponse {
    /// The value to send as `X-API-KEY`.
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Seconds.
    pub expires_in: i64,
    pub token_type: String,
}

/// `GET /cdn/info` response 200 (protocol.md §1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdnInfo {
    pub code: i64,
    pub description: String,
    pub hosts: Vec<CdnHost>,
}

/// One CDN site: base URL (scheme + host [+ port]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdnHost {
    pub host: String,
}

/// `GET /cdn/health/check` response 200 (protocol.md §1.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub code: i64,
    pub description: String,
    /// Informational only: must not be used for prioritisation.
    #[serde(rename = "avgTimeMs")]
    pub avg_time_ms: u64,
}

/// `POST /codes/check` request (protocol.md §1.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodesCheckRequest {
    /// Full KMs with crypto tail; GS is a real 0x1D (JSON `\u001d`).
    pub codes: Vec<String>,
    /// Fiscal drive factory number, 16 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal_drive_number: Option<String>,
    /// 1–11 as FFD tag 1011; default 2 (Moscow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<i32>,
}

/// `POST /codes/check` response 200 (protocol.md §1.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodesCheckResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<Vec<CodeInfo>>,
    /// UUID; goes to tag 1265 `UUID=`.
    pub req_id: String,
    /// UTC milliseconds; goes to tag 1265 `Time=`.
    pub req_timestamp: i64,
}

/// The per-code object of `codes/check` (protocol.md §1.7), fields in the guide's order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeInfo {
    /// The KM from the request.
    pub cis: String,
    /// The KI exists in GIS MT.
    pub found: bool,
    /// The KM structure is valid.
    pub valid: bool,
    /// The KM without crypto tail (= KI). Absent for a string that is not a KM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub print_view: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<Vec<u32>>,
    /// The crypto-signature check passed.
    pub verified: bool,
    /// In circulation («В обороте»).
    pub realizable: bool,
    /// Applied to packaging («нанесён»).
    pub utilised: bool,
    /// `yyyy-MM-dd'T'HH:mm:ss.SSSZ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_date: Option<String>,
    /// Dairy only: index → date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable_expirations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_date: Option<String>,
    /// Grams; dairy only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_weight: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_vet_document: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_owner: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_blocked: Option<bool>,
    /// Who blocked: `RAR`, `FTS`, `FNS`, `RSHN`, `RPN`, `MVD`, `RZN`, `VETRF`, `RD`, `FSSP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ogvs: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// See [`ErrorCode`]; kept as a number so an unknown value still parses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tracking: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sold: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elimination_state: Option<u32>,
    /// Kopecks: tobacco maximum retail price; NCP / alternative tobacco minimum price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrp: Option<u64>,
    /// Kopecks: single minimum price (ЕМЦ) of the tobacco consumer pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gray_zone: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_unit_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sold_unit_count: Option<u64>,
    /// See [`package_type`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_type: Option<String>,
    /// Capacity of a group pack (seen in the guide's sandbox case 18, not in its field table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_quantity: Option<u32>,
    /// KI of the aggregate containing this code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer_inn: Option<String>,
}

/// `packageType` values (protocol.md §1.10).
pub mod package_type {
    pub const UNIT: &str = "UNIT";
    pub const GROUP: &str = "GROUP";
    pub const BUNDLE: &str = "BUNDLE";
    pub const PRODUCT_SET: &str = "PRODUCT_SET";
}

/// Error body of True API failures, e.g. a 500 with `code` 5000 (protocol.md §1.5):
/// `{"code": 5000, "description": "string", "codes": []}`. The emulator uses the same shape
/// (without `codes`) for 4xx answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: i64,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<Vec<CodeInfo>>,
}

/// `errorCode` values (protocol.md §1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorCode {
    NoError = 0,
    ValidationError = 1,
    NoGtin = 2,
    NoSerial = 3,
    ForbiddenCharacters = 4,
    SignatureFormatMismatch = 5,
    SignatureInvalid = 6,
    CryptoKeyInvalid = 7,
    FailedInIssuingCountry = 8,
    UnsupportedAis = 9,
    NotFound = 10,
    NotFoundCrossBorder = 11,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 12] = [
        Self::NoError,
        Self::ValidationError,
        Self::NoGtin,
        Self::NoSerial,
        Self::ForbiddenCharacters,
        Self::SignatureFormatMismatch,
        Self::SignatureInvalid,
        Self::CryptoKeyInvalid,
        Self::FailedInIssuingCountry,
        Self::UnsupportedAis,
        Self::NotFound,
        Self::NotFoundCrossBorder,
    ];

    /// The number sent in `errorCode`.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The variant of a received `errorCode`, `None` for a value the guide does not list.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }

    /// The guide's meaning, in English.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::NoError => "no errors",
            Self::ValidationError => "KM validation error",
            Self::NoGtin => "KM has no GTIN",
            Self::NoSerial => "KM has no serial number",
            Self::ForbiddenCharacters => "KM contains forbidden characters",
            Self::SignatureFormatMismatch => "signature format does not match KM type",
            Self::SignatureInvalid => "crypto signature invalid",
            Self::CryptoKeyInvalid => "crypto key invalid",
            Self::FailedInIssuingCountry => "KM failed verification in the issuing country",
            Self::UnsupportedAis => "AIs found in KM are not supported",
            Self::NotFound => "KM not found in GIS MT",
            Self::NotFoundCrossBorder => "KM not found in the cross-border system",
        }
    }
}

#[cfg(test)]
#[path = "true_api_tests.rs"]
mod tests;
