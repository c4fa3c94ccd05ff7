//! `znak fleet` as a monitoring system runs it: a hosts file, the table or JSON on stdout, and
//! the exit code (0 all ready, 1 some warning, 2 some error or unreachable, 3 unusable input).
//! The modules are test doubles serving status answers in the official module's v2 format.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;

const ZNAK: &str = env!("CARGO_BIN_EXE_znak");

/// Test double of a module: answers `GET /api/v2/status` with `body`, 404 otherwise.
fn status_double(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
            }
            let (status, body) = if line.starts_with("GET /api/v2/status ") {
                (200, body.as_str())
            } else {
                (404, "{}")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn module(status: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    status_double(format!(
        r#"{{"version":"2.1.0-627","status":"{status}","operationMode":"active","name":"regime",
            "lastSync":{now},"inst":"i","inn":"7731376812",
            "dbState":{{"blocked_cis":{{"docCount":785214}}}}}}"#
    ))
}

fn fleet(hosts: &str, extra: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hosts");
    std::fs::write(&file, hosts).unwrap();
    let mut command = Command::new(ZNAK);
    command.args(["fleet", "--hosts"]).arg(&file).args(extra);
    if !extra.contains(&"--timeout") {
        command.args(["--timeout", "3"]);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn exit_codes_follow_the_worst_host() {
    let ready = module("ready");
    let initialising = module("initialization");
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };

    let (code, table, stderr) = fleet(&format!("# one shop\n{ready}\n"), &[]);
    assert_eq!(code, 0, "{table}{stderr}");
    assert!(
        table.contains("ready") && table.contains("blocked_cis=785214"),
        "{table}"
    );
    assert!(table.contains("2.1.0-627"), "{table}");

    let (code, table, _) = fleet(&format!("{ready}\n{initialising}\n"), &[]);
    assert_eq!(code, 1, "{table}");

    let hosts = format!(
        "[[host]]\nname = \"Shop 1\"\nurl = \"{ready}\"\nlogin = \"admin\"\npassword = \"admin\"\n\
         [[host]]\nname = \"Shop 2\"\nurl = \"{closed}\"\n"
    );
    let (code, table, _) = fleet(&hosts, &[]);
    assert_eq!(code, 2, "{table}");
    let first = table.lines().nth(1).unwrap_or("");
    assert!(
        first.starts_with("ERROR") && first.contains("Shop 2") && first.contains("unreachable"),
        "{table}"
    );

    let (code, json, _) = fleet(&hosts, &["--json"]);
    assert_eq!(code, 2, "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["exitCode"], 2);
    assert_eq!(json["error"], 1);
    assert_eq!(json["ok"], 1);
    assert_eq!(json["hosts"][0]["name"], "Shop 2");
    assert_eq!(json["hosts"][0]["status"], "unreachable");
    assert_eq!(json["hosts"][1]["status"], "ready");
    assert_eq!(json["hosts"][1]["docCounts"]["blocked_cis"], 785214);
    assert!(
        json["hosts"][1]["lastSyncAgeSecs"]
            .as_u64()
            .is_some_and(|age| age < 3600)
    );
}

#[test]
fn unusable_input_exits_3_naming_the_problem() {
    let (code, _, stderr) = fleet("http://127.0.0.1:1\nnot a url\n", &[]);
    assert_eq!(code, 3);
    assert!(
        stderr.contains("line 2") && stderr.contains("not a url"),
        "{stderr}"
    );
    let (code, _, stderr) = fleet("", &[]);
    assert_eq!(code, 3);
    assert!(stderr.contains("names no host"), "{stderr}");
    let (code, _, stderr) = fleet("http://127.0.0.1:1\n", &["--timeout", "0"]);
    assert_eq!(code, 3);
    assert!(stderr.contains("--timeout"), "{stderr}");
}
