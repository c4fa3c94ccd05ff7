//! `znak central serve` and `znak central admin` as a user runs them: real processes, real
//! sockets on ephemeral loopback ports.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn znak() -> Command {
    Command::new(env!("CARGO_BIN_EXE_znak"))
}

/// Starts the emulator; returns it with its main URL and CDN URL.
fn serve(data: &std::path::Path) -> (Server, String, String) {
    let mut child = znak()
        .args([
            "central",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cdn-hosts",
            "1",
            "--data",
        ])
        .arg(data)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn znak central serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut next = || lines.next().expect("a line").expect("utf-8");
    let main = next().rsplit(' ').next().expect("url").to_string();
    let cdn = next().rsplit(' ').next().expect("url").to_string();
    std::thread::spawn(move || lines.for_each(drop));
    (Server(child), main, cdn)
}

fn admin(url: &str, args: &[&str]) -> String {
    let output = znak()
        .args(["central", "admin", "--url", url])
        .args(args)
        .output()
        .expect("run admin");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "admin {args:?} failed: {stderr}");
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn admin_commands_drive_a_running_emulator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, main, cdn) = serve(dir.path());
    assert!(main.starts_with("http://127.0.0.1:") && cdn.starts_with("http://127.0.0.1:"));

    let token = admin(&main, &["token", "--inn", "7700000001"]);
    let token = token.lines().last().expect("token line");
    assert_eq!(token.len(), 36);

    let inns = dir.path().join("inns.txt");
    std::fs::write(&inns, "7700000002\n\n7700000003\n").expect("write INNs");
    let tokens = admin(&main, &["token", "--file", inns.to_str().expect("path")]);
    let lines: Vec<(&str, &str)> = tokens
        .lines()
        .map(|l| l.split_once(' ').expect("INN TOKEN"))
        .collect();
    assert_eq!(lines.len(), 2, "{tokens}");
    assert_eq!((lines[0].0, lines[1].0), ("7700000002", "7700000003"));
    assert!(lines.iter().all(|(_, t)| t.len() == 36), "{tokens}");

    let sandbox = admin(&main, &["sandbox"]);
    assert_eq!(sandbox.lines().count(), 21);

    let out = dir.path().join("codes.txt");
    admin(
        &main,
        &[
            "issue",
            "--pg",
            "tobacco",
            "--count",
            "5",
            "--out",
            out.to_str().expect("path"),
        ],
    );
    let codes = std::fs::read_to_string(&out).expect("codes file");
    assert_eq!(codes.lines().count(), 5);
    for code in codes.lines() {
        let parsed = marking::MarkingCode::parse(code).expect("issued code parses");
        assert_eq!(parsed.mrp(), Some(15_000));
    }

    let dated = admin(
        &main,
        &[
            "issue",
            "--pg",
            "milk",
            "--count",
            "1",
            "--produced",
            "2026-09-01",
            "--expire",
            "2027-03-01",
        ],
    );
    assert_eq!(dated.lines().count(), 1, "{dated}");
    let failed = znak()
        .args([
            "central",
            "admin",
            "--url",
            &main,
            "issue",
            "--pg",
            "milk",
            "--count",
            "1",
            "--produced",
            "01.09.2026",
        ])
        .output()
        .expect("run");
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("--produced 01.09.2026"));

    let blocked = admin(
        &main,
        &[
            "block",
            "--ogv",
            "RPN",
            "--file",
            out.to_str().expect("path"),
        ],
    );
    assert!(blocked.starts_with("blocked: 5 of 5 changed"), "{blocked}");
    let status: serde_json::Value =
        serde_json::from_str(&admin(&main, &["status"])).expect("status JSON");
    assert_eq!(status["databases"]["blocked_cis"]["doc_count"], 5 + 3);

    admin(
        &main,
        &["fault", "--host", "1", "--mode", "delay", "--ms", "10"],
    );
    admin(&main, &["emergency", "off"]);
    let failed = znak()
        .args([
            "central", "admin", "--url", &main, "fault", "--host", "9", "--mode", "500",
        ])
        .output()
        .expect("run");
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("hosts are numbered 1..=1"));

    let chaos = |args: &[&str]| -> serde_json::Value {
        let args: Vec<&str> = ["chaos"].iter().chain(args).copied().collect();
        serde_json::from_str(&admin(&main, &args)).expect("chaos JSON")
    };
    let on = chaos(&["on", "--reset", "0.25", "--truncate", "0.5", "--seed", "7"]);
    assert_eq!(on["chaos"]["seed"], 7);
    assert_eq!(on["chaos"]["truncate"], 0.5);
    assert_eq!(chaos(&["show"])["chaos"], on["chaos"]);
    assert_eq!(chaos(&["off"])["chaos"], serde_json::Value::Null);
    let failed = znak()
        .args([
            "central", "admin", "--url", &main, "chaos", "on", "--error", "2",
        ])
        .output()
        .expect("run");
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("chaos.error 2"));
}
