//! The API on the real module (store, sync engine, lifecycle) fed by the real operator emulator
//! (`central`), both in-process on loopback: answers follow the emulator's lists.

use std::time::Duration;

use lm::Poll;
use serde_json::json;

use crate::support::{FAST, admin, eventually, gtin, ki, start_emulator, start_lm};

#[tokio::test]
async fn answers_follow_the_emulators_lists() {
    let emulator = start_emulator().await;
    let blocked = ki(1, "5aBcDe!");
    let clean = ki(1, "5fUjOs7");
    let of_blocked_gtin = ki(2, "5GtInBl");
    emulator
        .admin
        .block(vec![blocked.clone()], None)
        .await
        .unwrap();
    let lm = start_lm(&emulator.url, FAST).await;

    let (status, body) = lm
        .post(
            "/api/v2/cis/outCheck",
            json!({"cis_list": [{"cis": clean}]}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].as_u64()),
        (400, Some(4045)),
        "{body}"
    );
    lm.init(&emulator.token, false).await;

    let code = lm.check(&blocked, None).await;
    assert_eq!(code["isBlocked"], true);
    assert_eq!(code["isGreyGtin"], false);
    assert_eq!(code["sold"], false);
    assert_eq!(code["cis"], blocked);
    assert_eq!(code["printView"], blocked);
    assert_eq!(code["gtin"], gtin(1));
    assert!(
        code.get("mrp").is_none() && code.get("smp").is_none(),
        "{code}"
    );
    assert_eq!(lm.check(&clean, None).await["isBlocked"], false);

    // Block a GTIN, unblock the KI, set prices: the answers follow after the next sync.
    emulator
        .admin
        .block_gtin(vec![gtin(2)], None)
        .await
        .unwrap();
    emulator.admin.unblock(vec![blocked.clone()]).await.unwrap();
    emulator
        .admin
        .price(vec![gtin(1)], Some(84423), Some(153000))
        .await
        .unwrap();
    eventually(|| async {
        let code = lm.check(&of_blocked_gtin, None).await;
        (code["isBlocked"] == true).then_some(())
    })
    .await;
    eventually(|| async { (lm.check(&blocked, None).await["isBlocked"] == false).then_some(()) })
        .await;
    let priced = eventually(|| async {
        let code = lm.check(&clean, Some(16)).await;
        code.get("mrp")
            .is_some_and(|mrp| !mrp.is_null())
            .then_some(code)
    })
    .await;
    assert_eq!(
        (priced["mrp"].as_u64(), priced["smp"].as_u64()),
        (Some(84423), Some(153000))
    );
    // pg 16 with no price listed: "mrp": null; other groups: no mrp at all.
    let unpriced = lm.check(&of_blocked_gtin, Some(16)).await;
    assert!(
        unpriced["mrp"].is_null() && unpriced.get("mrp").is_some(),
        "{unpriced}"
    );
    assert!(unpriced.get("smp").is_none());
    assert!(
        lm.check(&of_blocked_gtin, Some(3))
            .await
            .get("mrp")
            .is_none()
    );
    emulator.admin.unblock_gtin(vec![gtin(2)]).await.unwrap();
    eventually(|| async {
        (lm.check(&of_blocked_gtin, None).await["isBlocked"] == false).then_some(())
    })
    .await;
}

