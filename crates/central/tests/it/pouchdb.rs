//! CouchDB compatibility: PouchDB's replicator (tools/pouchdb/replicate.js, installed by
//! scripts/test-deps) replicates `blocked_cis` from the emulator into an in-memory PouchDB.

use std::path::PathBuf;

use serde_json::Value;

use crate::harness::start;
use crate::replication::register;

fn tools_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/pouchdb")
}

async fn replicate(url: &str, user: &str, password: &str) -> Value {
    let dir = tools_dir();
    assert!(
        dir.join("node_modules/pouchdb").is_dir(),
        "PouchDB is not installed in {}: run scripts/test-deps",
        dir.display()
    );
    let output = tokio::process::Command::new("node")
        .arg("replicate.js")
        .args([url, user, password])
        .current_dir(&dir)
        .output()
        .await
        .expect("node runs (scripts/test-deps installs it)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "replicate.js failed: {stderr}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("replicate.js output: {e}; stderr: {stderr}"))
}

#[tokio::test]
async fn pouchdb_replicates_blocked_cis_with_the_same_ids() {
    let emu = start(1).await;
    let reg = register(&emu).await;
    let spec = central::issue::IssueSpec {
        pg: 1,
        count: 7,
        ..Default::default()
    };
    let codes = emu.admin.issue(&spec).await.expect("issue");
    let kis: Vec<String> = codes.iter().map(|c| marking::ki(c).expect("ki")).collect();
    emu.admin
        .block(codes.clone(), Some(vec!["RPN".into()]))
        .await
        .expect("block");
    emu.admin
        .unblock(vec![kis[3].clone()])
        .await
        .expect("unblock");
    // KIs with GS1 specials (`"`, `%`, `/`, `<`) must survive the URL round trips too.
    let sandbox_ki = "01046700190342882151aj\"K>X+mFcP".to_string();
    emu.admin
        .block(
            vec![sandbox_ki.clone(), "010461013628057121/798DM%".into()],
            None,
        )
        .await
        .expect("block");

    let db_url = format!("{}/blocked_cis", reg.replication.url);
    let result = replicate(
        &db_url,
        &reg.replication.username,
        &reg.replication.password,
    )
    .await;
    let mut expected: Vec<String> = kis
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, k)| k.clone())
        .collect();
    expected.push(sandbox_ki);
    expected.push("010461013628057121/798DM%".into());
    expected.sort();
    let mut ids: Vec<String> = serde_json::from_value(result["ids"].clone()).expect("ids");
    ids.sort();
    assert_eq!(ids, expected);
    assert_eq!(result["doc_count"], expected.len());

    // PouchDB left a `_local` checkpoint on the source (PUT); a second run into a fresh target
    // reads it back (GET) and sees the new deletion.
    emu.admin
        .unblock(vec![kis[0].clone()])
        .await
        .expect("unblock");
    let again = replicate(
        &db_url,
        &reg.replication.username,
        &reg.replication.password,
    )
    .await;
    let ids: Vec<String> = serde_json::from_value(again["ids"].clone()).expect("ids");
    assert_eq!(ids.len(), expected.len() - 1);
    assert!(!ids.contains(&kis[0]));
}
