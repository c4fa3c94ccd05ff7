//! Keep-alive after early answers, over a raw socket: a refusal (401, 429) sent while the
//! request body is still on its way leaves the connection usable for the next request, and an
//! answer that leaves the body unread says `Connection: close` instead of dropping the
//! connection silently (the client's next request on it used to fail).

use std::sync::Arc;
use std::time::Duration;

use lm::api::{ApiState, Auth, AuthThrottle, ThrottlePolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{FakeBackend, admin, basic, quick_serve_config, start, start_with};

const BODY: &str = r#"{"cis_list":[{"cis":"0104850013000162215aBcDe!"}]}"#;

/// One response read off a keep-alive connection: status, lower-case head, body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn closes(&self) -> bool {
        self.head.contains("\r\nconnection: close\r\n")
    }
}

/// Reads exactly one response (the head, then `Content-Length` bytes), leaving the
/// connection open.
async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end + 4]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse().ok())
                    .expect("a Content-Length");
                if buffer.len() >= end + 4 + length {
                    let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]);
                    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok());
                    return Answer {
                        status: status.expect("a status line"),
                        body: body.into_owned(),
                        head,
                    };
                }
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "connection closed before a whole answer: {buffer:?}");
            buffer.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer within 10 s")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Sends an outCheck head with `authorization`, then — once the module had time to answer
/// from the head alone — its body.
async fn post_with_late_body(stream: &mut TcpStream, authorization: &str) {
    let head = format!(
        "POST /api/v2/cis/outCheck HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        BODY.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Not a time rule: only lets the head reach the module on its own.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(BODY.as_bytes()).await.unwrap();
}

/// The next request on the same connection is answered.
async fn assert_connection_still_answers(stream: &mut TcpStream) {
    let request = format!(
        "GET /api/v2/status HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
        admin()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = read_answer(stream).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_401_sent_before_the_body_arrived_keeps_the_connection_usable() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        post_with_late_body(&mut stream, &basic("admin", "wrong")).await;
        let answer = read_answer(&mut stream).await;
        assert_eq!(answer.status, 401, "{}", answer.body);
        assert!(answer.body.contains("\"code\""), "{}", answer.body);
        assert!(!answer.closes(), "the body was read: {}", answer.head);
        assert_connection_still_answers(&mut stream).await;
    }
}

#[tokio::test]
async fn a_429_sent_before_the_body_arrived_keeps_the_connection_usable() {
    let mut state = ApiState::new(FakeBackend::ready(), Auth::new(None, vec![]));
    state.throttle = AuthThrottle::new(ThrottlePolicy {
        allowed_failures: 1,
        forgive_every: Duration::from_secs(600),
    });
    let server = start_with(Arc::new(state), quick_serve_config()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        post_with_late_body(&mut stream, &basic("admin", "wrong")).await;
        let answer = read_answer(&mut stream).await;
        assert!(!answer.closes(), "the body was read: {}", answer.head);
        statuses.push(answer.status);
        // status is open, so it is answered even while this address is throttled.
        assert_connection_still_answers(&mut stream).await;
    }
    assert_eq!(statuses, [401, 401, 429]);
}

#[tokio::test]
async fn an_answer_that_leaves_the_body_unread_says_connection_close() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // Declared far over the limit: refused from the head alone, the body never read.
    let head = format!(
        "POST /api/v2/cis/outCheck HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Content-Length: 100000000\r\n\r\n{{\"cis_list\"",
        admin()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(answer.closes(), "{}", answer.head);
}

#[tokio::test]
async fn a_whole_request_keeps_its_connection_open() {
    let server = start(FakeBackend::ready(), Auth::new(None, vec![])).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        let request = format!(
            "POST /api/v2/cis/outCheck HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
             Content-Length: {}\r\n\r\n{BODY}",
            admin(),
            BODY.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let answer = read_answer(&mut stream).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(!answer.closes(), "{}", answer.head);
    }
}
