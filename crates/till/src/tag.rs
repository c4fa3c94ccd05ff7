//! Tag 1260 (industry requisite of the item) and its parts 1262–1265 (protocol.md §2.6).

use serde::Serialize;

/// Tag 1262, ФОИВ id: constant for permissive mode.
pub const FOIV_ID: &str = "030";
/// Tag 1263, date of the foundation document (ПП 1944): constant.
pub const FOUNDATION_DOC_DATE: &str = "21.11.2023";
/// Tag 1264, number of the foundation document: constant.
pub const FOUNDATION_DOC_NUMBER: &str = "1944";
/// Longest value tag 1265 may hold (FFD: string ≤ 256).
pub const MAX_1265_LEN: usize = 256;

/// The four values that go into tag 1260, with FFD's JSON names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag1260 {
    #[serde(rename = "idFoiv")]
    pub tag1262: &'static str,
    #[serde(rename = "foundationDocDateTime")]
    pub tag1263: &'static str,
    #[serde(rename = "foundationDocNumber")]
    pub tag1264: &'static str,
    #[serde(rename = "industryPropValue")]
    pub tag1265: String,
}

/// Why a tag 1265 value could not be formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("tag 1265 value would be {0} characters, the limit is 256")]
    TooLong(usize),
    #[error("the answer's {0} is empty: it cannot go into tag 1265")]
    Empty(&'static str),
}

impl Tag1260 {
    /// After an online answer: `UUID=<reqId>&Time=<reqTimestamp>`.
    pub fn online(req_id: &str, req_timestamp: i64) -> Result<Self, TagError> {
        non_empty(req_id, "reqId")?;
        Self::with(format!("UUID={req_id}&Time={req_timestamp}"))
    }

    /// After a local-module answer: `UUID=<reqId>&Time=<reqTimestamp>&Inst=<inst>&Ver=<version>`.
    pub fn offline(
        req_id: &str,
        req_timestamp: i64,
        inst: &str,
        version: &str,
    ) -> Result<Self, TagError> {
        non_empty(req_id, "reqId")?;
        non_empty(inst, "inst")?;
        non_empty(version, "version")?;
        Self::with(format!(
            "UUID={req_id}&Time={req_timestamp}&Inst={inst}&Ver={version}"
        ))
    }

    fn with(tag1265: String) -> Result<Self, TagError> {
        if tag1265.len() > MAX_1265_LEN {
            return Err(TagError::TooLong(tag1265.len()));
        }
        Ok(Self {
            tag1262: FOIV_ID,
            tag1263: FOUNDATION_DOC_DATE,
            tag1264: FOUNDATION_DOC_NUMBER,
            tag1265,
        })
    }
}

fn non_empty(value: &str, what: &'static str) -> Result<(), TagError> {
    if value.trim().is_empty() {
        Err(TagError::Empty(what))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_value_is_the_guides_example() {
        let tag =
            Tag1260::online("2ce10bdb-6510-4d37-be04-dd473b98c728", 1692691702065).expect("forms");
        assert_eq!(
            tag.tag1265,
            "UUID=2ce10bdb-6510-4d37-be04-dd473b98c728&Time=1692691702065"
        );
        assert_eq!(
            (tag.tag1262, tag.tag1263, tag.tag1264),
            ("030", "21.11.2023", "1944")
        );
    }

    #[test]
    fn offline_value_is_the_guides_example() {
        let tag = Tag1260::offline(
            "638f669e-7e8e-85a9-3453-2c429d001150",
            1731658318006,
            "4c182ce0-a325-42a9-ab9e-b5e562cc8721",
            "52cadcfe-a28f-4877-8b2f-da0481ddf1fa",
        )
        .expect("forms");
        assert_eq!(
            tag.tag1265,
            "UUID=638f669e-7e8e-85a9-3453-2c429d001150&Time=1731658318006\
             &Inst=4c182ce0-a325-42a9-ab9e-b5e562cc8721&Ver=52cadcfe-a28f-4877-8b2f-da0481ddf1fa"
        );
        let json = serde_json::to_value(&tag).expect("serialises");
        assert_eq!(json["idFoiv"], "030");
        assert_eq!(json["industryPropValue"], tag.tag1265.as_str());
    }

    #[test]
    fn bad_values_are_refused() {
        assert_eq!(Tag1260::online("", 1), Err(TagError::Empty("reqId")));
        assert_eq!(
            Tag1260::offline("r", 1, "i", " "),
            Err(TagError::Empty("version"))
        );
        let long = "x".repeat(300);
        assert!(matches!(
            Tag1260::online(&long, 1),
            Err(TagError::TooLong(_))
        ));
    }
}
