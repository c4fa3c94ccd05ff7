//! The head deadline on an in-memory stream with paused time.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::HeadDeadline;

const LIMIT: Duration = Duration::from_secs(5);

fn pair() -> (HeadDeadline<DuplexStream>, DuplexStream) {
    let (server, client) = duplex(4096);
    (HeadDeadline::new(server, LIMIT), client)
}

/// Reads what the server side yields until end of stream.
async fn server_reads_to_end(server: &mut HeadDeadline<DuplexStream>) -> Vec<u8> {
    let mut seen = Vec::new();
    server.read_to_end(&mut seen).await.unwrap();
    seen
}

#[tokio::test(start_paused = true)]
async fn a_head_cut_short_is_answered_408_json_after_the_limit() {
    let (mut server, mut client) = pair();
    client
        .write_all(b"GET /api/v2/status HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let seen = server_reads_to_end(&mut server).await;
    assert_eq!(started.elapsed(), LIMIT);
    assert_eq!(seen, b"GET /api/v2/status HTTP/1.1\r\nHost: x\r\n");
    drop(server);
    let mut answer = String::new();
    client.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 408 "), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let body: serde_json::Value = serde_json::from_str(body).expect("JSON body");
    assert_eq!(body["code"], 408);
    assert!(
        body["description"].as_str().unwrap().contains("5 s"),
        "{body}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_stream_ends_without_an_answer() {
    let (mut server, mut client) = pair();
    let seen = server_reads_to_end(&mut server).await;
    assert!(seen.is_empty());
    drop(server);
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.unwrap();
    assert!(answer.is_empty(), "{answer:?}");
}

#[tokio::test(start_paused = true)]
async fn a_complete_head_then_a_slow_body_is_not_cut_and_the_answer_rearms_the_idle_wait() {
    let (mut server, mut client) = pair();
    client
        .write_all(b"POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nab")
        .await
        .unwrap();
    let mut buffer = [0u8; 256];
    let read = server.read(&mut buffer).await.unwrap();
    assert_eq!(
        &buffer[..read],
        b"POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nab"
    );
    // The body's rest comes long after the head's limit: not the head deadline's business.
    tokio::time::sleep(LIMIT * 3).await;
    client.write_all(b"cd").await.unwrap();
    let read = server.read(&mut buffer).await.unwrap();
    assert_eq!(&buffer[..read], b"cd");
    server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
    // Now idle: closed after the limit, with nothing more written.
    let started = tokio::time::Instant::now();
    assert!(server_reads_to_end(&mut server).await.is_empty());
    assert_eq!(started.elapsed(), LIMIT);
    drop(server);
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer, b"HTTP/1.1 200 OK\r\n\r\n");
}

#[tokio::test(start_paused = true)]
async fn the_head_limit_counts_from_its_first_byte_and_survives_split_line_ends() {
    let (mut server, mut client) = pair();
    // Idle for most of the limit, then a head in pieces that split its blank line.
    tokio::time::sleep(LIMIT - Duration::from_secs(1)).await;
    let mut buffer = [0u8; 256];
    for piece in [&b"GET / HTTP/1.1\r\nHost: x\r"[..], b"\n\r", b"\n"] {
        client.write_all(piece).await.unwrap();
        let read = server.read(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..read], piece);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // The head is complete: reading on waits for the body, not for a deadline.
    let waiting = tokio::time::timeout(LIMIT * 2, server.read(&mut buffer)).await;
    assert!(
        waiting.is_err(),
        "the completed request was cut: {waiting:?}"
    );
}