#[tokio::test]
async fn sell_return_and_the_sold_flag() {
    let emulator = start_emulator().await;
    let lm = start_lm(&emulator.url, FAST).await;
    lm.init(&emulator.token, false).await;
    let first = ki(3, "5SoLd01");
    let second = ki(3, "5SoLd02");
    let (status, body) = lm
        .post("/api/v2/cis/sell", json!({"cis_list": [first, second]}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body,
        json!({"results": [{"success": true, "cis": first}, {"success": true, "cis": second}]})
    );
    let (_, again) = lm
        .post("/api/v2/cis/sell", json!({"cis_list": [first]}))
        .await;
    assert_eq!(
        again["results"][0]["success"], false,
        "a repeat sale is not added twice"
    );
    assert_eq!(lm.check(&first, None).await["sold"], true);
    let (_, page) = lm.get("/api/v2/cis/sold?skip=1&limit=1").await;
    assert_eq!(page, json!({"total_count": 2, "cis_list": [second]}));
    let (status, back) = lm
        .post("/api/v2/cis/return", json!({"cis_list": [first]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(back, json!({"results": [{"success": true, "cis": first}]}));
    assert_eq!(lm.check(&first, None).await["sold"], false);
    let (_, twice) = lm
        .post("/api/v2/cis/return", json!({"cis_list": [first]}))
        .await;
    assert_eq!(twice["results"][0]["success"], false);
    let (_, page) = lm.get("/api/v2/cis/sold").await;
    assert_eq!(page, json!({"total_count": 1, "cis_list": [second]}));
}

/// `init` again keeps the sold DB unless `clearSold` is true (protocol.md §3.3).
#[tokio::test]
async fn init_keeps_the_sold_db_unless_clear_sold() {
    let emulator = start_emulator().await;
    let lm = start_lm(&emulator.url, FAST).await;
    lm.init(&emulator.token, false).await;
    let sold = ki(3, "5ClEaR1");
    let (status, body) = lm
        .post("/api/v2/cis/sell", json!({"cis_list": [sold]}))
        .await;
    assert_eq!(status, 201, "{body}");
    for (clear_sold, left) in [(false, 1), (true, 0)] {
        let body = json!({"token": emulator.token, "clearSold": clear_sold});
        let (status, answer) = lm.post("/api/v2/init", body).await;
        assert_eq!(status, 200, "{answer}");
        lm.wait_status("ready").await;
        let (_, page) = lm.get("/api/v2/cis/sold").await;
        assert_eq!(page["total_count"], left, "clearSold {clear_sold}: {page}");
        assert_eq!(lm.check(&sold, None).await["sold"], left == 1);
    }
}

#[tokio::test]
async fn sold_entries_expire_after_30_days_and_72_h_without_sync_is_4050() {
    let emulator = start_emulator().await;
    // The engine waits an hour of real time between pulls: the injected clock alone moves.
    let lm = start_lm(&emulator.url, Poll::Interval(Duration::from_secs(3600))).await;
    lm.init(&emulator.token, false).await;
    let old = ki(4, "5OlD001");
    lm.post("/api/v2/cis/sell", json!({"cis_list": [old]}))
        .await;
    lm.clock.advance_ms(72 * 3600 * 1000);
    let (status, body) = lm
        .post("/api/v2/cis/outCheck", json!({"cis_list": [{"cis": old}]}))
        .await;
    assert_eq!(
        (status, body["errorCode"].as_u64()),
        (400, Some(4050)),
        "{body}"
    );
    assert_eq!(lm.get("/api/v2/status").await.1["status"], "sync_error");
    let (status, body) = lm.get(&format!("/api/v1/cis/outCheck?cis={old}")).await;
    assert_eq!(
        (status, body["errorCode"].as_u64()),
        (400, Some(4050)),
        "{body}"
    );
    let fresh = ki(4, "5NeW001");
    lm.post("/api/v2/cis/sell", json!({"cis_list": [fresh]}))
        .await;
    // Exactly 30 days old: still remembered; one millisecond more: gone.
    lm.clock
        .advance_ms(30 * 24 * 3600 * 1000 - 72 * 3600 * 1000);
    let (_, page) = lm.get("/api/v2/cis/sold").await;
    assert_eq!(page["total_count"], 2, "{page}");
    lm.clock.advance_ms(1);
    let (_, page) = lm.get("/api/v2/cis/sold").await;
    assert_eq!(
        page,
        json!({"total_count": 1, "cis_list": [fresh]}),
        "the 30-day-old sale is gone"
    );
}

#[tokio::test]
async fn grey_mode_blocks_every_code_of_a_grey_gtin() {
    let emulator = start_emulator().await;
    let blocked = ki(5, "5GrEy01");
    let sibling = ki(5, "5GrEy02");
    let other = ki(6, "5WhItE1");
    emulator
        .admin
        .block(vec![blocked.clone()], None)
        .await
        .unwrap();
    let lm = start_lm(&emulator.url, FAST).await;
    lm.init(&emulator.token, true).await;
    let (_, status) = lm.get("/api/v2/status").await;
    assert_eq!(status["isGreyGtin"], true);
    assert!(status["dbState"].get("grey_gtin").is_some(), "{status}");
    for code in [&blocked, &sibling] {
        let answer = lm.check(code, None).await;
        assert_eq!(
            (answer["isBlocked"].clone(), answer["isGreyGtin"].clone()),
            (json!(true), json!(true)),
            "{answer}"
        );
    }
    let answer = lm.check(&other, None).await;
    assert_eq!(
        (answer["isBlocked"].clone(), answer["isGreyGtin"].clone()),
        (json!(false), json!(false))
    );
    // Back to the KI list: only the blocked KI stays blocked.
    let (status, body) = lm
        .post("/api/v2/greyList", json!({"enableGreyList": false}))
        .await;
    assert_eq!(status, 200, "{body}");
    lm.wait_status("ready").await;
    eventually(|| async {
        let answer = lm.check(&sibling, None).await;
        (answer["isBlocked"] == false && answer["isGreyGtin"] == false).then_some(())
    })
    .await;
    assert_eq!(lm.check(&blocked, None).await["isBlocked"], true);
}

/// Percent-encodes every byte outside the unreserved set (what `Uri.EscapeDataString` does).
fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn special_characters_round_trip_exactly() {
    let emulator = start_emulator().await;
    let serials = [
        "5%&\"+'<",
        "5>;,/%2B'\"&<>",
        "5a+b=c?",
        "5!*:_-.",
        "5%zz&x=",
    ];
    let kis: Vec<String> = serials.iter().map(|serial| ki(8, serial)).collect();
    emulator.admin.block(kis.clone(), None).await.unwrap();
    let lm = start_lm(&emulator.url, FAST).await;
    lm.init(&emulator.token, false).await;
    for code in &kis {
        // v2 POST: JSON-escaped.
        let answer = lm.check(code, None).await;
        assert_eq!(
            (&answer["cis"], &answer["isBlocked"]),
            (&json!(code), &json!(true)),
            "{code}"
        );
        // v1 GET, percent-encoded as clients should.
        let (status, body) = lm
            .get(&format!("/api/v1/cis/outCheck?cis={}", escape(code)))
            .await;
        assert_eq!(status, 200, "{code}: {body}");
        assert_eq!(
            (&body["codes"][0]["cis"], &body["codes"][0]["isBlocked"]),
            (&json!(code), &json!(true))
        );
        // A full KM sent by mistake is cut to its KI.
        let km = format!("{code}\u{1d}93dGVz");
        assert_eq!(lm.check(&km, None).await["cis"], json!(code));
    }
    // A `+` and an `&` sent unescaped (a common client bug) still reach the KI intact.
    let raw = ki(8, "5a+b=c?");
    let (status, body) = lm.get(&format!("/api/v1/cis/check?cis={raw}")).await;
    assert_eq!(
        (status, &body["codes"][0]["cis"]),
        (200, &json!(raw)),
        "{body}"
    );
    let raw = ki(8, "5%zz&x=");
    let (_, body) = lm.get(&format!("/api/v1/cis/check?cis={raw}")).await;
    assert_eq!(body["codes"][0]["cis"], json!(raw), "{body}");
    // Sold DB keeps them verbatim too.
    let (status, _) = lm.post("/api/v2/cis/sell", json!({"cis_list": kis})).await;
    assert_eq!(status, 201);
    let (_, page) = lm.get("/api/v2/cis/sold").await;
    let mut expected = kis.clone();
    expected.sort();
    assert_eq!(page["cis_list"], json!(expected));
}

#[tokio::test]
async fn client_ids_are_counted_per_till() {
    let emulator = start_emulator().await;
    let lm = start_lm(&emulator.url, FAST).await;
    lm.init(&emulator.token, false).await;
    let code = ki(9, "5TiLl01");
    for (till, times) in [("9999078900001111", 3), ("9999078900002222", 1)] {
        for _ in 0..times {
            let response = lm
                .http
                .post(format!("{}/api/v2/cis/outCheck", lm.base))
                .header("Authorization", admin())
                .header("X-ClientId", till)
                .json(&json!({"cis_list": [{"cis": code}, {"cis": code}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
        }
    }
    let stats = lm.clients().await;
    let first = stats
        .iter()
        .find(|c| c.client_id == "9999078900001111")
        .unwrap();
    assert_eq!((first.requests, first.checked, first.errors), (3, 6, 0));
    let second = stats
        .iter()
        .find(|c| c.client_id == "9999078900002222")
        .unwrap();
    assert_eq!((second.requests, second.checked), (1, 2));
}
