//! `--tls`: HTTPS on every listener, signed by a CA kept in the data dir.

use central::client::{http_client, http_client_trusting};
use serde_json::json;

use crate::harness::{Emulator, start_with};

fn ca_file(emu: &Emulator) -> std::path::PathBuf {
    central::tls::ca_file(emu.dir.path())
}

#[tokio::test]
async fn a_client_trusting_only_the_ca_file_talks_to_main_and_cdn_hosts() {
    let emu = start_with(tempfile::tempdir().expect("tempdir"), 2, true).await;
    assert!(emu.main.starts_with("https://"), "{}", emu.main);
    let (status, info) = emu
        .get(&format!("{}/api/v4/true-api/cdn/info", emu.main))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        info["hosts"],
        json!([{"host": emu.cdn[0]}, {"host": emu.cdn[1]}])
    );
    assert!(emu.cdn.iter().all(|h| h.starts_with("https://")));

    let spec = central::issue::IssueSpec {
        pg: 8,
        count: 1,
        ..Default::default()
    };
    let code = emu.admin.issue(&spec).await.expect("issue").remove(0);
    for host in 0..2 {
        assert_eq!(emu.get(&emu.health_url(host)).await.0, 200, "host {host}");
        let (status, body) = emu.check(host, &code).await;
        assert_eq!((status, &body["codes"][0]["verified"]), (200, &json!(true)));
    }

    // A client that does not trust the CA cannot talk to any host; plain HTTP gets no answer.
    let untrusting = http_client().expect("client");
    for url in [&emu.main, &emu.cdn[0], &emu.cdn[1]] {
        let err = untrusting
            .get(format!("{url}/api/v4/true-api/cdn/health/check"))
            .send()
            .await
            .expect_err("an unknown CA is refused");
        assert!(err.is_connect() || err.is_request(), "{url}: {err}");
        let plain = url.replacen("https://", "http://", 1);
        assert!(
            untrusting
                .get(format!("{plain}/api/v4/true-api/cdn/info"))
                .send()
                .await
                .is_err(),
            "{plain} answered plain HTTP"
        );
    }

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = emu.dir.path().join("tls").join("ca.key");
        let mode = std::fs::metadata(&key)
            .expect("ca.key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "ca.key mode {mode:o}");
    }
}

#[tokio::test]
async fn the_ca_survives_a_restart_and_old_clients_keep_working() {
    let emu = start_with(tempfile::tempdir().expect("tempdir"), 1, true).await;
    let ca_before = std::fs::read(ca_file(&emu)).expect("ca.pem");
    // Built before the restart: it holds the CA as read then.
    let old_client = http_client_trusting(&ca_file(&emu)).expect("client");
    let token = emu.token.clone();
    let dir = emu.stop().await;

    let emu = start_with(dir, 1, true).await;
    assert_eq!(std::fs::read(ca_file(&emu)).expect("ca.pem"), ca_before);
    for url in [
        format!("{}/api/v4/true-api/cdn/info", emu.main),
        emu.health_url(0),
    ] {
        let response = old_client
            .get(&url)
            .header("X-API-KEY", &token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(response.status().as_u16(), 200, "{url}");
    }
}
