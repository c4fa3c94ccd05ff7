//! `znak lm serve --config FILE` with `[[instance]]` tables: one process, two modules with their
//! own port, data directory, participant INN and login, each initialised against the emulator.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use central::client::AdminClient;
use central::{Config, Listeners};
use serde_json::{Value, json};
use tokio::net::TcpListener;

const ZNAK: &str = env!("CARGO_BIN_EXE_znak");
const INN_A: &str = "7700000011";
const INN_B: &str = "7700000022";

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn basic(login: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
    format!("Basic {encoded}")
}

/// One HTTP/1.1 request; (status, JSON body).
fn request(address: &str, method: &str, path: &str, auth: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, value)
}

fn wait_ready(address: &str) -> Value {
    let started = Instant::now();
    loop {
        let (_, status) = request(address, "GET", "/api/v2/status", "", "");
        if status["status"] == "ready" {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not ready: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn passwd(data: &Path, login: &str, password: &str) {
    let mut child = Command::new(ZNAK)
        .args(["lm", "passwd", "--login", login, "--data"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_serves_two_instances_with_their_own_inn_port_data_and_login() {
    let central_dir = tempfile::tempdir().unwrap();
    let main = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        data_dir: central_dir.path().to_path_buf(),
        advertise_host: None,
    };
    let listeners = Listeners { main, cdn: vec![] };
    let urls = central::advertised_urls(&config, &listeners).unwrap();
    tokio::spawn(central::run(config, listeners, std::future::pending()));
    let admin = AdminClient::new(&urls.main).unwrap();
    let token_a = admin.token(INN_A).await.unwrap();
    let token_b = admin.token(INN_B).await.unwrap();
    let first13 = "0460000000001";
    let gtin = format!(
        "{first13}{}",
        marking::gtin::check_digit(first13.as_bytes())
    );
    let blocked = format!("01{gtin}21Blocked");
    let sold = format!("01{gtin}21SoldOnA");
    admin.block(vec![blocked.clone()], None).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (data_a, data_b) = (dir.path().join("a"), dir.path().join("b"));
    passwd(&data_b, "kassa2", "second long password");
    let config_path = dir.path().join("lm.toml");
    std::fs::write(
        &config_path,
        format!(
            "service = {service:?}\npoll_secs = 1\n\n\
             [[instance]]\nname = \"alpha\"\nlisten = \"127.0.0.1:0\"\ndata = {a:?}\ninn = {INN_A:?}\n\n\
             [[instance]]\nname = \"beta\"\nlisten = \"127.0.0.1:0\"\ndata = {b:?}\ninn = {INN_B:?}\n",
            service = urls.main,
            a = data_a.display().to_string(),
            b = data_b.display().to_string(),
        ),
    )
    .unwrap();

    let mut child = Command::new(ZNAK)
        .args(["lm", "serve", "--config"])
        .arg(&config_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _served = Served(child);
    let addresses = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut found = Vec::new();
        for _ in 0..2 {
            let line = lines.next().expect("a line per instance").unwrap();
            let name = line
                .split(':')
                .next()
                .unwrap()
                .trim_start_matches("znak lm ")
                .to_owned();
            let address = line
                .split("http://")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .unwrap_or_else(|| panic!("no address in {line:?}"))
                .to_owned();
            found.push((name, address));
        }
        found
    })
    .await
    .unwrap();
    assert_eq!(addresses[0].0, "alpha");
    assert_eq!(addresses[1].0, "beta");
    let (a, b) = (addresses[0].1.clone(), addresses[1].1.clone());
    assert_ne!(a, b);

    tokio::task::spawn_blocking(move || {
        let default = basic("admin", "admin");
        let own = basic("kassa2", "second long password");
        let init = |token: &str| json!({"token": token}).to_string();

        // A token of another participant is refused: alpha serves INN_A only.
        let (status, body) = request(&a, "POST", "/api/v2/init", &default, &init(&token_b));
        assert_eq!(status, 409, "{body}");
        let why = body["description"].as_str().unwrap();
        assert!(why.contains(INN_A) && why.contains(INN_B), "{why}");
        // beta has its own login; the factory one is refused there.
        let (status, _) = request(&b, "POST", "/api/v2/init", &default, &init(&token_b));
        assert_eq!(status, 401);

        let (status, body) = request(&a, "POST", "/api/v2/init", &default, &init(&token_a));
        assert_eq!(status, 200, "{body}");
        let (status, body) = request(&b, "POST", "/api/v2/init", &own, &init(&token_b));
        assert_eq!(status, 200, "{body}");
        let status_a = wait_ready(&a);
        let status_b = wait_ready(&b);
        assert_eq!(status_a["inn"], INN_A);
        assert_eq!(status_b["inn"], INN_B);
        assert_ne!(status_a["inst"], status_b["inst"]);

        // Each answers from its own store.
        let check = json!({"cis_list": [{"cis": blocked}]}).to_string();
        let (status, body) = request(&a, "POST", "/api/v2/cis/outCheck", &default, &check);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["results"][0]["codes"][0]["isBlocked"], true);
        assert_eq!(body["results"][0]["inst"], status_a["inst"]);
        let sell = json!({"cis_list": [sold]}).to_string();
        let (status, _) = request(&a, "POST", "/api/v2/cis/sell", &default, &sell);
        assert_eq!(status, 201);
        let (_, sold_a) = request(&a, "GET", "/api/v2/cis/sold", &default, "");
        let (_, sold_b) = request(&b, "GET", "/api/v2/cis/sold", &own, "");
        assert_eq!(
            (
                sold_a["total_count"].as_u64(),
                sold_b["total_count"].as_u64()
            ),
            (Some(1), Some(0))
        );
        let (_, checked_on_b) = request(&b, "POST", "/api/v2/cis/outCheck", &own, &check);
        assert_eq!(checked_on_b["results"][0]["inst"], status_b["inst"]);
    })
    .await
    .unwrap();
    assert!(data_a.join("local.redb").exists() && data_b.join("local.redb").exists());
}

#[test]
fn a_config_with_a_bad_instance_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("lm.toml");
    std::fs::write(
        &config_path,
        "[[instance]]\nname = \"one\"\nlisten = \"127.0.0.1:0\"\ndata = \"x\"\n\n\
         [[instance]]\nname = \"two\"\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let output = Command::new(ZNAK)
        .args(["lm", "serve", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("two") && stderr.contains("data"),
        "{stderr}"
    );
}
