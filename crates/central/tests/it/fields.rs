//! Per-code fields of `codes/check` end to end (protocol.md §1.7): GTIN and KI, dates in the
//! guide's format (production as issued), producer, ownership per token, and who blocked (by GTIN and by KI).

use central::issue::IssueSpec;
use serde_json::{Value, json};

use crate::harness::{INN, start};

const PRODUCER_INN: &str = "7731376812";
const OTHER_INN: &str = "7700000002";
const PRODUCED: &str = "2026-09-01";
const EXPIRY: &str = "2027-03-01";

/// `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`, as the guide's example `2024-08-16T00:00:00.000Z`.
fn is_guide_date(value: &Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    let pattern = b"dddd-dd-ddTdd:dd:dd.dddZ";
    text.len() == pattern.len()
        && text.bytes().zip(pattern).all(|(c, &p)| match p {
            b'd' => c.is_ascii_digit(),
            other => c == other,
        })
}

fn issue_spec(pg: u16) -> IssueSpec {
    IssueSpec {
        pg,
        count: 1,
        owner_inn: Some(INN.into()),
        producer_inn: Some(PRODUCER_INN.into()),
        produced_ms: central::check::parse_date(PRODUCED),
        expire_ms: central::check::parse_date(EXPIRY),
        ..IssueSpec::default()
    }
}

#[tokio::test]
async fn dairy_and_water_answer_their_gtin_dates_producer_and_owner() {
    let emu = start(1).await;
    let other_token = emu.admin.token(OTHER_INN).await.expect("token");
    for pg in [marking::group::MILK, 13] {
        let km = emu.admin.issue(&issue_spec(pg)).await.expect("issue")[0].clone();
        let ki = marking::MarkingCode::parse(&km).expect("parses").ki();

        let item = emu.item_as(&emu.token, &km).await;
        assert_eq!(item["cis"], json!(km), "pg {pg}");
        assert_eq!(item["printView"], json!(ki), "pg {pg}");
        assert_eq!(item["gtin"], json!(ki[2..16]), "pg {pg}");
        assert_eq!(item["groupIds"], json!([pg]), "pg {pg}");
        for field in ["valid", "found", "verified", "realizable", "utilised"] {
            assert_eq!(item[field], json!(true), "pg {pg} {field}");
        }
        assert_eq!(item["errorCode"], json!(0), "pg {pg}");
        assert_eq!(item["sold"], json!(false), "pg {pg}");
        assert_eq!(item["packageType"], json!("UNIT"), "pg {pg}");
        assert_eq!(item["producerInn"], json!(PRODUCER_INN), "pg {pg}");
        assert_eq!(
            item["expireDate"],
            json!(format!("{EXPIRY}T00:00:00.000Z")),
            "pg {pg}"
        );
        assert_eq!(
            item["productionDate"],
            json!(format!("{PRODUCED}T00:00:00.000Z")),
            "pg {pg}"
        );
        assert_eq!(item["isOwner"], json!(true), "pg {pg}, owner's token");
        assert_eq!(item["isBlocked"], json!(false), "pg {pg}");
        assert!(item.get("ogvs").is_none(), "pg {pg}: {item}");

        let item = emu.item_as(&other_token, &km).await;
        assert_eq!(item["isOwner"], json!(false), "pg {pg}, another's token");
    }
}

#[tokio::test]
async fn production_defaults_to_the_moment_of_issue_and_never_follows_expiry() {
    let emu = start(1).await;
    let before = central::check::format_date(now_ms());
    let spec = IssueSpec {
        produced_ms: None,
        ..issue_spec(marking::group::MILK)
    };
    let km = emu.admin.issue(&spec).await.expect("issue")[0].clone();
    let item = emu.item_as(&emu.token, &km).await;
    let produced = &item["productionDate"];
    assert!(is_guide_date(produced), "{produced}");
    // The format sorts as time does.
    let after = central::check::format_date(now_ms());
    let produced = produced.as_str().unwrap_or_default();
    assert!(before.as_str() <= produced && produced <= after.as_str());

    let backwards = IssueSpec {
        produced_ms: central::check::parse_date("2027-03-02"),
        ..issue_spec(marking::group::MILK)
    };
    let err = emu.admin.issue(&backwards).await.expect_err("refused");
    assert!(
        matches!(&err, central::client::ClientError::Api { status: 400, description } if description.contains("produced_ms")),
        "{err}"
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[tokio::test]
async fn blocking_by_gtin_and_by_ki_names_the_authority_until_unblocked() {
    let emu = start(1).await;
    let km = emu
        .admin
        .issue(&issue_spec(marking::group::MILK))
        .await
        .expect("issue")[0]
        .clone();
    let ki = marking::MarkingCode::parse(&km).expect("parses").ki();
    let gtin = ki[2..16].to_string();
    let blocking = |item: &Value| (item["isBlocked"].clone(), item.get("ogvs").cloned());

    emu.admin
        .block_gtin(vec![gtin.clone()], Some(vec!["FTS".into()]))
        .await
        .expect("block gtin");
    let item = emu.item_as(&emu.token, &km).await;
    assert_eq!(blocking(&item), (json!(true), Some(json!(["FTS"]))));

    // Blocked both ways: both authorities are named.
    emu.admin
        .block(vec![ki.clone()], Some(vec!["RPN".into()]))
        .await
        .expect("block ki");
    let item = emu.item_as(&emu.token, &km).await;
    assert_eq!(blocking(&item), (json!(true), Some(json!(["RPN", "FTS"]))));

    emu.admin
        .unblock_gtin(vec![gtin.clone()])
        .await
        .expect("unblock gtin");
    let item = emu.item_as(&emu.token, &km).await;
    assert_eq!(blocking(&item), (json!(true), Some(json!(["RPN"]))));

    emu.admin.unblock(vec![km.clone()]).await.expect("unblock");
    let item = emu.item_as(&emu.token, &km).await;
    assert_eq!(blocking(&item), (json!(false), None));

    // A KI blocked on its own, by KM this time.
    emu.admin
        .block(vec![km.clone()], Some(vec!["RPN".into()]))
        .await
        .expect("block km");
    let item = emu.item_as(&emu.token, &km).await;
    assert_eq!(blocking(&item), (json!(true), Some(json!(["RPN"]))));
    emu.admin.unblock(vec![ki]).await.expect("unblock by ki");
    let item = emu.item_as(&emu.token, &km).await;
    assert_eq!(blocking(&item), (json!(false), None));
}
