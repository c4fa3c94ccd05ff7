//! Process kills: the real `znak` binary is killed with SIGKILL at random points, first during a
//! large initial sync (`znak lm sync`), then during incremental pulls (`znak lm serve`). After
//! every kill the store opens sound (nothing quarantined) and the next run resumes from its
//! checkpoint; in the end the doc counts are exact and the content equals the source's, key for
//! key.
//!
//! `ZNAK_RELIABILITY_KILLS` sets the number of kills (default 3: the short variant of the test
//! suite; `scripts/reliability` runs 24), `ZNAK_RELIABILITY_KIS` the blocked KIs of the initial
//! sync (default 30 000), `ZNAK_RELIABILITY_SEED` the seed of the kill points (printed).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use store::{Gtin, KiFingerprint, ListDb, Store, StoreOptions};
use support::{Points, ZNAK, env_number};

fn gtin(i: u64) -> String {
    let first13 = format!("{:013}", 4_600_000_000_000 + i);
    let check = marking::gtin::check_digit(first13.as_bytes());
    format!("{first13}{check}")
}

fn ki(i: u64) -> String {
    format!("01{}21{:07}", gtin(i % 500), i)
}

/// What the source holds, as the test wants it to be; compared with the store key for key.
#[derive(Default)]
struct Expected {
    kis: BTreeSet<u64>,
    gtins: BTreeSet<u64>,
    /// GTIN number → mrp.
    prices: BTreeMap<u64, u64>,
}

impl Expected {
    fn counts(&self) -> [u64; 3] {
        [
            self.kis.len() as u64,
            self.gtins.len() as u64,
            self.prices.len() as u64,
        ]
    }
}

async fn block(admin: &central::client::AdminClient, kis: impl Iterator<Item = u64>) {
    let kis: Vec<String> = kis.map(ki).collect();
    for chunk in kis.chunks(10_000) {
        admin.block(chunk.to_vec(), None).await.unwrap();
    }
}

/// The store's content equals `expected`, key for key; the store was not quarantined.
fn assert_content(data: &Path, expected: &Expected, context: &str) {
    let (store, report) = Store::open(data, StoreOptions::default()).unwrap();
    assert_eq!(report.quarantined, None, "{context}");
    let snapshot = store.lists().snapshot().unwrap();
    let kis: BTreeSet<u128> = expected
        .kis
        .iter()
        .map(|&i| KiFingerprint::of(&ki(i)).0)
        .collect();
    assert_eq!(snapshot.blocked_cis.len(), kis.len(), "{context}");
    assert!(
        snapshot.blocked_cis == kis,
        "{context}: blocked_cis differs"
    );
    let gtins: BTreeSet<u64> = expected
        .gtins
        .iter()
        .map(|&i| Gtin::parse(&gtin(i)).unwrap().as_u64())
        .collect();
    assert_eq!(snapshot.blocked_gtin, gtins, "{context}");
    let prices: BTreeMap<u64, Option<u64>> = expected
        .prices
        .iter()
        .map(|(&i, &mrp)| (Gtin::parse(&gtin(i)).unwrap().as_u64(), Some(mrp)))
        .collect();
    let stored: BTreeMap<u64, Option<u64>> = snapshot
        .min_price
        .iter()
        .map(|(&gtin, price)| (gtin, price.mrp))
        .collect();
    assert_eq!(stored, prices, "{context}");
    for (db, want) in [ListDb::BlockedCis, ListDb::BlockedGtin, ListDb::MinPrice]
        .into_iter()
        .zip(expected.counts())
    {
        let state = store.lists().db_state(db).unwrap();
        assert_eq!(state.doc_count, want, "{context}: {db:?} {state:?}");
        assert!(state.pulled, "{context}: {db:?}");
    }
}

/// After a kill: the store opens without quarantine and holds a checkpoint to resume from.
fn assert_sound_after_kill(data: &Path, context: &str) {
    let (store, report) = Store::open(data, StoreOptions::default()).unwrap();
    assert_eq!(
        report.quarantined, None,
        "{context}: a kill left a damaged store"
    );
    assert!(
        store.local().identity().unwrap().is_some(),
        "{context}: registration lost"
    );
}

/// Reads `child`'s stderr until `commits` batches were committed, waits `extra_ms`, then sends
/// SIGKILL. Returns false when the process ended by itself first (nothing left to kill).
fn kill_after(mut child: Child, commits: u64, extra_ms: u64) -> bool {
    let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut seen = 0;
    for line in stderr.lines() {
        let Ok(line) = line else { break };
        if line.contains("batch committed") {
            seen += 1;
            if seen == commits {
                std::thread::sleep(Duration::from_millis(extra_ms));
                let killed = child.kill().is_ok();
                let status = child.wait().unwrap();
                // A kill that raced the process's own exit did not interrupt anything.
                return killed && !status.success();
            }
        }
    }
    child.wait().unwrap();
    false
}

