//! `znak lm diag` as support would ask a shop to run it: against a module synced from the
//! operator emulator, stopped (status computed from a copy of the store, integrity checked) and
//! running (status from its API). The archive is listed with `tar`, and no secret is in it.

mod support;

use std::path::Path;
use std::process::Command;

use support::ZNAK;

const API_TOKEN: &str = "32342f94-39ce-49cf-91ac-db8598c45111";
const PASSWORD: &str = "s3cret pass";

/// An emulator with a participant token and 40 blocked KIs: (service URL, token, emulator).
async fn emulator() -> (String, String, support::Emulator) {
    let emulator = support::emulator().await;
    let token = emulator.admin.token("7700000001").await.unwrap();
    let kis = (0..40)
        .map(|i| format!("0104600000000015215diag{i:02}"))
        .collect();
    emulator.admin.block(kis, None).await.unwrap();
    (emulator.url.clone(), token, emulator)
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Lists the archive with tar, extracts it, and returns (entries, every file's text).
fn open_archive(archive: &Path, into: &Path) -> (Vec<String>, String) {
    let listing = run(Command::new("tar").arg("-tzf").arg(archive));
    std::fs::create_dir_all(into).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(into));
    let mut everything = String::new();
    for entry in listing.lines().filter(|line| !line.ends_with('/')) {
        everything.push_str(&std::fs::read_to_string(into.join(entry)).unwrap());
    }
    (listing.lines().map(str::to_owned).collect(), everything)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diag_archives_status_config_logs_and_store_without_secrets() {
    let (service, participant_token, _central) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("log");
    let mut sync = Command::new(ZNAK);
    sync.args([
        "lm",
        "sync",
        "--service",
        &service,
        "--token",
        &participant_token,
        "--data",
    ])
    .arg(&data);
    tokio::task::spawn_blocking(move || run(&mut sync))
        .await
        .unwrap();
    let typed = support::passwd(&data, "kassa", &format!("{PASSWORD}\n"));
    assert!(typed.status.success(), "{typed:?}");
    std::fs::create_dir_all(&logs).unwrap();
    for day in 20..=23 {
        std::fs::write(
            logs.join(format!("znak-lm.log.2026-11-{day}")),
            format!("2026-11-{day} INFO module starting\n"),
        )
        .unwrap();
    }
    let config = dir.path().join("lm.toml");
    std::fs::write(
        &config,
        format!(
            "data = {data:?}\nservice = \"{service}\"\ntokens = [\"{API_TOKEN}\"]\n\
             log_dir = {logs:?}\n"
        ),
    )
    .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);

    // Stopped module: the status comes from a copy of the store.
    let archive = dir.path().join("stopped.tar.gz");
    let printed = run(Command::new(ZNAK)
        .args(["lm", "diag", "--url", &closed_url, "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&archive));
    assert!(printed.contains("status from the store"), "{printed}");
    let out = dir.path().join("stopped");
    let (entries, everything) = open_archive(&archive, &out);
    let mut expected = vec![
        "znak-diag/README.txt",
        "znak-diag/status.json",
        "znak-diag/config.toml",
        "znak-diag/credentials.txt",
        "znak-diag/store.json",
        "znak-diag/logs/znak-lm.log.2026-11-23",
        "znak-diag/logs/znak-lm.log.2026-11-22",
        "znak-diag/logs/znak-lm.log.2026-11-21",
    ];
    let mut listed: Vec<&str> = entries.iter().map(String::as_str).collect();
    listed.sort_unstable();
    expected.sort_unstable();
    assert_eq!(listed, expected);
    for secret in [
        participant_token.as_str(),
        API_TOKEN,
        PASSWORD,
        "$argon2id$",
    ] {
        assert!(!everything.contains(secret), "{secret:?} is in the archive");
    }
    let status = read_json(&out.join("znak-diag/status.json"));
    assert_eq!(status["source"], "store");
    assert_eq!(status["status"]["status"], "ready");
    assert_eq!(status["status"]["inn"], "7700000001");
    let store = read_json(&out.join("znak-diag/store.json"));
    assert!(
        store["integrity"].as_str().unwrap_or("").starts_with("ok"),
        "{store}"
    );
    assert!(
        store["files"]["lists.redb"].as_u64().unwrap_or(0) > 0,
        "{store}"
    );
    let blocked = store["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|list| list["db"] == "blocked_cis")
        .unwrap();
    assert_eq!(blocked["docCount"], 40);
    assert_eq!(
        store["identity"]["token"],
        format!("****{}", &participant_token[participant_token.len() - 4..])
    );
    let config_text = std::fs::read_to_string(out.join("znak-diag/config.toml")).unwrap();
    assert!(config_text.contains("****5111"), "{config_text}");
    let credentials = std::fs::read_to_string(out.join("znak-diag/credentials.txt")).unwrap();
    assert!(credentials.contains("login: kassa"), "{credentials}");

    // Running module: the status comes from its API; the store is left alone.
    let mut serve = support::Served::start(
        Command::new(ZNAK)
            .args(["lm", "serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config),
    );
    let (_, address) = serve.next_listener();
    let archive = dir.path().join("running.tar.gz");
    let printed = run(Command::new(ZNAK)
        .args([
            "lm",
            "diag",
            "--url",
            &format!("http://{address}"),
            "--config",
        ])
        .arg(&config)
        .arg("--out")
        .arg(&archive));
    drop(serve);
    assert!(
        printed.contains("status from the running module"),
        "{printed}"
    );
    let out = dir.path().join("running");
    let (_, everything) = open_archive(&archive, &out);
    for secret in [
        participant_token.as_str(),
        API_TOKEN,
        PASSWORD,
        "$argon2id$",
    ] {
        assert!(!everything.contains(secret), "{secret:?} is in the archive");
    }
    let status = read_json(&out.join("znak-diag/status.json"));
    assert_eq!(status["source"], "api");
    assert_eq!(status["status"]["name"], "znak");
    assert_eq!(status["status"]["dbState"]["blocked_cis"]["docCount"], 40);
    let store = read_json(&out.join("znak-diag/store.json"));
    assert!(
        store["integrity"]
            .as_str()
            .unwrap_or("")
            .starts_with("not checked"),
        "{store}"
    );
}
