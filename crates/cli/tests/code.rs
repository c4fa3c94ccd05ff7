//! `znak code`: JSON out, exit status 2 for a bad code, NDJSON with --stdin.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn znak() -> Command {
    Command::new(env!("CARGO_BIN_EXE_znak"))
}

#[test]
fn prints_one_json_object() {
    let out = znak()
        .args(["code", r"0104670540176099215'W9Um\u001d93dGVz"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty());
    let stdout = String::from_utf8(out.stdout).unwrap();
    // GS shows as \u001d in the JSON text.
    assert!(
        stdout.contains(r#""km":"0104670540176099215'W9Um\u001d93dGVz""#),
        "{stdout}"
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ki"], "0104670540176099215'W9Um");
    assert_eq!(v["gtin"], "04670540176099");
    assert_eq!(v["serial"], "5'W9Um");
    assert_eq!(v["format"], "gs1");
    assert_eq!(v["mrp"], Value::Null);
    assert_eq!(v["pg_hint"], Value::Null);
}

#[test]
fn pack_code_has_price_and_hint() {
    let out = znak()
        .args(["code", "04601653035829H;dV)bFACVUdGVz"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "pack29");
    assert_eq!(v["ki"], "04601653035829H;dV)bF");
    assert_eq!(v["mrp"], 14500);
    assert_eq!(v["pg_hint"], 3);
}

#[test]
fn invalid_code_exits_2_with_reason_on_stderr_only() {
    let out = znak()
        .args(["code", r"0104670540176097215'W9Um\u001d93dGVz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("GTIN check digit is 7, expected 9"),
        "{stderr}"
    );
}

#[test]
fn stdin_mode_writes_ndjson_with_error_objects() {
    let mut child = znak()
        .args(["code", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = "010461013628057121/798DM%<GS>8005199000<GS>93dGVz\r\nnot a code\n\n04601653035829H;dV)bFADI8dGVz\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "blank lines are skipped");
    assert_eq!(lines[0]["mrp"], 199000);
    assert_eq!(lines[1]["error"], "unexpected byte 0x20 at position 3");
    assert_eq!(lines[2]["mrp"], 19900);
}
