//! The short variant of the issue-8 load run (docs/RELIABILITY.md, "Load"): the real `lm_load`
//! binary for a few seconds — 32 keep-alive connections on `POST /api/v2/cis/outCheck` while the
//! emulator blocks new codes every 2 s and the module syncs them. Asserts what must hold at any
//! speed: no error response, no broken connection, the module ends with the source's count.
//! Never asserts on speed (2 shared cores). `ZNAK_LOAD_SECONDS` (default 10) lengthens it.

use std::process::Command;

/// The value cell of the `| measure | value |` row named `measure` in lm_load's table.
fn cell<'a>(table: &'a str, measure: &str) -> &'a str {
    table
        .lines()
        .find_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            (cells.next() == Some(measure))
                .then(|| cells.next())
                .flatten()
        })
        .unwrap_or_else(|| panic!("no row {measure:?} in lm_load's output:\n{table}"))
}

#[test]
fn thirty_two_connections_during_sync_get_no_error_and_no_broken_connection() {
    let seconds = std::env::var("ZNAK_LOAD_SECONDS").unwrap_or_else(|_| "10".into());
    let output = Command::new(env!("CARGO_BIN_EXE_lm_load"))
        .args(["--seconds", &seconds, "--connections", "32"])
        .args(["--codes", "20000", "--batch", "2000"])
        .output()
        .expect("lm_load runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "lm_load failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert_eq!(cell(&stdout, "error responses (non-200)"), "0");
    assert_eq!(cell(&stdout, "connections broken"), "0");
    let requests: u64 = cell(&stdout, "requests (one KI each)")
        .parse()
        .expect("a request count");
    assert!(requests > 0, "no request was answered:\n{stdout}");
    let (module, source) = cell(&stdout, "module blocked_cis at the end / source")
        .split_once(" / ")
        .expect("module / source");
    assert_eq!(
        module, source,
        "the module did not catch up with the source"
    );
    let added = cell(&stdout, "codes blocked during the run");
    assert!(
        !added.starts_with("0 "),
        "no batch was blocked during the run: {added}"
    );
}
