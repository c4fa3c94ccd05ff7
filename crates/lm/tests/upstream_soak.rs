//! Upstream faults (issue 8): the real emulator (`central`) with replication chaos on — delays,
//! 500/503, connections reset mid-body, `_changes` bodies cut at a random byte, stalls — and two
//! real modules syncing from it (one normal: `blocked_cis`, `blocked_gtin`, `min_price`; one in
//! grey mode: `grey_gtin` instead of `blocked_cis`, so all four lists are pulled), while the
//! admin keeps blocking, unblocking, blocking GTINs and pricing. Then chaos goes off and both
//! modules must converge to the source: every list equal key for key (prices included) to what
//! the emulator's store holds, doc counts exact (nothing twice, nothing missing).
//!
//! `ZNAK_SOAK_SECONDS` (default 6: the short variant of the test suite; `scripts/reliability`
//! runs 600), `ZNAK_SOAK_CODES` (blocked KIs at the start, default 5 000), `ZNAK_SOAK_SEED`
//! (the chaos seed; printed).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use central::chaos::ChaosSettings;
use central::client::AdminClient;
use central::store::Db;
use lm::{InitRequest, Module, ModuleConfig, Poll, SystemClock};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use store::{Gtin, KiFingerprint, ListDb, ListSnapshot};
use tokio_util::sync::CancellationToken;

/// GTINs the blocked KIs are spread over (so `grey_gtin` changes as KIs come and go).
const KI_GTINS: u64 = 400;
/// GTINs the admin blocks and prices.
const LIST_GTINS: u64 = 300;
/// Longest wait for convergence after chaos is off (a hang guard, not a speed assertion).
const CONVERGENCE_LIMIT: Duration = Duration::from_secs(300);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

fn gtin(i: u64) -> String {
    let first13 = format!("{:013}", 4_600_000_000_000 + i);
    let check = marking::gtin::check_digit(first13.as_bytes());
    format!("{first13}{check}")
}

fn ki(i: u64) -> String {
    format!("01{}21{:07}", gtin(i % KI_GTINS), i)
}

/// What the test asked of the source; the emulator's own store is compared with it at the end.
#[derive(Default)]
struct Model {
    kis: BTreeSet<u64>,
    gtins: BTreeSet<u64>,
    /// GTIN number → mrp.
    prices: BTreeMap<u64, u64>,
    next_ki: u64,
}

/// The lists as a module stores them, read from the source (the emulator's store) or the model.
#[derive(Debug, PartialEq, Eq)]
struct Lists {
    blocked_cis: BTreeSet<u128>,
    blocked_gtin: BTreeSet<u64>,
    grey_gtin: BTreeSet<u64>,
    /// GTIN → (mrp, smp).
    min_price: BTreeMap<u64, (Option<u64>, Option<u64>)>,
}

fn gtin_key(text: &str) -> u64 {
    Gtin::parse(text).expect("a GTIN of the test").as_u64()
}

impl Model {
    fn lists(&self) -> Lists {
        Lists {
            blocked_cis: self
                .kis
                .iter()
                .map(|&i| KiFingerprint::of(&ki(i)).0)
                .collect(),
            blocked_gtin: self.gtins.iter().map(|&i| gtin_key(&gtin(i))).collect(),
            grey_gtin: self
                .kis
                .iter()
                .map(|&i| gtin_key(&gtin(i % KI_GTINS)))
                .collect(),
            min_price: self
                .prices
                .iter()
                .map(|(&i, &mrp)| (gtin_key(&gtin(i)), (Some(mrp), None)))
                .collect(),
        }
    }
}

