//! The admin page in a real headless Chromium: `znak central` (the emulator) and a module on
//! 127.0.0.1:0, the page opened with the module's Basic credentials, the module initialised
//! through the page's token form, the progress followed until `ready`. A screenshot is kept as
//! `target/artifacts/admin-page.png`.
//!
//! Skips (loudly) when no Chromium is installed, unless `ZNAK_REQUIRE_CHROMIUM` is set, as it
//! is in `scripts/test` (which installs Debian's `chromium` through `scripts/test-deps`).

mod browser;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use central::Config;
use central::client::AdminClient;
use lm::api::{ServiceConfig, run};
use lm::{ModuleConfig, Poll, SystemClock};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use browser::{Browser, find_chromium};

const INN: &str = "7700000042";

fn gtin(i: usize) -> String {
    let first13 = format!("{:013}", 4_600_000_000_000 + i);
    let check = marking::gtin::check_digit(first13.as_bytes());
    format!("{first13}{check}")
}

/// Where test artefacts go: `$CARGO_TARGET_DIR/artifacts`, else the workspace's `target/artifacts`.
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("artifacts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_page_initialises_the_module_and_shows_progress_until_ready() {
    let Some(chromium) = find_chromium() else {
        if std::env::var_os("ZNAK_REQUIRE_CHROMIUM").is_some() {
            panic!(
                "ZNAK_REQUIRE_CHROMIUM is set but no chromium was found (run scripts/test-deps)"
            );
        }
        eprintln!(
            "\n!!!!!!!! SKIPPED: admin page browser test: no chromium on PATH \
             (install it with scripts/test-deps, or set ZNAK_CHROMIUM) !!!!!!!!\n"
        );
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();

    // The operator emulator with a participant and some blocked codes to pull.
    let central_dir = tempfile::tempdir().unwrap();
    let stop_central = CancellationToken::new();
    let config = Config::new(central_dir.path());
    let urls = central::start_on_loopback(config, 0, stop_central.clone().cancelled_owned())
        .await
        .unwrap()
        .urls;
    let admin = AdminClient::new(&urls.main).unwrap();
    let token = admin.token(INN).await.unwrap();
    let blocked: Vec<String> = (0..300).map(|n| format!("01{}21{n:07}", gtin(1))).collect();
    admin.block(blocked.clone(), None).await.unwrap();

    // The module exactly as `znak lm serve` runs it, with the factory login on loopback.
    let module_dir = tempfile::tempdir().unwrap();
    let mut module = ModuleConfig::new(module_dir.path(), &urls.main);
    module.poll = Poll::Longpoll(Duration::from_millis(500));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop_module = CancellationToken::new();
    let served = tokio::spawn(run(
        ServiceConfig::new(module),
        Arc::new(SystemClock),
        listener,
        stop_module.clone(),
    ));

    let mut page = Browser::launch(&chromium, 1280, 1700).await;
    let login = base64::engine::general_purpose::STANDARD.encode("admin:admin");
    page.set_header("Authorization", &format!("Basic {login}"))
        .await;
    page.navigate(&format!("{base}/")).await;
    page.wait_for(
        "document.getElementById('state').textContent === 'not_configured'",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('default-login').hidden")
            .await,
        false,
        "the page warns about the factory login"
    );

    // Initialise through the form, as a person would.
    page.eval(&format!(
        "document.getElementById('token').value = {token:?}; \
         document.getElementById('init-submit').click(); true",
        token = token
    ))
    .await;
    page.wait_for(
        "document.getElementById('state').textContent === 'ready' \
         && document.getElementById('progress-bar').style.width === '100%' \
         && document.getElementById('progress-text').textContent.startsWith('ready')",
        Duration::from_secs(30),
    )
    .await;
    let progress = page
        .eval("document.getElementById('progress-text').textContent")
        .await;
    assert!(progress.as_str().unwrap().contains("300"), "{progress}");
    assert_eq!(
        page.eval("document.getElementById('inn').textContent")
            .await,
        INN
    );
    let lists = page
        .eval("[...document.querySelectorAll('#lists tbody tr')].map(r => r.cells[0].textContent + '=' + r.cells[1].textContent).join(' ')")
        .await;
    assert!(
        lists.as_str().unwrap().contains("blocked_cis=300"),
        "{lists}"
    );

    // A till checks a code: the page lists it under its X-ClientId.
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("{base}/api/v2/cis/outCheck"))
        .basic_auth("admin", Some("admin"))
        .header("X-ClientId", "9999078900007777")
        .json(&json!({"cis_list": [{"cis": blocked[0]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    page.wait_for(
        "document.querySelector('#tills tbody').textContent.includes('9999078900007777')",
        Duration::from_secs(10),
    )
    .await;

    // Nothing came from anywhere but the module itself.
    let foreign = page
        .eval(&format!(
            "performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith({base:?}))"
        ))
        .await;
    assert_eq!(foreign, json!([]), "resources from elsewhere: {foreign}");

    let png = page.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("admin-page.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("admin page screenshot: {}", path.display());
    page.close().await;

    stop_module.cancel();
    served.await.unwrap().unwrap();
    stop_central.cancel();
}
