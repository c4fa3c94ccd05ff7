//! A minimal HTTP/1.1 keep-alive client (the benchmarks' own, so that the numbers include only
//! its small cost): one request at a time, the status back, the body skipped.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection speaking just enough HTTP/1.1.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    pub async fn open(addr: std::net::SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Connection {
            stream,
            buffer: Vec::with_capacity(4096),
        }
    }

    /// Sends one outCheck; returns the HTTP status.
    pub async fn out_check(&mut self, body: &str) -> u16 {
        let request = format!(
            "POST /api/v2/cis/outCheck HTTP/1.1\r\nHost: lm\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\nX-ClientId: 9999078900001234\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.send(&request).await
    }

    /// Sends one CouchDB document read; returns the HTTP status (200 found, 404 not).
    pub async fn get_doc(&mut self, ki: &str) -> u16 {
        let request = format!(
            "GET /blocked_cis/{ki} HTTP/1.1\r\nHost: pouchdb\r\nAccept: application/json\r\n\r\n"
        );
        self.send(&request).await
    }

    pub async fn send(&mut self, request: &str) -> u16 {
        self.stream
            .write_all(request.as_bytes())
            .await
            .expect("write");
        self.read_response().await
    }

    async fn read_response(&mut self) -> u16 {
        self.buffer.clear();
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while self.buffer.len() < end + 4 + length {
                    self.fill().await;
                }
                return status;
            }
            self.fill().await;
        }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let read = self.stream.read(&mut chunk).await.expect("read");
        assert!(read > 0, "server closed the connection");
        self.buffer.extend_from_slice(&chunk[..read]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
