//! `znak lm sync` against `znak central` (in-process on loopback): a full sync ends with exactly
//! the emulator's lists, and a `kill -9` in the middle of a large sync loses nothing — the next
//! run resumes from the stored checkpoint (same registration) and ends with exact counts.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use store::{ListDb, Store, StoreOptions};
use support::ZNAK;

struct Emulator {
    url: String,
    token: String,
    _emulator: support::Emulator,
}

/// Blocked KIs, blocked GTINs and prices loaded into a fresh emulator.
struct Lists {
    kis: usize,
    gtins: usize,
    prices: usize,
}

fn gtin(i: usize) -> String {
    let first13 = format!("{:013}", 4_600_000_000_000 + i);
    let check = marking::gtin::check_digit(first13.as_bytes());
    format!("{first13}{check}")
}

fn ki(i: usize) -> String {
    format!("01{}21{:06}", gtin(i % 500), i)
}

async fn start_emulator(lists: &Lists) -> Emulator {
    let emulator = support::emulator().await;
    let admin = &emulator.admin;
    let token = admin.token("7700000001").await.unwrap();
    let kis: Vec<String> = (0..lists.kis).map(ki).collect();
    for chunk in kis.chunks(10_000) {
        admin.block(chunk.to_vec(), None).await.unwrap();
    }
    admin
        .block_gtin((0..lists.gtins).map(gtin).collect(), None)
        .await
        .unwrap();
    let prices: Vec<String> = (0..lists.prices).map(|i| gtin(1000 + i)).collect();
    admin.price(prices, Some(12_300), None).await.unwrap();
    Emulator {
        url: emulator.url.clone(),
        token,
        _emulator: emulator,
    }
}

fn sync_command(data: &Path, emulator: &Emulator, batch: u32) -> Command {
    let mut command = Command::new(ZNAK);
    command.args(["lm", "sync", "--data"]).arg(data).args([
        "--service",
        &emulator.url,
        "--batch",
        &batch.to_string(),
        "--commit",
        "1000",
    ]);
    command
}

fn report(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "znak lm sync failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON report")
}

fn doc_counts(report: &Value) -> [u64; 3] {
    ["blocked_cis", "blocked_gtin", "min_price"]
        .map(|db| report["dbState"][db]["docCount"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_every_list_from_the_emulator() {
    let lists = Lists {
        kis: 3000,
        gtins: 40,
        prices: 700,
    };
    let emulator = start_emulator(&lists).await;
    let data = tempfile::tempdir().unwrap();
    let mut command = sync_command(data.path(), &emulator, 1000);
    command.args(["--token", &emulator.token]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let report = report(&output);
    assert_eq!(report["status"], "ready");
    assert_eq!(doc_counts(&report), [3000, 40, 700]);

    let (store, _) = Store::open(data.path(), StoreOptions::default()).unwrap();
    assert!(store.lists().is_blocked(&ki(2999), None).unwrap());
    assert!(!store.lists().is_blocked(&ki(3000), None).unwrap());
    let price = store
        .lists()
        .min_price(store::Gtin::parse(&gtin(1000)).unwrap())
        .unwrap();
    assert_eq!(price.and_then(|p| p.mrp), Some(12_300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_large_sync_then_restart_completes_with_exact_counts() {
    let lists = Lists {
        kis: 30_000,
        gtins: 100,
        prices: 2000,
    };
    let emulator = start_emulator(&lists).await;
    let data = tempfile::tempdir().unwrap();

    let mut first = sync_command(data.path(), &emulator, 250);
    first
        .args(["--token", &emulator.token])
        .env("RUST_LOG", "lm=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let killed_after = tokio::task::spawn_blocking(move || {
        let mut child = first.spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut batches = 0;
        let mut seen = Vec::new();
        for line in stderr.lines() {
            let line = line.unwrap();
            seen.push(line.clone());
            if line.contains("batch committed") && line.contains("blocked_cis") {
                batches += 1;
                if batches == 5 {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL: no shutdown, no flush, no close
        child.wait().unwrap();
        (batches, seen.join("\n"))
    })
    .await
    .unwrap();
    let (killed_after, log) = killed_after;
    assert_eq!(
        killed_after, 5,
        "the sync was killed mid-way, not after it ended:\n{log}"
    );

    let inst = {
        let (store, report) = Store::open(data.path(), StoreOptions::default()).unwrap();
        assert_eq!(
            report.quarantined, None,
            "a killed sync leaves a sound store"
        );
        let state = store.lists().db_state(ListDb::BlockedCis).unwrap();
        assert!(
            state.doc_count >= 5 * 1000 && state.doc_count < 30_000,
            "{state:?}"
        );
        assert_eq!(
            state.doc_count % 1000,
            0,
            "commits of whole pages: {state:?}"
        );
        assert!(!state.pulled && state.checkpoint.is_some(), "{state:?}");
        store.local().identity().unwrap().expect("registered").inst
    };

    let second = sync_command(data.path(), &emulator, 250);
    let output = tokio::task::spawn_blocking(move || {
        let mut second = second;
        second.output().unwrap()
    })
    .await
    .unwrap();
    let report = report(&output);
    assert_eq!(report["status"], "ready");
    assert_eq!(report["inst"], inst.as_str(), "resumed, not re-registered");
    assert_eq!(doc_counts(&report), [30_000, 100, 2000]);
}
