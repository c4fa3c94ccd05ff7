//! `znak check` as a process: exit status by outcome, one JSON object on stdout.

use std::process::Command;

const KM: &str = "0104670540176099215'W9Um\\u001d93dGVz";

fn znak(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_znak"))
        .args(args)
        .env_remove("ZNAK_TILL_CONFIG")
        .output()
        .expect("znak runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A config whose every service is a closed loopback port: nothing can answer.
fn unreachable_config(dir: &std::path::Path, extra: &str) -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let path = dir.join("till.toml");
    let text = format!(
        "token = \"t\"\ninfo_url = \"{url}\"\nfallback_hosts = [\"{url}\"]\n\
         state_file = {:?}\nhealth_timeout_ms = 300\n{extra}\n[module]\nurl = \"{url}\"\n",
        dir.join("state.json")
    );
    std::fs::write(&path, text).expect("write config");
    path.to_string_lossy().into_owned()
}

#[test]
fn nothing_reachable_is_no_check_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = unreachable_config(dir.path(), "");
    let (code, stdout, stderr) = znak(&["check", KM, "--price", "10000", "--config", &config]);
    assert_eq!(code, 1, "{stderr}");
    let outcome: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(outcome["decision"], "no_check");
    assert_eq!(outcome["source"], "none");
    assert_eq!(outcome["sale_allowed"], true);
    assert_eq!(outcome["tag1265"], serde_json::Value::Null);
    assert_eq!(outcome["ki"], "0104670540176099215'W9Um");
    assert!(outcome["elapsed_ms"].is_number());
}

#[test]
fn mandatory_offline_check_unavailable_forbids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = unreachable_config(dir.path(), "[offline_mandatory]\n8 = \"2025-03-01\"");
    let (code, stdout, _) = znak(&["check", KM, "--pg", "8", "--config", &config]);
    assert_eq!(code, 1);
    let outcome: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(outcome["decision"], "forbid");
    assert_eq!(outcome["reasons"][0]["code"], "check_unavailable");
}

#[test]
fn bad_input_and_config_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = unreachable_config(dir.path(), "");
    let (code, stdout, stderr) = znak(&["check", "not a code", "--config", &config]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("marking code unreadable"), "{stderr}");

    let (code, _, stderr) = znak(&["check", KM, "--pg", "7", "--config", &config]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown product group 7"), "{stderr}");

    let missing = dir.path().join("missing.toml");
    let (code, _, stderr) = znak(&["check", KM, "--config", &missing.to_string_lossy()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read config file"), "{stderr}");

    std::fs::write(dir.path().join("bad.toml"), "token = \"t\"\n").expect("write");
    let bad = dir.path().join("bad.toml");
    let (code, _, stderr) = znak(&["check", KM, "--config", &bad.to_string_lossy()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("state_file"), "{stderr}");
}
