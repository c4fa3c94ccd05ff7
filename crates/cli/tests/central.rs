//! `znak central serve` and `znak central admin` as a user runs them: real processes, real
//! sockets on ephemeral loopback ports.

mod support;

use support::emulator_cli::{admin, admin_refused, serve};

#[test]
fn admin_commands_drive_a_running_emulator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let central = serve(dir.path(), &[]);
    let (main, cdn) = (central.main.clone(), central.cdn.clone());
    assert!(main.starts_with("http://127.0.0.1:") && cdn.starts_with("http://127.0.0.1:"));

    let token = admin(&central, &["token", "--inn", "7700000001"]).0;
    let token = token.lines().last().expect("token line");
    assert_eq!(token.len(), 36);

    let inns = dir.path().join("inns.txt");
    std::fs::write(&inns, "7700000002\n\n7700000003\n").expect("write INNs");
    let tokens = admin(&central, &["token", "--file", inns.to_str().expect("path")]).0;
    let lines: Vec<(&str, &str)> = tokens
        .lines()
        .map(|l| l.split_once(' ').expect("INN TOKEN"))
        .collect();
    assert_eq!(lines.len(), 2, "{tokens}");
    assert_eq!((lines[0].0, lines[1].0), ("7700000002", "7700000003"));
    assert!(lines.iter().all(|(_, t)| t.len() == 36), "{tokens}");

    let sandbox = admin(&central, &["sandbox"]).0;
    assert_eq!(sandbox.lines().count(), 21);

    let out = dir.path().join("codes.txt");
    admin(
        &central,
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
        &central,
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
    )
    .0;
    assert_eq!(dated.lines().count(), 1, "{dated}");
    admin_refused(
        &central,
        &[
            "issue",
            "--pg",
            "milk",
            "--count",
            "1",
            "--produced",
            "01.09.2026",
        ],
        "--produced 01.09.2026",
    );

    let blocked = admin(
        &central,
        &[
            "block",
            "--ogv",
            "RPN",
            "--file",
            out.to_str().expect("path"),
        ],
    )
    .0;
    assert!(blocked.starts_with("blocked: 5 of 5 changed"), "{blocked}");
    let status: serde_json::Value =
        serde_json::from_str(&admin(&central, &["status"]).0).expect("status JSON");
    assert_eq!(status["databases"]["blocked_cis"]["doc_count"], 5 + 3);

    admin(
        &central,
        &["fault", "--host", "1", "--mode", "delay", "--ms", "10"],
    );
    admin(&central, &["emergency", "off"]);
    admin_refused(
        &central,
        &["fault", "--host", "9", "--mode", "500"],
        "hosts are numbered 1..=1",
    );

    let chaos = |args: &[&str]| -> serde_json::Value {
        let args: Vec<&str> = ["chaos"].iter().chain(args).copied().collect();
        serde_json::from_str(&admin(&central, &args).0).expect("chaos JSON")
    };
    let on = chaos(&["on", "--reset", "0.25", "--truncate", "0.5", "--seed", "7"]);
    assert_eq!(on["chaos"]["seed"], 7);
    assert_eq!(on["chaos"]["truncate"], 0.5);
    assert_eq!(chaos(&["show"])["chaos"], on["chaos"]);
    assert_eq!(chaos(&["off"])["chaos"], serde_json::Value::Null);
    admin_refused(&central, &["chaos", "on", "--error", "2"], "chaos.error 2");
}
