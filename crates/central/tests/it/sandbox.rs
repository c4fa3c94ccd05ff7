//! Every sandbox case of protocol.md §1.14 answers as the guide says.

use std::time::Duration;

use central::sandbox::CASES;
use serde_json::{Value, json};

use crate::harness::start;

fn km(case: usize) -> &'static str {
    CASES[case - 1].km
}

/// The single per-code object of a 200 answer.
fn item(status: u16, body: &Value) -> &Value {
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], 0);
    assert!(
        body["reqId"].as_str().is_some_and(|id| id.len() == 36),
        "{body}"
    );
    assert!(
        body["reqTimestamp"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000)
    );
    &body["codes"][0]
}

#[tokio::test]
async fn cases_with_an_answer_match_the_guide() {
    let emu = start(1).await;
    let loaded = emu.admin.sandbox().await.expect("sandbox");
    assert_eq!(loaded["cases"].as_array().map(Vec::len), Some(21));

    let mut answers = Vec::new();
    for case in 1..=21 {
        if (11..=15).contains(&case) {
            answers.push(Value::Null);
            continue;
        }
        let (status, body) = emu.check(0, km(case)).await;
        answers.push(item(status, &body).clone());
    }
    let a = |case: usize| &answers[case - 1];
    let sellable = |v: &Value| {
        v["found"] == true && v["utilised"] == true && v["verified"] == true && v["sold"] == false
    };

    assert_eq!(a(1)["utilised"], false);
    assert_eq!(a(1)["found"], true);
    assert_eq!(
        (&a(2)["realizable"], &a(2)["utilised"], &a(2)["sold"]),
        (&json!(false), &json!(true), &json!(false))
    );
    assert_eq!(
        (&a(3)["realizable"], &a(3)["grayZone"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(
        (&a(3)["groupIds"], &a(3)["mrp"]),
        (&json!([3]), &json!(177000))
    );
    assert_eq!(a(4)["sold"], true);
    assert_eq!(a(5)["isBlocked"], true);
    assert_eq!(a(6)["expireDate"], "2022-12-22T12:16:00.000Z");
    assert!(sellable(a(6)));
    assert_eq!(
        (&a(7)["mrp"], &a(7)["packageType"]),
        (&json!(199000), &json!("GROUP"))
    );
    assert_eq!(a(8)["mrp"], 14500);
    assert!(sellable(a(8)));
    assert_eq!(
        (&a(9)["found"], &a(9)["errorCode"]),
        (&json!(false), &json!(10))
    );
    assert_eq!(a(9)["printView"], "04601653035829H;vE)bF");
    assert_eq!(a(10)["verified"], false);
    assert_eq!(a(10)["found"], true);
    assert_eq!(
        (&a(16)["mrp"], &a(16)["groupIds"]),
        (&json!(20000), &json!([16]))
    );
    assert_eq!(
        (&a(17)["mrp"], &a(17)["groupIds"]),
        (&json!(20000), &json!([12]))
    );
    assert_eq!(
        (&a(18)["smp"], &a(18)["packageQuantity"]),
        (&json!(20000), &json!(10))
    );
    assert_eq!(
        (&a(19)["smp"], &a(19)["mrp"]),
        (&json!(20000), &json!(19900))
    );
    assert!(sellable(a(19)));
    assert_eq!(
        (&a(20)["isBlocked"], &a(20)["ogvs"]),
        (&json!(true), &json!(["VETRF"]))
    );
    assert_eq!(
        (&a(21)["isBlocked"], &a(21)["ogvs"]),
        (&json!(true), &json!(["RD"]))
    );
    // The request's KM comes back in `cis`, and `printView` is the KI.
    assert_eq!(a(21)["cis"], km(21));
    assert_eq!(a(21)["printView"], "01046700190342882151aj\"K>X+mFcP");
    for case in [1, 2, 4, 6, 8, 16, 17, 19] {
        assert_eq!(a(case)["isBlocked"], false, "case {case}");
        assert!(a(case).get("ogvs").is_none(), "case {case}");
    }
}

#[tokio::test]
async fn fault_cases_answer_with_their_status() {
    let emu = start(1).await;
    emu.admin.sandbox().await.expect("sandbox");
    let (status, _) = emu.check(0, km(11)).await;
    assert_eq!(status, 504);
    let (status, body) = emu.check(0, km(12)).await;
    assert_eq!((status, &body["code"]), (203, &json!(203)));
    let (status, body) = emu.check(0, km(13)).await;
    assert_eq!((status, &body["code"]), (500, &json!(500)));
    let (status, body) = emu.check(0, km(15)).await;
    assert_eq!(
        (status, &body["code"], &body["codes"]),
        (500, &json!(5000), &json!([]))
    );
    // The host itself is healthy: other codes still answer.
    let (status, _) = emu.check(0, km(1)).await;
    assert_eq!(status, 200);
}

#[tokio::test(start_paused = true)]
async fn case_14_answers_after_two_seconds() {
    let emu = start(1).await;
    emu.admin.sandbox().await.expect("sandbox");
    let started = tokio::time::Instant::now();
    let within_deadline =
        tokio::time::timeout(Duration::from_millis(1500), emu.check(0, km(14))).await;
    assert!(within_deadline.is_err(), "case 14 answered within 1.5 s");
    let (status, body) = emu.check(0, km(14)).await;
    assert!(started.elapsed() >= Duration::from_millis(1500 + 2000));
    assert_eq!(item(status, &body)["found"], true);
}
