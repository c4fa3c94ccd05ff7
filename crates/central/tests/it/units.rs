//! Units of codes sold in parts (protocol.md §1.7): `innerUnitCount`, `soldUnitCount`,
//! `productWeight`, issued through the admin API and moved by partial sales.

use central::issue::IssueSpec;
use serde_json::{Value, json};

use crate::harness::start;

fn counters(item: &Value) -> (&Value, &Value, &Value, &Value) {
    (
        &item["innerUnitCount"],
        &item["soldUnitCount"],
        &item["sold"],
        &item["realizable"],
    )
}

#[tokio::test]
async fn a_keg_sold_in_parts_moves_sold_unit_count_until_it_is_sold() {
    let emu = start(1).await;
    let keg = IssueSpec {
        pg: 15,
        count: 2,
        inner_units: Some(50_000),
        ..IssueSpec::default()
    };
    let kegs = emu.admin.issue(&keg).await.expect("issue");
    let item = emu.item_as(&emu.token, &kegs[0]).await;
    assert_eq!(
        counters(&item),
        (&json!(50000), &json!(0), &json!(false), &json!(true))
    );
    assert!(item.get("productWeight").is_none());

    let sold = emu
        .admin
        .sell_units(vec![kegs[0].clone()], Some(49_000))
        .await
        .expect("sell part");
    assert_eq!(sold["units"], json!(49000));
    let item = emu.item_as(&emu.token, &kegs[0]).await;
    assert_eq!(
        counters(&item),
        (&json!(50000), &json!(49000), &json!(false), &json!(true))
    );

    // More than is left: refused whole, naming the code; the other keg is untouched too.
    let refused = emu
        .admin
        .sell_units(vec![kegs[1].clone(), kegs[0].clone()], Some(2_000))
        .await
        .expect_err("only 1000 left");
    let text = refused.to_string();
    assert!(
        text.contains("codes[1]") && text.contains("1000 of 50000 left"),
        "{text}"
    );
    assert_eq!(
        emu.item_as(&emu.token, &kegs[1]).await["soldUnitCount"],
        json!(0)
    );

    // The last 1000 ml: the keg is sold.
    emu.admin
        .sell_units(vec![kegs[0].clone()], Some(1_000))
        .await
        .expect("sell the rest");
    let item = emu.item_as(&emu.token, &kegs[0]).await;
    assert_eq!(
        counters(&item),
        (&json!(50000), &json!(50000), &json!(true), &json!(false))
    );
    // A whole sale sells every unit left.
    emu.admin.sell(vec![kegs[1].clone()]).await.expect("sell");
    assert_eq!(
        counters(&emu.item_as(&emu.token, &kegs[1]).await),
        (&json!(50000), &json!(50000), &json!(true), &json!(false))
    );
}

#[tokio::test]
async fn dairy_by_weight_answers_its_weight_and_units_need_a_group_that_has_them() {
    let emu = start(1).await;
    let milk = IssueSpec {
        pg: 8,
        count: 1,
        weight_g: Some(353),
        ..IssueSpec::default()
    };
    let kms = emu.admin.issue(&milk).await.expect("issue");
    assert!(kms[0].ends_with("\u{1d}3103000353"), "{:?}", kms[0]);
    let item = emu.item_as(&emu.token, &kms[0]).await;
    assert_eq!(item["verified"], json!(true));
    assert_eq!(item["productWeight"], json!(353.0));
    assert_eq!(
        (&item["innerUnitCount"], &item["soldUnitCount"]),
        (&json!(353), &json!(0))
    );
    // The weight is under the crypto tail.
    let heavier = kms[0].replace("3103000353", "3103000999");
    assert_eq!(
        emu.item_as(&emu.token, &heavier).await["verified"],
        json!(false)
    );

    // Codes without units: no unit fields, and no partial sale.
    let water = emu
        .admin
        .issue(&IssueSpec {
            pg: 13,
            count: 1,
            ..IssueSpec::default()
        })
        .await
        .expect("issue");
    let item = emu.item_as(&emu.token, &water[0]).await;
    assert!(item.get("innerUnitCount").is_none() && item.get("productWeight").is_none());
    let refused = emu
        .admin
        .sell_units(water.clone(), Some(1))
        .await
        .expect_err("no units");
    assert!(refused.to_string().contains("innerUnitCount"), "{refused}");

    for (spec, named) in [
        (
            IssueSpec {
                pg: 3,
                count: 1,
                inner_units: Some(20),
                ..IssueSpec::default()
            },
            "inner_units",
        ),
        (
            IssueSpec {
                pg: 15,
                count: 1,
                weight_g: Some(500),
                ..IssueSpec::default()
            },
            "weight_g",
        ),
    ] {
        let err = emu.admin.issue(&spec).await.expect_err("refused");
        assert!(err.to_string().contains(named), "{err}");
    }
    let err = emu
        .admin
        .sell_units(water, Some(0))
        .await
        .expect_err("zero units");
    assert!(err.to_string().contains("units"), "{err}");
}