/// Every live document of the emulator's four lists, read from its store (after it stopped).
fn source_lists(dir: &std::path::Path) -> (Lists, [u64; 4]) {
    // Connection tasks aborted at shutdown may hold the store a moment longer.
    let mut tries = 0;
    let store = loop {
        match central::store::Store::open(dir) {
            Ok(store) => break store,
            Err(e) if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
                let _ = e;
            }
            Err(e) => panic!("the emulator's store: {e}"),
        }
    };
    let live = |db: Db| {
        let page = store.changes(db, 0, usize::MAX).expect("changes");
        let rows: Vec<_> = page.rows.into_iter().filter(|r| !r.deleted).collect();
        assert_eq!(
            rows.len() as u64,
            store.db_stats(db).expect("stats").doc_count,
            "{db:?}"
        );
        rows
    };
    let price = |doc: &serde_json::Map<String, Value>, field: &str| doc.get(field)?.as_u64();
    let lists = Lists {
        blocked_cis: live(Db::BlockedCis)
            .iter()
            .map(|r| KiFingerprint::of(&r.id).0)
            .collect(),
        blocked_gtin: live(Db::BlockedGtin)
            .iter()
            .map(|r| gtin_key(&r.id))
            .collect(),
        grey_gtin: live(Db::GreyGtin).iter().map(|r| gtin_key(&r.id)).collect(),
        min_price: live(Db::MinPrice)
            .iter()
            .map(|r| {
                let doc = r.doc();
                (gtin_key(&r.id), (price(&doc, "mrp"), price(&doc, "smp")))
            })
            .collect(),
    };
    let counts = [
        lists.blocked_cis.len() as u64,
        lists.blocked_gtin.len() as u64,
        lists.grey_gtin.len() as u64,
        lists.min_price.len() as u64,
    ];
    (lists, counts)
}

/// A module's lists (the inactive one empty) and its stored doc counts of the active ones.
fn module_lists(module: &Module) -> (Lists, BTreeMap<ListDb, u64>) {
    let store = module.store().expect("store open");
    let ListSnapshot {
        blocked_cis,
        blocked_gtin,
        grey_gtin,
        min_price,
    } = store.lists().snapshot().expect("snapshot");
    let counts = [
        ListDb::BlockedCis,
        ListDb::BlockedGtin,
        ListDb::GreyGtin,
        ListDb::MinPrice,
    ]
    .into_iter()
    .map(|db| (db, store.lists().db_state(db).expect("db state").doc_count))
    .collect();
    let lists = Lists {
        blocked_cis,
        blocked_gtin,
        grey_gtin,
        min_price: min_price
            .into_iter()
            .map(|(gtin, p)| (gtin, (p.mrp, p.smp)))
            .collect(),
    };
    (lists, counts)
}

/// `want` as a module in this mode holds it.
fn as_pulled(want: &Lists, grey: bool) -> Lists {
    Lists {
        blocked_cis: if grey {
            BTreeSet::new()
        } else {
            want.blocked_cis.clone()
        },
        blocked_gtin: want.blocked_gtin.clone(),
        grey_gtin: if grey {
            want.grey_gtin.clone()
        } else {
            BTreeSet::new()
        },
        min_price: want.min_price.clone(),
    }
}

fn sym<T: Ord>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> usize {
    a.symmetric_difference(b).count()
}

/// Differences between a module and what it should hold (0 when equal): keys missing or extra
/// per list, plus stored doc counts that disagree with the content.
fn differences(module: &Module, want: &Lists, grey: bool) -> usize {
    let want = as_pulled(want, grey);
    let (have, counts) = module_lists(module);
    let prices = want
        .min_price
        .iter()
        .filter(|(k, v)| have.min_price.get(k) != Some(v))
        .count()
        + have
            .min_price
            .keys()
            .filter(|k| !want.min_price.contains_key(k))
            .count();
    let count_mismatch = [
        (ListDb::BlockedCis, want.blocked_cis.len(), !grey),
        (ListDb::BlockedGtin, want.blocked_gtin.len(), true),
        (ListDb::GreyGtin, want.grey_gtin.len(), grey),
        (ListDb::MinPrice, want.min_price.len(), true),
    ]
    .into_iter()
    .filter(|&(db, len, active)| active && counts.get(&db) != Some(&(len as u64)))
    .count();
    sym(&want.blocked_cis, &have.blocked_cis)
        + sym(&want.blocked_gtin, &have.blocked_gtin)
        + sym(&want.grey_gtin, &have.grey_gtin)
        + prices
        + count_mismatch
}

struct Emulator {
    admin: AdminClient,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), central::Error>>,
    dir: tempfile::TempDir,
}

async fn emulator() -> Emulator {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = central::start_on_loopback(central::Config::new(dir.path()), 0, async {
        let _ = stopped.await;
    })
    .await
    .expect("emulator");
    let url = started.urls.main;
    Emulator {
        admin: AdminClient::new(&url).expect("admin client"),
        url,
        stop: Some(stop),
        task: started.task,
        dir,
    }
}

