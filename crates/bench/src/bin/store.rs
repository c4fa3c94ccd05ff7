//! The module's store: load N blocked KIs in `_changes`-sized batches (one durable transaction
//! each, as the sync engine does; the last completes the first pull), disk bytes per KI after the
//! load and after a 1 % churn, point-lookup latency (50 % hits), start-up time of the full store
//! (integrity check included), and RSS. Targets (design.md §8, issue 4): ≤ 32 B per blocked KI
//! at 100 M; start < 1 s and RSS < 64 MB at 2 M, < 512 MB at 100 M.
//!
//! `cargo run -p bench --release --bin store [-- [--count] N [DIR]]` (default N = 2 000 000, DIR
//! a temp dir; env `BATCH`, default 100 000 changes per transaction). The 100 M run:
//! `-- --count 100000000` (needs ~2 GB of disk and several minutes).

use std::time::{Duration, Instant};

use bench::{Table, machine_line, rate};
use store::{Batch, KiFingerprint, ListChange, ListDb, Store, StoreOptions};

fn batch_size() -> usize {
    std::env::var("BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(100_000)
}

fn ki(i: usize) -> String {
    format!("0104600{:07}1221{:013}", i % 9_999_999, i)
}

fn rss_mib() -> f64 {
    bench::proc_status_mib("self", "VmRSS:").unwrap_or(0.0)
}

fn apply(store: &Store, changes: Vec<ListChange>, seq: usize, caught_up: bool) {
    let batch = Batch {
        db: ListDb::BlockedCis,
        changes,
        checkpoint: seq.to_string(),
        caught_up,
        unmapped: 0,
    };
    if let Err(err) = store.lists().apply(&batch) {
        eprintln!("store bench: {err}");
        std::process::exit(1);
    }
}

fn peak_rss_mib() -> f64 {
    bench::proc_status_mib("self", "VmHWM:").unwrap_or(0.0)
}

fn percentile(sorted: &[Duration], p: f64) -> String {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    format!("{:.2} µs", sorted[index].as_nanos() as f64 / 1000.0)
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--count");
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), Into::into);
    println!(
        "{}; N = {n}, batches of {}, dir {}",
        machine_line(),
        batch_size(),
        dir.display()
    );

    let (store, _) = Store::open(&dir, StoreOptions::default()).expect("open");
    let started = Instant::now();
    for (seq, start) in (0..n).step_by(batch_size()).enumerate() {
        let end = (start + batch_size()).min(n);
        let changes = (start..end)
            .map(|i| ListChange::BlockKi(KiFingerprint::of(&ki(i))))
            .collect();
        apply(&store, changes, seq, end == n);
    }
    let load = started.elapsed();
    let rss_after_load = rss_mib();
    let after_load = bench::list_store_bytes(&dir);

    // 1 % churn: as many deletions as insertions of new KIs, at random positions.
    let churn = n / 100;
    let mut changes = Vec::with_capacity(2 * churn);
    for j in 0..churn {
        changes.push(ListChange::RemoveKi(KiFingerprint::of(&ki(j * 97 % n))));
        changes.push(ListChange::BlockKi(KiFingerprint::of(&ki(n + j))));
    }
    let started = Instant::now();
    for chunk in changes.chunks(batch_size()) {
        apply(&store, chunk.to_vec(), n, false);
    }
    let churn_time = started.elapsed();
    let after_churn = bench::list_store_bytes(&dir);

    let lookups = 200_000;
    let mut latencies = Vec::with_capacity(lookups);
    let mut hits = 0;
    let started = Instant::now();
    for k in 0..lookups {
        // alternate hits and misses, spread over the whole key space
        let i = (k * 7919) % n;
        let code = if k % 2 == 0 { ki(i) } else { ki(n * 3 + i) };
        let t = Instant::now();
        hits += usize::from(store.lists().is_blocked(&code, None).expect("lookup"));
        latencies.push(t.elapsed());
    }
    let lookup_time = started.elapsed();
    latencies.sort();
    drop(store);

    let started = Instant::now();
    let (reopened, report) = Store::open(&dir, StoreOptions::default()).expect("reopen");
    let open_time = started.elapsed();
    assert!(report.quarantined.is_none());
    let count = reopened
        .lists()
        .db_state(ListDb::BlockedCis)
        .expect("state")
        .doc_count;

    let mut table = Table::new(&["measure", "value", "target"]);
    let per_ki = |bytes: u64| {
        format!(
            "{:.1} B ({:.0} MiB)",
            bytes as f64 / count as f64,
            bytes as f64 / 1048576.0
        )
    };
    table.row(vec![
        format!("load, durable batches of {}", batch_size()),
        format!("{} ({:.1} s)", rate(n, load), load.as_secs_f64()),
        "—".into(),
    ]);
    table.row(vec![
        "disk per KI after load (lists.redb + segments)".into(),
        per_ki(after_load),
        "≤ 32 B".into(),
    ]);
    table.row(vec![
        format!("1 % churn ({churn} del + {churn} ins)"),
        format!("{:.2} s", churn_time.as_secs_f64()),
        "—".into(),
    ]);
    table.row(vec![
        "disk per KI after churn".into(),
        per_ki(after_churn),
        "≤ 32 B".into(),
    ]);
    table.row(vec![
        "lookup p50 (own read txn, 50 % hits)".into(),
        percentile(&latencies, 0.5),
        "—".into(),
    ]);
    table.row(vec![
        "lookup p99".into(),
        percentile(&latencies, 0.99),
        "—".into(),
    ]);
    table.row(vec![
        "lookups, one thread".into(),
        rate(lookups, lookup_time),
        "—".into(),
    ]);
    table.row(vec![
        "open with full integrity check".into(),
        format!("{:.0} ms", open_time.as_secs_f64() * 1000.0),
        "< 1 s (2 M)".into(),
    ]);
    table.row(vec![
        "RSS after load".into(),
        format!("{rss_after_load:.0} MiB"),
        "< 64 MB (2 M)".into(),
    ]);
    table.row(vec![
        "peak RSS (whole run)".into(),
        format!("{:.0} MiB", peak_rss_mib()),
        "< 64 MB (2 M), < 512 MB (100 M)".into(),
    ]);
    print!("{}", table.render());
    println!("entries {count}, lookup hits {hits}/{lookups}");
}
