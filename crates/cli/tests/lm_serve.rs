//! `znak lm passwd` and `znak lm serve` as a user runs them: the binary, real sockets.

mod support;

use std::process::Command;

use support::{Served, ZNAK, passwd, request};

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

    let (_served, address) = Served::module(dir.path());
    let (status, body) = request(&address, "GET", "/api/v2/status", None, "");
    assert_eq!(status, 200, "{body}");
    let status_json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status_json["status"], "not_configured");
    // base64("kassa:s3cret pass") and base64("admin:admin")
    let good = "Basic a2Fzc2E6czNjcmV0IHBhc3M=";
    let sell = r#"{"cis_list": ["0104850013000162215aBcDe!"]}"#;
    let (status, body) = request(&address, "POST", "/api/v2/cis/sell", Some(good), sell);
    assert_eq!(status, 201, "{body}");
    let (status, body) = request(
        &address,
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
fn passwd_refuses_the_factory_password_and_short_ones() {
    let dir = tempfile::tempdir().unwrap();
    for (login, typed, says) in [
        ("admin", "admin\n", "factory login"),
        ("kassa", "short\n", "at least 8 characters"),
    ] {
        let output = passwd(dir.path(), login, typed);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{stderr}");
        assert!(!dir.path().join("credentials.toml").exists());
    }
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
