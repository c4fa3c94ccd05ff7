//! Storage faults against the real module and its HTTP API on loopback.
//!
//! * Bit flips and truncation of the store files between runs: either the damage is detected at
//!   start (the lists are quarantined, kept aside, and re-synced while checks answer 4045), or it
//!   hit bytes nothing reads and every answer is still exactly the source's. Never a "not
//!   blocked" from damaged data, and the sold DB is never lost.
//! * A full disk during sync (the store's full-disk test double): the module stays `ready`,
//!   answers from the last committed data, reports the fault as `lastSyncError`, and catches up
//!   by itself once space returns, without a restart.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lm::api::{ApiState, Auth, ServeConfig, run_module};
use lm::{ManualClock, Module, Status};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use store::FullDiskSwitch;
use support::{FakeOperator, T0, config, init_request};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// KIs the source blocks (0..BLOCKED); KIs above are never blocked.
const BLOCKED: u64 = 120;
/// A KI sold before the damage; it must survive every quarantine.
const SOLD: u64 = 7;

/// A KI with a valid GTIN check digit (the API parses what it is sent; the source does not).
fn ki(i: u64) -> String {
    let first13 = format!("{:013}", 460_000_000_000 + i % 50);
    let check = marking::gtin::check_digit(first13.as_bytes());
    format!("01{first13}{check}21{i:06}")
}

/// The source: KIs 0..BLOCKED blocked, a few blocked GTINs and prices.
fn fill(operator: &FakeOperator) {
    for i in 0..BLOCKED {
        operator.put("blocked_cis", &ki(i), json!({"_id": ki(i)}));
    }
    for i in 0..12 {
        let gtin = support::gtin(i);
        operator.put("blocked_gtin", &gtin, json!({"_id": gtin}));
        operator.put("min_price", &gtin, json!({"_id": gtin, "mrp": 10_000 + i}));
    }
}

struct Served {
    module: Module,
    base: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), lm::api::RunError>>,
}

/// The module, its sync engine and its API on 127.0.0.1:0 over the data in `dir`.
async fn serve(dir: &Path, operator: &FakeOperator, clock: Arc<ManualClock>) -> Served {
    serve_config(config(dir, operator), clock).await
}

async fn serve_config(config: lm::ModuleConfig, clock: Arc<ManualClock>) -> Served {
    let module = Module::open(config, clock);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let state = Arc::new(ApiState::new(module.clone(), Auth::new(None, vec![])));
    let task = tokio::spawn(run_module(
        state,
        ServeConfig::default(),
        listener,
        shutdown.clone(),
    ));
    let _ = rustls::crypto::ring::default_provider().install_default();
    Served {
        module,
        base,
        http: reqwest::Client::new(),
        shutdown,
        task,
    }
}

impl Served {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
        drop(self.module);
    }

    async fn until(&self, what: &str, done: impl Fn(&lm::StatusSnapshot) -> bool) {
        if tokio::time::timeout(Duration::from_secs(30), self.module.wait_until(done))
            .await
            .is_err()
        {
            panic!("timed out waiting for {what}: {:#?}", self.module.status());
        }
    }

    /// Initialises the module, waits for `ready` and sells KI `SOLD` over HTTP.
    async fn init_until_ready_and_sell(&self, context: &str) {
        self.module.init(init_request()).await.unwrap();
        self.until("ready", |s| s.status == Status::Ready).await;
        let sold = self
            .http
            .post(format!("{}/api/v2/cis/sell", self.base))
            .basic_auth("admin", Some("admin"))
            .json(&json!({"cis_list": [{"cis": ki(SOLD)}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(sold.status(), 201, "{context}");
    }

    /// The store is not poisoned and still holds the one sold KI; then the module stops.
    async fn assert_sound_and_stop(self) {
        let store = self.module.store().unwrap();
        assert!(!store.is_poisoned());
        assert_eq!(store.local().sold_count().unwrap(), 1);
        self.stop().await;
    }

    /// `GET /api/v2/status` with the default login.
    async fn status(&self) -> Value {
        support::http_status(&self.http, &self.base, "v2").await
    }

    /// `outCheck` of KIs 0..BLOCKED+20: status and body.
    async fn check_all(&self) -> (u16, Value) {
        let list: Vec<Value> = (0..BLOCKED + 20).map(|i| json!({"cis": ki(i)})).collect();
        let response = self
            .http
            .post(format!("{}/api/v2/cis/outCheck", self.base))
            .basic_auth("admin", Some("admin"))
            .json(&json!({"cis_list": list}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{status}: not JSON ({err}): {text}"));
        (status, body)
    }

    /// Every answer equals the source: blocked exactly below BLOCKED, the sold KI sold.
    async fn assert_answers_exact(&self, context: &str) {
        self.assert_answers(BLOCKED, context).await;
    }

    /// Blocked exactly below `blocked`, the sold KI sold.
    async fn assert_answers(&self, blocked: u64, context: &str) {
        let (status, body) = self.check_all().await;
        assert_eq!(status, 200, "{context}: {body}");
        let results = body["results"].as_array().expect("results");
        assert_eq!(results.len() as u64, BLOCKED + 20, "{context}");
        for (i, result) in results.iter().enumerate() {
            let code = &result["codes"][0];
            assert_eq!(
                code["isBlocked"],
                (i as u64) < blocked,
                "{context}: KI {i}: {result}"
            );
            assert_eq!(
                code["sold"],
                i as u64 == SOLD,
                "{context}: KI {i}: {result}"
            );
        }
    }

    /// While the lists are being rebuilt every check is refused with 4045, never answered.
    async fn assert_refused_4045(&self, context: &str) {
        let (status, body) = self.check_all().await;
        assert_eq!(status, 400, "{context}: {body}");
        assert_eq!(body["errorCode"], 4045, "{context}: {body}");
    }
}

/// How a file is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// One bit flipped at a random offset.
    BitFlip,
    /// Cut at a random length.
    Truncate,
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join(store::SEGMENTS_DIR))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Damages `path`; returns the bytes it now holds.
fn damage(path: &Path, how: Damage, rng: &mut StdRng) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    match how {
        Damage::BitFlip => {
            let at = rng.random_range(0..bytes.len());
            bytes[at] ^= 1 << rng.random_range(0..8);
        }
        Damage::Truncate => {
            let keep = rng.random_range(0..bytes.len());
            bytes.truncate(keep);
        }
    }
    std::fs::write(path, &bytes).unwrap();
    bytes
}

fn quarantined_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".damaged-"))
        .collect()
}

