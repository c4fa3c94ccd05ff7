//! Module registration at the operator: our definition (the operator's own protocol is not
//! public; design.md §3). Documented in docs/registration.md.
//!
//! `POST {serviceUrl}/lm/v1/register` with the participant token; the answer gives the module its
//! `inst`, the participant's `inn`, and where and how to replicate the lists.

use serde::{Deserialize, Serialize};

/// Path of the registration method on the operator's main host.
pub const REGISTER_PATH: &str = "/lm/v1/register";

/// `POST /lm/v1/register` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The participant token (the same X-API-KEY as for `codes/check`).
    pub token: String,
}

/// `POST /lm/v1/register` response 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    /// The module instance id (UUID), assigned by the operator; goes to tag 1265 `Inst=`.
    pub inst: String,
    /// INN of the participant that owns the token.
    pub inn: String,
    /// Where and how to pull the lists.
    pub replication: ReplicationSource,
}

/// A CouchDB-protocol source: database `d` lives at `{url}/{d}`; every request carries
/// `Authorization: Basic base64(username:password)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationSource {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8080/replication`.
    pub url: String,
    pub databases: Databases,
    pub username: String,
    pub password: String,
}

/// Names of the four list databases at the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Databases {
    pub blocked_cis: String,
    pub blocked_gtin: String,
    pub grey_gtin: String,
    pub min_price: String,
}

impl Default for Databases {
    /// The names the emulator uses (design.md §3).
    fn default() -> Self {
        use crate::replication::db;
        Self {
            blocked_cis: db::BLOCKED_CIS.into(),
            blocked_gtin: db::BLOCKED_GTIN.into(),
            grey_gtin: db::GREY_GTIN.into(),
            min_price: db::MIN_PRICE.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn documented_example_round_trips() {
        // The example of docs/registration.md.
        let text = r#"{
          "inst": "4c182ce0-a325-42a9-ab9e-b5e562cc8721",
          "inn": "7700000001",
          "replication": {
            "url": "http://127.0.0.1:8080/replication",
            "databases": {"blockedCis": "blocked_cis", "blockedGtin": "blocked_gtin",
                          "greyGtin": "grey_gtin", "minPrice": "min_price"},
            "username": "lm-4c182ce0", "password": "p4ss"
          }
        }"#;
        let response: RegisterResponse = serde_json::from_str(text).expect("parses");
        assert_eq!(response.replication.databases, Databases::default());
        let original: Value = serde_json::from_str(text).expect("json");
        assert_eq!(
            serde_json::to_value(&response).expect("serialises"),
            original
        );
    }

    #[test]
    fn request_is_just_the_token() {
        let request = RegisterRequest { token: "t".into() };
        assert_eq!(
            serde_json::to_value(&request).expect("serialises"),
            json!({"token": "t"})
        );
        assert!(serde_json::from_str::<RegisterRequest>(r#"{"tokn": "t"}"#).is_err());
    }
}
