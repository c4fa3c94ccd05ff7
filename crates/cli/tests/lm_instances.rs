//! `znak lm serve --config FILE` with `[[instance]]` tables: one process, two modules with their
//! own port, data directory, participant INN and login, each initialised against the emulator.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Served, ZNAK, basic, passwd, request_json};

const INN_A: &str = "7700000011";
const INN_B: &str = "7700000022";

fn request(address: &str, method: &str, path: &str, auth: &str, body: &str) -> (u16, Value) {
    request_json(
        address,
        method,
        path,
        Some(auth).filter(|a| !a.is_empty()),
        body,
    )
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_serves_two_instances_with_their_own_inn_port_data_and_login() {
    let emulator = support::emulator().await;
    let admin = &emulator.admin;
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
    let typed = passwd(&data_b, "kassa2", "second long password\n");
    assert!(typed.status.success(), "{typed:?}");
    let config_path = dir.path().join("lm.toml");
    std::fs::write(
        &config_path,
        format!(
            "service = {service:?}\npoll_secs = 1\n\n\
             [[instance]]\nname = \"alpha\"\nlisten = \"127.0.0.1:0\"\ndata = {a:?}\ninn = {INN_A:?}\n\n\
             [[instance]]\nname = \"beta\"\nlisten = \"127.0.0.1:0\"\ndata = {b:?}\ninn = {INN_B:?}\n",
            service = emulator.url,
            a = data_a.display().to_string(),
            b = data_b.display().to_string(),
        ),
    )
    .unwrap();

    let mut served = Served::start(
        Command::new(ZNAK)
            .args(["lm", "serve", "--config"])
            .arg(&config_path),
    );
    let addresses: Vec<(String, String)> = (0..2)
        .map(|_| {
            let (line, address) = served.next_listener();
            let name = line
                .split(':')
                .next()
                .unwrap()
                .trim_start_matches("znak lm ");
            (name.to_owned(), address)
        })
        .collect();
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
