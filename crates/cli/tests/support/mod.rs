//! What the cli tests share: the `znak` binary run as a user runs it, raw HTTP/1.1 over a real
//! socket, and an operator emulator on loopback.
// Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

pub mod emulator_cli;

use std::io::{BufRead, BufReader, Lines, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use central::Config;
use central::client::AdminClient;
use serde_json::Value;

pub const ZNAK: &str = env!("CARGO_BIN_EXE_znak");

/// A running `znak lm serve`, killed when dropped.
pub struct Served {
    pub child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Served {
    /// Spawns `command` with stdout piped (the module announces each listener there).
    pub fn start(command: &mut Command) -> Served {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn znak");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Served { child, stdout }
    }

    /// `znak lm serve --listen 127.0.0.1:0 --data DATA` against a service nobody answers.
    pub fn module(data: &Path) -> (Served, String) {
        let mut command = Command::new(ZNAK);
        command
            .args(["lm", "serve", "--listen", "127.0.0.1:0"])
            .args(["--service", "http://127.0.0.1:9", "--data"])
            .arg(data);
        let mut served = Served::start(&mut command);
        let (_, address) = served.next_listener();
        (served, address)
    }

    /// The next announced listener: (the whole line, the `host:port` in it).
    pub fn next_listener(&mut self) -> (String, String) {
        let line = self
            .stdout
            .next()
            .expect("znak lm serve announces its listener")
            .expect("readable stdout");
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        (line, address)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on its own connection; (status, body).
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    let auth = auth
        .map(|auth| format!("Authorization: {auth}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("answer");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// [`request`] whose answer must be JSON.
pub fn request_json(
    address: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let (status, text) = request(address, method, path, auth, body);
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, value)
}

pub fn basic(login: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
    format!("Basic {encoded}")
}

/// `znak lm passwd --login LOGIN --data DATA` with `input` typed at the prompt.
pub fn passwd(data: &Path, login: &str, input: &str) -> Output {
    let mut child = Command::new(ZNAK)
        .args(["lm", "passwd", "--login", login, "--data"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn znak lm passwd");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("type the password");
    child.wait_with_output().expect("znak lm passwd ends")
}

/// An operator emulator on loopback (main listener only), with its admin client.
pub struct Emulator {
    pub url: String,
    pub admin: AdminClient,
    _dir: tempfile::TempDir,
}

pub async fn emulator() -> Emulator {
    let dir = tempfile::tempdir().expect("temp dir");
    let urls = central::start_on_loopback(Config::new(dir.path()), 0, std::future::pending())
        .await
        .expect("emulator")
        .urls;
    let admin = AdminClient::new(&urls.main).expect("admin client");
    Emulator {
        url: urls.main,
        admin,
        _dir: dir,
    }
}

/// A number from the environment (kill counts, seeds of the long variants), else `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: enough to pick kill points and operation sequences; no dependency.
pub struct Points(pub u64);

impl Points {
    /// The next number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}
