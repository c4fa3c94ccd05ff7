//! `fleet::poll_all` over real sockets against real `znak lm` instances (one initialised from the
//! operator emulator, one not configured), the official module's status formats served by a test
//! double (fixtures: protocol.md §3.3, see fixtures/README.md), a v1-only double, an answer that
//! is not a module, a closed port and a host that never answers.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::time::Duration;

use fleet::{Answer, Host, PollOptions, Report, Severity, poll_all};
use lm::api::{ServiceConfig, run};
use lm::{ModuleConfig, SystemClock};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const OFFICIAL_V2: &str = include_str!("fixtures/official_status_v2.json");
const OFFICIAL_V1: &str = include_str!("fixtures/official_status_v1.json");
/// `lastSync` of both fixtures.
const FIXTURE_SYNC: i64 = 1_775_204_403_800;

/// Test double of a module's HTTP server: answers `(path, status, body)` routes, 404 otherwise,
/// on 127.0.0.1; `None` routes mean "accept and never answer".
fn double(routes: Option<Vec<(&'static str, u16, String)>>) -> String {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let Some(routes) = &routes else {
                held.push(stream);
                continue;
            };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("");
            let (status, body) = routes
                .iter()
                .find(|(route, _, _)| *route == path)
                .map_or((404, "{}".to_owned()), |(_, status, body)| {
                    (*status, body.clone())
                });
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

struct RealModule {
    url: String,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn real_module(service: &str) -> RealModule {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig::new(ModuleConfig::new(dir.path(), service));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(run(config, Arc::new(SystemClock), listener, stop.clone()));
    RealModule {
        url,
        stop,
        _dir: dir,
    }
}

/// The operator emulator with a few blocked codes, and a participant token.
async fn emulator() -> (String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = central::Config::new(dir.path());
    let urls = central::start_on_loopback(config, 0, std::future::pending())
        .await
        .unwrap()
        .urls;
    let admin = central::client::AdminClient::new(&urls.main).unwrap();
    let token = admin.token("7700000001").await.unwrap();
    let kis = (0..25)
        .map(|i| format!("0104600000000015215abc{i:03}"))
        .collect();
    admin.block(kis, None).await.unwrap();
    (urls.main, token, dir)
}

fn host(name: &str, url: &str) -> Host {
    Host {
        name: name.to_owned(),
        url: url.to_owned(),
        login: None,
        password: None,
    }
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_real_modules_and_the_official_formats_side_by_side() {
    let (service, token, _central) = emulator().await;
    let ready = real_module(&service).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let init = http
        .post(format!("{}/api/v2/init", ready.url))
        .basic_auth("admin", Some("admin"))
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert!(init.status().is_success(), "{:?}", init.text().await);
    // Wait for the real module to finish its first sync (bounded).
    let mut state = String::new();
    for _ in 0..600 {
        let status: serde_json::Value = http
            .get(format!("{}/api/v2/status", ready.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        state = status["status"].as_str().unwrap_or("").to_owned();
        if state == "ready" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, "ready");
    let fresh = real_module("http://127.0.0.1:9").await;

    let official_v2 = double(Some(vec![("/api/v2/status", 200, OFFICIAL_V2.to_owned())]));
    let official_v1 = double(Some(vec![("/api/v1/status", 200, OFFICIAL_V1.to_owned())]));
    let not_a_module = double(Some(vec![(
        "/api/v2/status",
        200,
        "<html>hi</html>".into(),
    )]));
    let silent = double(None);
    let closed = {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };

    let hosts = vec![
        host("shop-ready", &ready.url),
        host("shop-new", &fresh.url),
        host("official-v2", &official_v2),
        host("official-v1", &official_v1),
        host("printer", &not_a_module),
        host("silent", &silent),
        host("closed", &closed),
    ];
    let options = PollOptions {
        timeout: Duration::from_millis(800),
        concurrency: 8,
    };
    let statuses = poll_all(&hosts, options).await;
    let names: Vec<&str> = statuses.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>()
    );

    let Answer::Status(ours) = &statuses[0].answer else {
        panic!("{:?}", statuses[0]);
    };
    assert_eq!(
        (ours.api, ours.status.as_str(), ours.name.as_deref()),
        ("v2", "ready", Some("znak"))
    );
    assert_eq!(ours.doc_counts.get("blocked_cis"), Some(&Some(25)));
    assert_eq!(ours.inn.as_deref(), Some("7700000001"));
    let Answer::Status(new) = &statuses[1].answer else {
        panic!("{:?}", statuses[1]);
    };
    assert_eq!(new.status, "not_configured");

    let Answer::Status(v2) = &statuses[2].answer else {
        panic!("{:?}", statuses[2]);
    };
    assert_eq!(v2.api, "v2");
    assert_eq!(v2.version.as_deref(), Some("2.1.0-627"));
    assert_eq!(v2.name.as_deref(), Some("regime"));
    assert_eq!(v2.last_sync_ms, Some(FIXTURE_SYNC));
    assert_eq!(v2.doc_counts.get("min_price"), Some(&Some(1_232_820)));
    assert_eq!(v2.doc_counts.get("blocked_gtin"), Some(&Some(1914)));
    assert_eq!(v2.doc_counts.get("blocked_cis"), Some(&Some(785_214)));

    let Answer::Status(v1) = &statuses[3].answer else {
        panic!("{:?}", statuses[3]);
    };
    assert_eq!(v1.api, "v1");
    assert_eq!(v1.doc_counts.get("blocked_cis"), Some(&Some(785_214)));
    assert_eq!(
        v1.doc_counts.get("cis"),
        Some(&None),
        "\"unknown\" is no count"
    );

    assert!(
        matches!(&statuses[4].answer, Answer::BadAnswer { error } if error.contains("not JSON"))
    );
    assert!(
        matches!(&statuses[5].answer, Answer::Unreachable { error } if error.contains("no answer within")),
        "{:?}",
        statuses[5]
    );
    assert!(
        matches!(&statuses[6].answer, Answer::Unreachable { .. }),
        "{:?}",
        statuses[6]
    );

    // Ten minutes after the fixtures' lastSync, the official modules are fresh; ours, synced
    // "now", is judged at the real time.
    let official_time = Report::new(
        &statuses[2..4],
        FIXTURE_SYNC + 600_000,
        Duration::from_secs(3600),
    );
    assert_eq!(official_time.exit_code, 0, "{}", official_time.table());
    let report = Report::new(&statuses, now_ms(), Duration::from_secs(3600));
    let severity = |name: &str| {
        report
            .hosts
            .iter()
            .find(|row| row.name == name)
            .map(|row| row.severity)
    };
    assert_eq!(severity("shop-ready"), Some(Severity::Ok));
    assert_eq!(severity("shop-new"), Some(Severity::Warning));
    assert_eq!(
        severity("official-v2"),
        Some(Severity::Warning),
        "months-old lastSync"
    );
    assert_eq!(severity("printer"), Some(Severity::Error));
    assert_eq!(severity("silent"), Some(Severity::Error));
    assert_eq!(severity("closed"), Some(Severity::Error));
    assert_eq!(report.exit_code, 2);
    assert_eq!(
        report.hosts.last().map(|row| row.name.as_str()),
        Some("shop-ready")
    );

    ready.stop.cancel();
    fresh.stop.cancel();
}