/// One round: a ready module, stopped; one store file damaged; restarted with the source down.
/// Returns whether the damage was detected.
async fn round(seed: u64, target: &str, how: Damage) -> bool {
    let context = format!("seed {seed}, {how:?} of {target}");
    let operator = FakeOperator::start().await;
    fill(&operator);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(T0);
    let served = serve(dir.path(), &operator, clock.clone()).await;
    served.init_until_ready_and_sell(&context).await;
    served.assert_answers_exact(&context).await;
    served.stop().await;

    let mut rng = StdRng::seed_from_u64(seed);
    let path = match target {
        "lists.redb" => dir.path().join("lists.redb"),
        _ => segment_files(dir.path())
            .into_iter()
            .next()
            .expect("a segment"),
    };
    let damaged = damage(&path, how, &mut rng);

    // The source is down, so nothing can be re-synced behind the test's back.
    operator.with(|state| state.faults.down = true);
    let served = serve(dir.path(), &operator, clock).await;
    let detected = served.module.status().quarantined.is_some();
    if detected {
        let snapshot = served.module.status();
        assert_eq!(snapshot.status, Status::Initialization, "{context}");
        // Kept aside, byte for byte, never deleted.
        let aside = quarantined_entries(dir.path());
        assert!(!aside.is_empty(), "{context}");
        let kept = if target == "lists.redb" {
            std::fs::read(snapshot.quarantined.as_ref().unwrap()).unwrap()
        } else {
            let directory = aside
                .iter()
                .find(|name| name.starts_with(store::SEGMENTS_DIR))
                .expect("segments kept aside");
            std::fs::read(dir.path().join(directory).join(path.file_name().unwrap())).unwrap()
        };
        assert_eq!(kept, damaged, "{context}: kept aside byte for byte");
        served.assert_refused_4045(&context).await;
        // The sold DB is untouched by the quarantine.
        let local = served.module.store().unwrap().local();
        assert!(local.sold_get(&ki(SOLD)).unwrap().is_some(), "{context}");
        assert_eq!(local.sold_count().unwrap(), 1, "{context}");

        operator.with(|state| state.faults.down = false);
        served
            .until("re-synced", |s| s.status == Status::Ready)
            .await;
    } else {
        // Damage nothing reads: the answers must still be exactly the source's.
        assert!(quarantined_entries(dir.path()).is_empty(), "{context}");
        operator.with(|state| state.faults.down = false);
    }
    served.assert_answers_exact(&context).await;
    served.stop().await;
    detected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_store_files_are_quarantined_and_resynced_or_answer_exactly() {
    // Fixed seeds: the same damage on every run. Truncation of either file and a flip inside a
    // segment are always detected (size, checksum); a flip in lists.redb may land in a free page.
    let cases: [(u64, &str, Damage); 8] = [
        (1, "segment", Damage::BitFlip),
        (2, "segment", Damage::BitFlip),
        (3, "segment", Damage::Truncate),
        (4, "lists.redb", Damage::Truncate),
        (5, "lists.redb", Damage::BitFlip),
        (6, "lists.redb", Damage::BitFlip),
        (7, "lists.redb", Damage::BitFlip),
        (8, "lists.redb", Damage::BitFlip),
    ];
    let mut detected = 0;
    for (seed, target, how) in cases {
        let found = round(seed, target, how).await;
        if target == "segment" || matches!(how, Damage::Truncate) {
            assert!(found, "seed {seed}: {how:?} of {target} went unnoticed");
        }
        detected += usize::from(found);
    }
    assert!(detected >= 4, "only {detected} of 8 damages were detected");
}

/// A ready module (one KI sold) over the filled source, its store behind the full-disk test
/// double; the operator and the data dir must outlive it.
async fn ready_on_a_switchable_disk() -> (FakeOperator, TempDir, FullDiskSwitch, Served) {
    let operator = FakeOperator::start().await;
    fill(&operator);
    let dir = tempfile::tempdir().unwrap();
    let switch = FullDiskSwitch::new();
    let mut settings = config(dir.path(), &operator);
    settings.store.full_disk = Some(switch.clone());
    let served = serve_config(settings, ManualClock::at(T0)).await;
    served.init_until_ready_and_sell("full disk").await;
    (operator, dir, switch, served)
}

/// Seen (`true`): the free space shows the disk full, so the store refuses before writing.
/// Unseen: the free space looks fine but writes fail half-way.
fn fill_disk(switch: &FullDiskSwitch, seen: bool) {
    switch.set_full(seen);
    switch.set_full_unseen(!seen);
}

/// Space returns.
fn free_disk(switch: &FullDiskSwitch) {
    switch.set_full(false);
    switch.set_full_unseen(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_during_sync_keeps_answering_reports_it_and_recovers_by_itself() {
    let (operator, _dir, switch, served) = ready_on_a_switchable_disk().await;

    // Unseen, writes fail half-way (redb's own file and the segment files), which makes the
    // store reopen lists.redb once space returns.
    let mut blocked = BLOCKED;
    for seen in [true, false] {
        let context = if seen { "seen" } else { "unseen" };
        fill_disk(&switch, seen);
        for i in blocked..blocked + 7 {
            operator.put(
                "blocked_cis",
                &ki(i),
                json!({"_id": ki(i), "gtin": support::gtin(1)}),
            );
        }
        operator.put("blocked_gtin", &support::gtin(500 + blocked), json!({}));
        served
            .until("the sync to fail for lack of space", |s| {
                s.last_error.as_deref().is_some_and(|e| e.contains("space"))
            })
            .await;
        let status = served.status().await;
        assert_eq!(status["status"], "ready", "{context}: {status}");
        assert!(status.get("failureReason").is_none(), "{context}: {status}");
        let error = status["lastSyncError"].as_str().unwrap_or_default();
        assert!(error.contains("space"), "{context}: {status}");
        // Answers come from the last committed data, exactly.
        served.assert_answers(blocked, context).await;
        assert_eq!(
            status["dbState"]["blocked_cis"]["docCount"], blocked,
            "{context}: {status}"
        );

        free_disk(&switch);
        blocked += 7;
        served
            .until("the sync to catch up", |s| {
                s.last_error.is_none()
                    && s.databases
                        .iter()
                        .all(|d| d.doc_count == operator.doc_count(d.db.name()))
            })
            .await;
        let status = served.status().await;
        assert_eq!(status["status"], "ready", "{context}: {status}");
        assert!(status.get("lastSyncError").is_none(), "{context}: {status}");
        served.assert_answers(blocked, context).await;
    }
    served.assert_sound_and_stop().await;
}

/// A sale or a return the disk has no room for is refused with 507 and a description saying
/// so; nothing of it is recorded, reading the sold DB still works, and the same call succeeds
/// once space returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sell_and_return_on_a_full_disk_are_507_and_change_nothing() {
    let (_operator, _dir, switch, served) = ready_on_a_switchable_disk().await;
    let post = |path: &'static str, i: u64| {
        let request = served
            .http
            .post(format!("{}{path}", served.base))
            .basic_auth("admin", Some("admin"))
            .json(&json!({"cis_list": [ki(i)]}));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };

    // Unseen, the write fails half-way in redb.
    for seen in [true, false] {
        fill_disk(&switch, seen);
        for (path, i) in [
            ("/api/v2/cis/sell", BLOCKED + 1),
            ("/api/v2/cis/return", SOLD),
        ] {
            let (status, body) = post(path, i).await;
            assert_eq!(
                (status, body["code"].as_u64()),
                (507, Some(507)),
                "seen {seen}, {path}: {body}"
            );
            let description = body["description"].as_str().unwrap_or_default();
            assert!(
                description.contains("disk") && description.contains("full"),
                "seen {seen}, {path}: {description}"
            );
        }
        let page = served
            .http
            .get(format!("{}/api/v2/cis/sold", served.base))
            .basic_auth("admin", Some("admin"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "seen {seen}: reading needs no space");
        let page: Value = page.json().await.unwrap();
        assert_eq!(page["cis_list"], json!([ki(SOLD)]), "seen {seen}: {page}");
    }

    free_disk(&switch);
    let (status, body) = post("/api/v2/cis/sell", BLOCKED + 1).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post("/api/v2/cis/return", SOLD).await;
    assert_eq!(
        (status, &body["results"][0]["success"]),
        (200, &json!(true)),
        "{body}"
    );
    served.assert_sound_and_stop().await;
}
