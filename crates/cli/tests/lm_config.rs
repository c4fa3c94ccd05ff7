//! `znak lm serve --config FILE` as the systemd unit runs it: the file's settings are in effect
//! (service URL, tokens, log directory), SIGTERM stops the module cleanly, and the rolling log
//! file holds the run.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{Served, ZNAK, request};

const TOKEN: &str = "32342f94-39ce-49cf-91ac-db8598c45111";

#[test]
fn serve_reads_the_config_file_logs_to_its_log_dir_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lm.toml");
    let data = dir.path().join("data");
    let logs = dir.path().join("log");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata = {data:?}\nservice = \"http://127.0.0.1:9/op\"\n\
             tokens = [\"{TOKEN}\"]\nlog_dir = {logs:?}\nlog_level = \"info\"\n"
        ),
    )
    .unwrap();
    let mut served = Served::start(
        Command::new(ZNAK)
            .args(["lm", "serve", "--config"])
            .arg(&config)
            .env_remove("RUST_LOG"),
    );
    let (line, address) = served.next_listener();
    assert!(line.contains(&data.display().to_string()), "{line}");

    let (status, body) = request(
        &address,
        "GET",
        "/api/v2/status",
        Some("Basic YWRtaW46YWRtaW4="),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["serviceUrl"], "http://127.0.0.1:9/op");
    // The configured token is accepted on outCheck (the module is not initialised: 4045);
    // another token is refused.
    let check = r#"{"cis_list":[{"cis":"0104850013000162215aBcDe!"}]}"#;
    let (status, body) = request(
        &address,
        "POST",
        "/api/v2/cis/outCheck",
        Some(&format!("Token {TOKEN}")),
        check,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("4045"), "{body}");
    let other = "Token 00000000-0000-4000-8000-000000000000";
    let (status, body) = request(&address, "POST", "/api/v2/cis/outCheck", Some(other), check);
    assert_eq!(status, 401, "{body}");

    let killed = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = served.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the module ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");

    let files: Vec<_> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("znak-lm.log."), "{name}");
    let log = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        log.contains("module starting") && log.contains("module stopped"),
        "{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in the log file: {log}"
    );
}

#[test]
fn serve_refuses_a_bad_config_file_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lm.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\npoll_seconds = 5\n").unwrap();
    let output = Command::new(ZNAK)
        .args(["lm", "serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("poll_seconds") && stderr.contains("lm.toml"),
        "{stderr}"
    );
}
