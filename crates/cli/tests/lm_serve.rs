//! `znak lm passwd` and `znak lm serve` as a user runs them: the binary, real sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

const ZNAK: &str = env!("CARGO_BIN_EXE_znak");

fn passwd(data: &std::path::Path, login: &str, input: &str) -> std::process::Output {
    let mut child = Command::new(ZNAK)
        .args(["lm", "passwd", "--login", login, "--data"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

struct Served {
    child: Child,
    address: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &std::path::Path) -> Served {
    let mut child = Command::new(ZNAK)
        .args([
            "lm",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--service",
            "http://127.0.0.1:9",
        ])
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Served { child, address }
}

/// One HTTP/1.1 request; (status, body).
fn request(
    address: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    (
        status,
        text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned(),
    )
}

#[test]
fn passwd_stores_a_hash_and_serve_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = passwd(dir.path(), "kassa", "s3cret pass\n");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stored = std::fs::read_to_string(dir.path().join("credentials.toml")).unwrap();
    assert!(
        stored.contains("$argon2id$") && stored.contains("kassa"),
        "{stored}"
    );
    assert!(
        !stored.contains("s3cret"),
        "the password is stored in clear"
    );

    let served = serve(dir.path());
    let (status, body) = request(&served.address, "GET", "/api/v2/status", None, "");
    assert_eq!(status, 200, "{body}");
    let status_json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status_json["status"], "not_configured");
    // base64("kassa:s3cret pass") and base64("admin:admin")
    let good = "Basic a2Fzc2E6czNjcmV0IHBhc3M=";
    let sell = r#"{"cis_list": ["0104850013000162215aBcDe!"]}"#;
    let (status, body) = request(
        &served.address,
        "POST",
        "/api/v2/cis/sell",
        Some(good),
        sell,
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = request(
        &served.address,
        "POST",
        "/api/v2/cis/sell",
        Some("Basic YWRtaW46YWRtaW4="),
        sell,
    );
    assert_eq!(status, 401, "{body}");
}

#[test]
fn passwd_refuses_an_empty_password() {
    let dir = tempfile::tempdir().unwrap();
    let output = passwd(dir.path(), "admin", "\n");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("empty"));
    assert!(!dir.path().join("credentials.toml").exists());
}

#[test]
fn serve_refuses_default_credentials_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    // Binding every interface is only a bind: the module refuses before serving anything.
    let output = Command::new(ZNAK)
        .args(["lm", "serve", "--listen", "0.0.0.0:0", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("admin/admin") && stderr.contains("znak lm passwd"),
        "{stderr}"
    );
}
