//! `central::start_on_loopback`: the one way tests, benchmarks and the demo start the emulator.

use std::time::Duration;

use central::client::{AdminClient, http_client};
use central::{Config, Started};
use serde_json::{Value, json};
use tokio::sync::oneshot;

#[tokio::test]
async fn serves_cdn_info_with_every_host_and_stops_when_shutdown_completes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stop, stopped) = oneshot::channel::<()>();
    let Started { urls, task } = central::start_on_loopback(Config::new(dir.path()), 3, async {
        let _ = stopped.await;
    })
    .await
    .expect("started");
    assert!(urls.main.starts_with("http://127.0.0.1:"), "{}", urls.main);
    assert_eq!(urls.cdn.len(), 3);
    assert!(
        urls.cdn.iter().all(|u| u.starts_with("http://127.0.0.1:")),
        "{:?}",
        urls.cdn
    );

    // The sockets are bound on return: no waiting before the first request.
    let token = AdminClient::new(&urls.main)
        .expect("admin client")
        .token("7700000001")
        .await
        .expect("token");
    let http = http_client().expect("http");
    let get = |url: String| {
        let request = http.get(url).header("X-API-KEY", &token);
        async move {
            let response = request.send().await.expect("GET");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, info) = get(format!("{}/api/v4/true-api/cdn/info", urls.main)).await;
    assert_eq!(status, 200);
    let hosts: Vec<Value> = urls.cdn.iter().map(|h| json!({ "host": h })).collect();
    assert_eq!(info["hosts"], Value::Array(hosts));
    for host in &urls.cdn {
        let (status, _) = get(format!("{host}/api/v4/true-api/cdn/health/check")).await;
        assert_eq!(status, 200, "{host}");
    }

    // Completing the shutdown future ends the task with Ok and closes every listener.
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("stops in time")
        .expect("join")
        .expect("run");
    for url in std::iter::once(&urls.main).chain(&urls.cdn) {
        let refused = http
            .get(format!("{url}/api/v4/true-api/cdn/info"))
            .send()
            .await;
        assert!(refused.is_err(), "{url} still answers");
    }
}

#[tokio::test]
async fn without_cdn_hosts_cdn_info_lists_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Started { urls, task } =
        central::start_on_loopback(Config::new(dir.path()), 0, std::future::pending())
            .await
            .expect("started");
    assert!(urls.cdn.is_empty());
    let admin = AdminClient::new(&urls.main).expect("admin client");
    let token = admin.token("7700000001").await.expect("token");
    let info: Value = http_client()
        .expect("http")
        .get(format!("{}/api/v4/true-api/cdn/info", urls.main))
        .header("X-API-KEY", &token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(info["hosts"], json!([]));
    task.abort();
}