fn sync_command(data: &Path, url: &str, token: Option<&str>) -> Command {
    let mut command = Command::new(ZNAK);
    command
        .args(["lm", "sync", "--data"])
        .arg(data)
        .args(["--service", url, "--batch", "250", "--commit", "1000"])
        .env("RUST_LOG", "lm=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    command
}

/// `znak lm serve` on 127.0.0.1:0 pulling every second in small batches.
fn serve_command(data: &Path, url: &str) -> Command {
    let config = data.join("reliability.toml");
    std::fs::write(
        &config,
        "poll_secs = 1\nbatch_limit = 250\ncommit_changes = 1000\n",
    )
    .unwrap();
    let mut command = Command::new(ZNAK);
    command
        .args(["lm", "serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(data)
        .args(["--service", url])
        .env("RUST_LOG", "lm=debug");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_of_initial_and_incremental_sync_loses_nothing() {
    let kills = env_number("ZNAK_RELIABILITY_KILLS", 3).max(2);
    let initial_kills = kills - kills / 3;
    let incremental_kills = kills - initial_kills;
    let kis = env_number("ZNAK_RELIABILITY_KIS", 30_000);
    let seed = env_number("ZNAK_RELIABILITY_SEED", 0).max(1).wrapping_add(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(1)
            * u64::from(std::env::var("ZNAK_RELIABILITY_SEED").is_err()),
    );
    println!(
        "kills {kills} ({initial_kills} initial, {incremental_kills} incremental), {kis} KIs, seed {seed}"
    );
    let mut points = Points(seed | 1);

    let emulator = support::emulator().await;
    let admin = &emulator.admin;
    let token = admin.token("7700000001").await.unwrap();
    let mut expected = Expected::default();
    block(admin, 0..kis).await;
    expected.kis.extend(0..kis);
    admin
        .block_gtin((0..100).map(gtin).collect(), None)
        .await
        .unwrap();
    expected.gtins.extend(0..100);
    admin
        .price((1000..3000).map(gtin).collect(), Some(12_300), None)
        .await
        .unwrap();
    expected.prices.extend((1000..3000).map(|i| (i, 12_300)));

    let data = tempfile::tempdir().unwrap();
    let url = emulator.url.clone();

    // Initial sync: killed at random commits (and a few ms into the next one), restarted.
    let mut killed = 0;
    let mut runs = 0;
    while killed < initial_kills {
        let registered = runs > 0;
        let command = sync_command(data.path(), &url, (!registered).then_some(token.as_str()));
        let (commits, extra) = (1 + points.below(4), points.below(40));
        let interrupted = tokio::task::spawn_blocking(move || {
            let mut command = command;
            kill_after(command.spawn().unwrap(), commits, extra)
        })
        .await
        .unwrap();
        runs += 1;
        if !interrupted {
            break;
        }
        killed += 1;
        assert_sound_after_kill(data.path(), &format!("initial kill {killed}"));
    }
    let mut last = sync_command(data.path(), &url, None);
    last.stderr(Stdio::null()).stdout(Stdio::piped());
    let output = tokio::task::spawn_blocking(move || last.output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success(), "the resumed sync failed");
    assert_content(data.path(), &expected, "after the initial sync");
    println!("initial sync: {killed} kills in {runs} runs, content exact");
    assert_eq!(killed, initial_kills, "the sync ended before every kill");

    // Incremental: new KIs, removed KIs, GTIN and price changes; `znak lm serve` killed while
    // it pulls them.
    let more = kis / 3;
    block(admin, kis..kis + more).await;
    expected.kis.extend(kis..kis + more);
    let removed: Vec<u64> = (0..kis).step_by(7).collect();
    for chunk in removed.chunks(5_000) {
        admin
            .unblock(chunk.iter().map(|&i| ki(i)).collect())
            .await
            .unwrap();
    }
    for i in &removed {
        expected.kis.remove(i);
    }
    admin
        .unblock_gtin((0..20).map(gtin).collect())
        .await
        .unwrap();
    admin
        .block_gtin((100..150).map(gtin).collect(), None)
        .await
        .unwrap();
    expected.gtins.retain(|&i| i >= 20);
    expected.gtins.extend(100..150);
    admin
        .price((2000..2500).map(gtin).collect(), Some(45_600), None)
        .await
        .unwrap();
    expected.prices.extend((2000..2500).map(|i| (i, 45_600)));

    let mut killed = 0;
    while killed < incremental_kills {
        let mut command = serve_command(data.path(), &url);
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let (commits, extra) = (1 + points.below(3), points.below(40));
        let interrupted = tokio::task::spawn_blocking(move || {
            kill_after(command.spawn().unwrap(), commits, extra)
        })
        .await
        .unwrap();
        assert!(interrupted, "znak lm serve does not end by itself");
        killed += 1;
        assert_sound_after_kill(data.path(), &format!("incremental kill {killed}"));
    }
    // The last run catches up; its status shows the exact counts.
    let mut command = serve_command(data.path(), &url);
    let mut served = support::Served::start(&mut command);
    let (_, address) = served.next_listener();
    let want = expected.counts();
    let deadline = Instant::now() + Duration::from_secs(180);
    let counts = loop {
        let (status, body) = tokio::task::spawn_blocking({
            let address = address.clone();
            move || support::request_json(&address, "GET", "/api/v2/status", None, "")
        })
        .await
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let counts = ["blocked_cis", "blocked_gtin", "min_price"]
            .map(|db| body["dbState"][db]["docCount"].as_u64().unwrap_or(0));
        if counts == want || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        counts, want,
        "the resumed incremental sync did not catch up"
    );
    drop(served);
    assert_content(data.path(), &expected, "after the incremental sync");
    println!("incremental sync: {killed} kills, content exact");
}
