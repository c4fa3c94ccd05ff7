//! `znak gateway` over real sockets: the gateway on 127.0.0.1:0 in front of scripted doubles.

mod doubles;
mod support;

use std::time::Duration;

use doubles::{ONLINE_TAG, Reply, module_ok, online_ok};
use serde_json::{Value, json};
use support::Gateway;

const KM: &str = "0104670540176099215'W9Um\u{1d}93dGVz";
const KI: &str = "0104670540176099215'W9Um";

async fn post(url: &str, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn check_sold_state_and_clean_shutdown() {
    let cdn = doubles::cdn_host().await;
    cdn.always(Reply::json(200, online_ok(KM, 8)));
    let module = doubles::module().await;
    module.then(Reply::json(200, module_ok(KI, false)));
    module.always(Reply::json(
        201,
        json!({"results": [{"success": true, "cis": KI}]}),
    ));
    let mut gateway = Gateway::start(&cdn.url, &module.url).await;

    let body = json!({"km": KM, "price": 12000}).to_string();
    let (status, outcome) = post(&format!("{}/check", gateway.url), &body).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["decision"], "allow");
    assert_eq!(outcome["source"], "online");
    assert_eq!(outcome["tag1265"], ONLINE_TAG);
    assert_eq!(
        outcome["online"]["answer"]["reqId"],
        "2ce10bdb-6510-4d37-be04-dd473b98c728"
    );

    let (status, queued) = post(
        &format!("{}/sold", gateway.url),
        &json!({"codes": [KM]}).to_string(),
    )
    .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["kis"], json!([KI]));
    // Delivery runs in the background; wait for the module double to see it.
    for _ in 0..200 {
        if module.count("/cis/sell") == 1 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let sell = module
        .requests()
        .into_iter()
        .find(|r| r.0 == "/api/v2/cis/sell")
        .expect("sell sent");
    assert_eq!(sell.2, json!({"cis_list": [KI]}));
    assert_eq!(sell.1["authorization"], "Basic YWRtaW46YWRtaW4=");

    let state: Value = reqwest::get(format!("{}/state", gateway.url))
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(state["cdn"]["hosts"][0]["url"], cdn.url.as_str());
    assert!(state["queue"]["pending"].is_number());

    if let Some(stop) = gateway.stop.take() {
        let _ = stop.send(());
    }
    let ended = (&mut gateway.task).await.expect("joined");
    assert!(ended.is_ok());
}

