//! Half-sent requests never hold a connection for ever: a request head that stops arriving
//! closes the connection after the head limit, a body that stops arriving is answered 408 JSON
//! after the body gap limit — on the main host and on a CDN host. Paused time: the limits pass
//! as soon as everything else is idle.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::start;

/// Address `host:port` of an `http://host:port` URL.
fn address_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// Everything the emulator sends until it closes the connection (10 min of paused time at most).
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(600), stream.read_to_end(&mut answer))
        .await
        .expect("the connection was still open after 10 minutes")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(start_paused = true)]
async fn a_head_that_stops_arriving_closes_the_connection() {
    let emu = start(1).await;
    for url in [&emu.main, &emu.cdn[0]] {
        let mut stream = TcpStream::connect(address_of(url)).await.unwrap();
        stream
            .write_all(b"GET /api/v4/true-api/cdn/info HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        read_until_closed(&mut stream).await;
        assert!(started.elapsed() >= Duration::from_secs(30), "{url}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stops_arriving_is_answered_408_json() {
    let emu = start(1).await;
    let cases = [
        (&emu.main, "/admin/v1/block"),
        (&emu.cdn[0], "/api/v4/true-api/codes/check"),
    ];
    for (url, path) in cases {
        let mut stream = TcpStream::connect(address_of(url)).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nX-API-KEY: {}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\nConnection: close\r\n\r\n{{\"codes\":",
            emu.token
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(body["code"], 408, "{path}: {body}");
        assert!(
            body["description"]
                .as_str()
                .unwrap()
                .contains("stopped arriving"),
            "{path}: {body}"
        );
    }
}