/// A real module on its own data dir, pulling often, giving a stalled answer up after 1 s.
fn module(dir: &std::path::Path, url: &str, shutdown: &CancellationToken) -> Module {
    let mut config = ModuleConfig::new(dir, url);
    config.poll = Poll::Interval(Duration::from_millis(100));
    config.batch_limit = 1_000;
    config.commit_changes = 3_000;
    config.backoff_min = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(500);
    config.timeouts.read = Duration::from_secs(1);
    let module = Module::open(config, Arc::new(SystemClock));
    tokio::spawn({
        let module = module.clone();
        let shutdown = shutdown.clone();
        async move { module.run(shutdown).await }
    });
    module
}

/// Changes the admin made during the soak, per kind.
#[derive(Debug, Default)]
struct Made {
    blocked: u64,
    unblocked: u64,
    gtins_blocked: u64,
    gtins_unblocked: u64,
    priced: u64,
    prices_withdrawn: u64,
}

fn changed(answer: &Value) -> u64 {
    answer["changed"].as_u64().expect("changed count")
}

/// One random admin action on the source, applied to the model too.
async fn act(admin: &AdminClient, model: &mut Model, made: &mut Made, rng: &mut StdRng) {
    match rng.random_range(0..6) {
        0 | 1 => {
            // The emulator keeps adding blocked codes, in batches of up to 2 000.
            let n = rng.random_range(1..=2_000);
            let first = model.next_ki;
            model.next_ki += n;
            let answer = admin
                .block((first..first + n).map(ki).collect(), None)
                .await
                .expect("block");
            made.blocked += changed(&answer);
            model.kis.extend(first..first + n);
        }
        2 => {
            let picked: BTreeSet<u64> = if rng.random_bool(0.3) {
                // Every blocked KI of one GTIN: the GTIN leaves `grey_gtin`.
                let g = rng.random_range(0..KI_GTINS);
                model
                    .kis
                    .iter()
                    .copied()
                    .filter(|i| i % KI_GTINS == g)
                    .collect()
            } else {
                (0..rng.random_range(1..=300))
                    .filter_map(|_| {
                        let i = rng.random_range(0..model.next_ki.max(1));
                        model.kis.contains(&i).then_some(i)
                    })
                    .collect()
            };
            if picked.is_empty() {
                return;
            }
            let answer = admin
                .unblock(picked.iter().map(|&i| ki(i)).collect())
                .await
                .expect("unblock");
            made.unblocked += changed(&answer);
            for i in picked {
                model.kis.remove(&i);
            }
        }
        3 => {
            let picked: BTreeSet<u64> = (0..rng.random_range(1..=20))
                .map(|_| rng.random_range(0..LIST_GTINS))
                .collect();
            let (blocking, unblocking): (Vec<u64>, Vec<u64>) =
                picked.into_iter().partition(|i| !model.gtins.contains(i));
            if !blocking.is_empty() {
                let answer = admin
                    .block_gtin(blocking.iter().map(|&i| gtin(i)).collect(), None)
                    .await
                    .expect("block-gtin");
                made.gtins_blocked += changed(&answer);
                model.gtins.extend(blocking);
            }
            if !unblocking.is_empty() {
                let answer = admin
                    .unblock_gtin(unblocking.iter().map(|&i| gtin(i)).collect())
                    .await
                    .expect("unblock-gtin");
                made.gtins_unblocked += changed(&answer);
                for i in unblocking {
                    model.gtins.remove(&i);
                }
            }
        }
        _ => {
            let picked: Vec<u64> = (0..rng.random_range(1..=50))
                .map(|_| rng.random_range(0..LIST_GTINS))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let gtins: Vec<String> = picked.iter().map(|&i| gtin(i)).collect();
            if rng.random_bool(0.2) {
                let answer = admin.price(gtins, None, None).await.expect("withdraw");
                made.prices_withdrawn += changed(&answer);
                for i in picked {
                    model.prices.remove(&i);
                }
            } else {
                let mrp = rng.random_range(1_000..100_000);
                let answer = admin.price(gtins, Some(mrp), None).await.expect("price");
                made.priced += changed(&answer);
                model.prices.extend(picked.into_iter().map(|i| (i, mrp)));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_converge_to_the_source_after_a_soak_with_upstream_chaos() {
    let seconds = env_number("ZNAK_SOAK_SECONDS", 6);
    let codes = env_number("ZNAK_SOAK_CODES", 5_000);
    let seed = std::env::var("ZNAK_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("soak {seconds} s, {codes} codes at the start, seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let emulator = emulator().await;
    let admin = &emulator.admin;
    let token = admin.token("7700000001").await.expect("token");
    let mut model = Model {
        next_ki: codes,
        ..Model::default()
    };
    for chunk in (0..codes).collect::<Vec<_>>().chunks(10_000) {
        admin
            .block(chunk.iter().map(|&i| ki(i)).collect(), None)
            .await
            .expect("block");
    }
    model.kis.extend(0..codes);
    admin
        .block_gtin((0..50).map(gtin).collect(), None)
        .await
        .expect("block-gtin");
    model.gtins.extend(0..50);
    admin
        .price((100..200).map(gtin).collect(), Some(12_300), None)
        .await
        .expect("price");
    model.prices.extend((100..200).map(|i| (i, 12_300)));

    let chaos = ChaosSettings {
        delay: 0.2,
        delay_ms: 300,
        error: 0.08,
        reset: 0.08,
        truncate: 0.08,
        stall: 0.02,
        stall_ms: 3_000,
        seed: Some(seed),
    };
    admin.chaos(Some(chaos)).await.expect("chaos on");

    // Both modules start under chaos: their initial sync is faulted too.
    let shutdown = CancellationToken::new();
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let modules: Vec<(Module, bool)> = dirs
        .iter()
        .zip([false, true])
        .map(|(dir, grey)| (module(dir.path(), &emulator.url, &shutdown), grey))
        .collect();
    for (module, grey) in &modules {
        module
            .init(InitRequest {
                token: token.clone(),
                clear_sold: false,
                enable_grey_list: *grey,
            })
            .await
            .expect("init (registration is not under chaos)");
    }

    let mut made = Made::default();
    let started = Instant::now();
    let mut actions = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        act(admin, &mut model, &mut made, &mut rng).await;
        actions += 1;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
    }
    let report = admin.chaos(None).await.expect("chaos off");
    let counts = &report["counts"];
    println!("chaos: {counts}");
    println!("changes made in {actions} admin actions: {made:?}");
    let faulted: u64 = ["error_500", "error_503", "reset", "truncate", "stall"]
        .iter()
        .map(|k| counts[k].as_u64().unwrap_or(0))
        .sum();
    assert!(faulted > 0, "chaos faulted no request: {counts}");

    let want = model.lists();
    let chaos_off = Instant::now();
    let mut left = usize::MAX;
    while chaos_off.elapsed() < CONVERGENCE_LIMIT {
        left = modules
            .iter()
            .map(|(module, grey)| differences(module, &want, *grey))
            .sum();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let convergence = chaos_off.elapsed();
    println!(
        "convergence after chaos off: {} ms, differences {left}",
        convergence.as_millis()
    );
    for (module, grey) in &modules {
        assert_eq!(
            differences(module, &want, *grey),
            0,
            "grey mode {grey}: the module did not converge; status {:#?}",
            module.status()
        );
    }

    // The model is what the source holds: read the emulator's own store, key for key.
    shutdown.cancel();
    let Emulator {
        mut stop,
        task,
        dir,
        ..
    } = emulator;
    if let Some(stop) = stop.take() {
        let _ = stop.send(());
    }
    task.await.expect("join").expect("emulator run");
    let (source, source_counts) = source_lists(dir.path());
    assert_eq!(
        source, want,
        "the emulator does not hold what the test made"
    );
    for (module, grey) in &modules {
        assert_eq!(
            module_lists(module).0,
            as_pulled(&source, *grey),
            "grey {grey}"
        );
    }
    println!(
        "source: blocked_cis {}, blocked_gtin {}, grey_gtin {}, min_price {}; both modules equal \
         key for key",
        source_counts[0], source_counts[1], source_counts[2], source_counts[3]
    );
}