#[tokio::test]
async fn bad_requests_get_a_clear_json_error() {
    let cdn = doubles::cdn_host().await;
    let module = doubles::module().await;
    let gateway = Gateway::start(&cdn.url, &module.url).await;
    let cases = [
        ("/check", "{not json", "request body"),
        ("/check", r#"{"km": "hello"}"#, "marking code unreadable"),
        ("/check", r#"{"km": "x", "colour": 1}"#, "unknown field"),
        (
            "/check",
            r#"{"km": "0104670540176099215'W9Um", "pg": 7}"#,
            "unknown product group 7",
        ),
        (
            "/sold",
            r#"{"codes": ["0104670540176099215'W9Um", "junk"]}"#,
            "codes[1]",
        ),
        ("/returned", r#"{"codes": []}"#, "empty"),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = post(&format!("{}{path}", gateway.url), body).await;
        assert_eq!(status, 400, "{path} {body}: {status}");
        assert_eq!(answer["code"], 400, "{path} {body}: {answer}");
        let message = answer["description"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{path} {body}: {message:?}");
    }
    let (status, answer) = post(&format!("{}/nowhere", gateway.url), "{}").await;
    assert_eq!((status, &answer["code"]), (404, &json!(404)), "{answer}");
    let message = answer["description"].as_str().unwrap_or_default();
    assert!(
        message.contains("no such endpoint: /nowhere"),
        "{message:?}"
    );

    let response = reqwest::get(format!("{}/check", gateway.url))
        .await
        .expect("sent");
    assert_eq!(response.status(), 405);
    let answer: Value = response.json().await.expect("JSON body");
    assert_eq!(answer["code"], 405, "{answer}");
    assert_eq!(answer["description"], "method GET is not allowed on /check");

    let huge = format!(r#"{{"km": "{}"}}"#, "x".repeat(2 << 20));
    let (status, answer) = post(&format!("{}/check", gateway.url), &huge).await;
    assert_eq!((status, &answer["code"]), (413, &json!(413)), "{answer}");
    let message = answer["description"].as_str().unwrap_or_default();
    assert!(message.starts_with("request body:"), "{message:?}");
}

/// The reliability finding of session 2: concurrent deliveries each counted a failure, so a
/// short module outage pushed the head's backoff to minutes. Now one task delivers, one
/// attempt is one failure, and the queue drains on the normal 1 s, 2 s, 4 s … schedule.
#[tokio::test(start_paused = true)]
async fn queue_drains_promptly_after_the_module_comes_back() {
    let cdn = doubles::cdn_host().await;
    let module = doubles::module().await;
    module.always(Reply::json(
        500,
        json!({"code": 500, "description": "module restarting"}),
    ));
    let gateway = Gateway::start(&cdn.url, &module.url).await;
    let started = tokio::time::Instant::now();

    // Twenty sales from concurrent tills while the module is down.
    let posts: Vec<_> = (0..20)
        .map(|i| {
            let url = format!("{}/sold", gateway.url);
            let km = format!("0104670540176099215'W9U{i:x}\u{1d}93dGVz");
            tokio::spawn(async move { post(&url, &json!({"codes": [km]}).to_string()).await })
        })
        .collect();
    for p in posts {
        assert_eq!(p.await.expect("joined").0, 202);
    }
    // Down for 60 s: attempts at about 0, 1, 3, 7, 15, 31 s; the next is due near 63 s.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let down_attempts = module.count("/cis/sell");
    let state = get_state(&gateway.url).await;
    let items = state["queue"]["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 20, "nothing delivered, nothing lost");
    assert_eq!(
        items[0]["attempts"].as_u64(),
        Some(down_attempts as u64),
        "every failed request counts once, and only the head is sent"
    );
    assert!(
        (5..=8).contains(&down_attempts),
        "one delivery at a time over 60 s of outage: {down_attempts} attempts"
    );
    assert!(items[1..].iter().all(|i| i["attempts"] == 0));

    module.always(Reply::json(
        201,
        json!({"results": [{"success": true, "cis": KI}]}),
    ));
    let back = started.elapsed();
    while get_state(&gateway.url).await["queue"]["pending"] != 0 {
        assert!(
            started.elapsed() < back + Duration::from_secs(10),
            "queue still stalled {:?} after the module came back",
            started.elapsed() - back
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(module.count("/cis/sell"), down_attempts + 20);
}

async fn get_state(url: &str) -> Value {
    reqwest::get(format!("{url}/state"))
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON")
}

/// A module that answers 201 but loses the sale is caught by the sold-list confirmation 60 s
/// later, and the sale is sent again; once the list shows it, nothing more is sent.
#[tokio::test(start_paused = true)]
async fn a_sale_the_module_lost_is_found_missing_and_sent_again() {
    let cdn = doubles::cdn_host().await;
    let module = doubles::forgetful_module().await;
    module.lose_sales(true);
    let gateway = Gateway::start(&cdn.url, &module.url).await;
    let started = tokio::time::Instant::now();

    let (status, _) = post(
        &format!("{}/sold", gateway.url),
        &json!({"codes": [KM]}).to_string(),
    )
    .await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(module.sells(), [vec![KI.to_owned()]], "delivered at once");
    assert!(module.kept().is_empty(), "and lost by the module");
    module.lose_sales(false);
    let state = get_state(&gateway.url).await;
    assert_eq!(state["queue"]["pending"], 0);
    assert_eq!(state["queue"]["unconfirmed"], 1);

    // Not read before 60 s.
    tokio::time::sleep_until(started + Duration::from_secs(59)).await;
    assert_eq!(module.sold_reads(), 0);
    assert_eq!(module.sells().len(), 1);

    tokio::time::sleep_until(started + Duration::from_secs(62)).await;
    assert_eq!(module.sold_reads(), 1, "confirmation read the sold list");
    assert_eq!(module.sells().len(), 2, "the lost sale was sent again");
    assert_eq!(module.kept(), [KI]);

    // The re-sent sale is confirmed in its turn, and that is the end of it.
    tokio::time::sleep_until(started + Duration::from_secs(130)).await;
    assert_eq!(module.sold_reads(), 2);
    assert_eq!(module.sells().len(), 2);
    let state = get_state(&gateway.url).await;
    assert_eq!(state["queue"]["pending"], 0);
    assert_eq!(state["queue"]["unconfirmed"], 0);
}
