//! `timeZone` in `codes/check` (protocol.md §1.6): it changes tobacco `smp` and the `mrp` of
//! nicotine (16) and alternative tobacco (12), nothing else; a bad value is a 400 naming it.

use serde_json::{Value, json};

use crate::harness::{Emulator, start};

async fn check_in(emu: &Emulator, code: &str, zone: Option<Value>) -> (u16, Value) {
    let mut body = json!({ "codes": [code] });
    if let Some(zone) = zone {
        body["timeZone"] = zone;
    }
    let response = emu
        .http
        .post(format!("{}/api/v4/true-api/codes/check", emu.cdn[0]))
        .header("X-API-KEY", &emu.token)
        .json(&body)
        .send()
        .await
        .expect("codes/check");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

async fn issue(emu: &Emulator, pg: u16) -> (String, String) {
    let spec = central::issue::IssueSpec {
        pg,
        count: 1,
        status: central::store::Status::Introduced,
        ..Default::default()
    };
    let code = emu.admin.issue(&spec).await.expect("issue").remove(0);
    let gtin = marking::MarkingCode::parse(&code)
        .expect("a code")
        .gtin()
        .to_string();
    (code, gtin)
}

#[tokio::test]
async fn zone_prices_change_tobacco_smp_and_nicotine_mrp_only() {
    let emu = start(1).await;
    let (tobacco, tobacco_gtin) = issue(&emu, marking::group::TOBACCO).await;
    let (nicotine, nicotine_gtin) = issue(&emu, marking::group::NCP).await;
    let (milk, milk_gtin) = issue(&emu, 8).await;
    emu.admin
        .price(vec![tobacco_gtin.clone()], None, Some(10_000))
        .await
        .expect("price");
    emu.admin
        .price(vec![nicotine_gtin.clone()], Some(5_000), None)
        .await
        .expect("price");
    for (gtin, mrp, smp) in [
        (&tobacco_gtin, Some(99_999), Some(12_000)),
        (&nicotine_gtin, Some(6_000), None),
        (&milk_gtin, Some(7_000), Some(7_000)),
    ] {
        emu.admin
            .zone_price(vec![gtin.clone()], 11, mrp, smp)
            .await
            .expect("zone price");
    }

    let answer = |body: &Value, field: &str| body["codes"][0][field].clone();
    let tobacco_mrp = answer(&check_in(&emu, &tobacco, None).await.1, "mrp");
    assert!(
        tobacco_mrp.is_u64(),
        "a pack carries its MRP: {tobacco_mrp}"
    );
    for (zone, smp, mrp) in [
        (None, 10_000, 5_000),
        (Some(json!(2)), 10_000, 5_000),
        (Some(json!(3)), 10_000, 5_000),
        (Some(json!(11)), 12_000, 6_000),
    ] {
        let (status, body) = check_in(&emu, &tobacco, zone.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            answer(&body, "smp"),
            json!(smp),
            "tobacco smp, zone {zone:?}"
        );
        // The pack's own MRP is not a zone price.
        assert_eq!(
            answer(&body, "mrp"),
            tobacco_mrp,
            "tobacco mrp, zone {zone:?}"
        );
        let (_, body) = check_in(&emu, &nicotine, zone.clone()).await;
        assert_eq!(
            answer(&body, "mrp"),
            json!(mrp),
            "nicotine mrp, zone {zone:?}"
        );
        let (_, body) = check_in(&emu, &milk, zone.clone()).await;
        assert_eq!(
            (answer(&body, "mrp"), answer(&body, "smp")),
            (Value::Null, Value::Null),
            "milk, zone {zone:?}"
        );
    }

    // Withdrawn zone prices fall back to the GTIN's prices.
    emu.admin
        .zone_price(vec![tobacco_gtin.clone()], 11, None, None)
        .await
        .expect("withdraw");
    let (_, body) = check_in(&emu, &tobacco, Some(json!(11))).await;
    assert_eq!(answer(&body, "smp"), json!(10_000));
}

#[tokio::test]
async fn a_bad_time_zone_is_a_400_naming_it() {
    let emu = start(1).await;
    let (code, gtin) = issue(&emu, 8).await;
    for zone in [
        json!(0),
        json!(12),
        json!(-1),
        json!("2"),
        json!(2.5),
        json!([2]),
    ] {
        let (status, body) = check_in(&emu, &code, Some(zone.clone())).await;
        assert_eq!(
            (status, &body["code"]),
            (400, &json!(400)),
            "timeZone {zone}"
        );
        let description = body["description"].as_str().expect("description");
        assert!(description.contains("timeZone"), "{zone}: {description}");
    }
    let err = emu
        .admin
        .zone_price(vec![gtin], 12, Some(1), None)
        .await
        .expect_err("zone 12");
    assert!(err.to_string().contains("zone"), "{err}");
    // null is the same as absent.
    assert_eq!(check_in(&emu, &code, Some(Value::Null)).await.0, 200);
}
