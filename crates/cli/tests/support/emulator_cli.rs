//! `znak central serve` as a child process and `znak central admin` run against it, as scripts
//! use them (the central and central_admin tests).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running emulator as its banner names it.
pub struct Central {
    _server: Server,
    pub main: String,
    pub cdn: String,
    pub ca_file: Option<String>,
}

/// Starts `znak central serve` with one CDN host and reads its banner up to the admin line.
pub fn serve(data: &Path, extra: &[&str]) -> Central {
    let mut child = Command::new(env!("CARGO_BIN_EXE_znak"))
        .args([
            "central",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cdn-hosts",
            "1",
        ])
        .arg("--data")
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn znak central serve");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    let (mut main, mut cdn, mut ca_file) = (None, None, None);
    for line in lines.by_ref() {
        let line = line.expect("banner line");
        let last = line.rsplit(' ').next().expect("word").to_string();
        if line.starts_with("znak central: main host") {
            main = Some(last);
        } else if line.trim_start().starts_with("CDN host 1:") {
            cdn = Some(last);
        } else if line.trim_start().starts_with("CA file:") {
            ca_file = Some(last);
        } else if line.trim_start().starts_with("admin:") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    Central {
        _server: server,
        main: main.expect("main host line"),
        cdn: cdn.expect("CDN host line"),
        ca_file,
    }
}

/// `znak central admin --url MAIN [--ca-file CA] ARGS`, with `stdin` piped in.
pub fn admin_run(central: &Central, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_znak"));
    command.args(["central", "admin", "--url", &central.main]);
    if let Some(ca_file) = &central.ca_file {
        command.args(["--ca-file", ca_file]);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn znak central admin");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("admin output")
}

/// A command that must succeed; (stdout, stderr).
pub fn admin(central: &Central, args: &[&str]) -> (String, String) {
    admin_stdin(central, args, "")
}

pub fn admin_stdin(central: &Central, args: &[&str], stdin: &str) -> (String, String) {
    let output = admin_run(central, args, stdin);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "admin {args:?} failed: {stderr}");
    (String::from_utf8(output.stdout).expect("utf-8"), stderr)
}

/// A command that must fail with a message containing `expected` (and no panic).
pub fn admin_refused(central: &Central, args: &[&str], expected: &str) {
    let output = admin_run(central, args, "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "admin {args:?} succeeded");
    assert!(
        !stderr.contains("panicked"),
        "admin {args:?} panicked: {stderr}"
    );
    assert!(
        stderr.contains(expected),
        "admin {args:?}: {expected:?} not in {stderr}"
    );
}
