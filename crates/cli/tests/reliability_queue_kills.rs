//! Process kills of the till side (issue 8 item 1, second half): a real `znak gateway` in front
//! of a real local module (`znak lm serve`, synced from the emulator) takes a random sequence of
//! `POST /sold` and `POST /returned` calls over a few KIs. At random moments one of the two is
//! killed with SIGKILL — the gateway while it enqueues, while it delivers, between the two; the
//! module while it is being delivered to — and restarted on the same queue file / data
//! directory. A call the till program sent without getting its 202 is sent again after the
//! restart, as a till program does. In the end the module's sold DB holds exactly the KIs whose
//! last operation was a sale: none lost, and no older sale applied again after its return.
//!
//! `ZNAK_RELIABILITY_QUEUE_KILLS` sets the number of kills (default 3: the short variant of the
//! test suite; `scripts/reliability` runs 24), `ZNAK_RELIABILITY_SEED` the seed (printed).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Points, ZNAK, env_number};
use till::TillConfig;
use till::module::ModuleClient;

/// KIs the sequence draws from: few, so that each sees many sells and returns.
const KIS: usize = 8;
/// The longest a gateway lives before its kill.
const MAX_LIFE_MS: u64 = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Sold,
    Returned,
}

impl Op {
    fn path(self) -> &'static str {
        match self {
            Op::Sold => "/sold",
            Op::Returned => "/returned",
        }
    }
}

/// A running `znak gateway` and the address it announced.
struct Gateway {
    child: Child,
    address: String,
}

impl Gateway {
    fn start(config: &Path) -> Gateway {
        let mut child = Command::new(ZNAK)
            .args(["gateway", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .env("RUST_LOG", "till=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn znak gateway");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let mut line = String::new();
        let address = loop {
            line.clear();
            let read = stderr.read_line(&mut line).expect("gateway stderr");
            assert!(read > 0, "znak gateway ended before listening");
            if let Some(rest) = line
                .trim()
                .strip_prefix("znak gateway: listening on http://")
            {
                break rest.to_owned();
            }
        };
        // Keep draining stderr so that the gateway never blocks on a full pipe.
        std::thread::spawn(move || for _ in stderr.lines() {});
        Gateway { child, address }
    }
}

/// SIGKILL of `pid` after `after_ms`, from another thread, while the caller keeps sending.
fn kill_later(pid: u32, after_ms: u64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(after_ms));
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -KILL {pid} failed");
    })
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One call on its own connection: `Some(status)`, or `None` when the gateway died under it.
fn send(address: &str, op: Op, ki: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let body = format!(r#"{{"codes": ["{ki}"]}}"#);
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        op.path(),
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.split(' ').nth(1)?.parse().ok()
}

/// `znak lm serve` on a fixed port (the gateway's config names it), its data kept across kills.
struct ModuleChild {
    served: support::Served,
    port: u16,
    data: PathBuf,
    service: String,
}

impl ModuleChild {
    fn spawn(port: u16, data: &Path, service: &str) -> support::Served {
        let mut command = Command::new(ZNAK);
        command
            .args(["lm", "serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--service", service, "--data"])
            .arg(data);
        let mut served = support::Served::start(&mut command);
        served.next_listener();
        served
    }

    /// A fresh module initialised with the emulator's token, synced until ready.
    fn start(data: &Path, service: &str, token: &str) -> ModuleChild {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let served = ModuleChild::spawn(port, data, service);
        let module = ModuleChild {
            served,
            port,
            data: data.to_owned(),
            service: service.to_owned(),
        };
        let auth = support::basic("admin", "admin");
        let init = format!(r#"{{"token": "{token}"}}"#);
        let (status, body) = support::request(
            &module.address(),
            "POST",
            "/api/v2/init",
            Some(&auth),
            &init,
        );
        assert!((200..300).contains(&status), "init: {status} {body}");
        module.wait_ready();
        module
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, status) =
                support::request_json(&self.address(), "GET", "/api/v2/status", None, "");
            if status["status"] == "ready" {
                return;
            }
            assert!(Instant::now() < deadline, "module not ready: {status}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// After a kill: the same data, the same port.
    fn restart(&mut self) {
        let status = self.served.child.wait().expect("wait");
        assert!(!status.success(), "the module ended by itself: {status}");
        self.served = ModuleChild::spawn(self.port, &self.data, &self.service);
    }
}

/// What the run did, for the summary line and the checks.
struct Run {
    gateway_kills: u64,
    module_kills: u64,
    operations: u64,
    resent: u64,
    /// Queue entries a restarted gateway found undelivered (summed over the restarts).
    pending_at_restart: u64,
    /// KI → the last operation acknowledged for it.
    last: BTreeMap<String, Op>,
}

/// Drives the sequence and the kills (blocking: runs on its own thread). Each kill hits the
/// gateway or the module, drawn at random.
fn drive(config: &Path, module: &mut ModuleChild, kills: u64, seed: u64) -> Run {
    let mut points = Points(seed | 1);
    let kis: Vec<String> = central::sandbox::CASES
        .iter()
        .take(KIS)
        .map(|case| marking::ki(case.km).expect("sandbox KI"))
        .collect();
    let mut run = Run {
        gateway_kills: 0,
        module_kills: 0,
        operations: 0,
        resent: 0,
        pending_at_restart: 0,
        last: BTreeMap::new(),
    };
    let mut gateway = Gateway::start(config);
    let mut unanswered: Option<(Op, String)> = None;
    for _ in 0..kills {
        let module_dies = points.below(2) == 0;
        let pid = if module_dies {
            module.served.child.id()
        } else {
            gateway.child.id()
        };
        let killer = kill_later(pid, points.below(MAX_LIFE_MS));
        // Until the gateway dies under a call, or the module's killer is done.
        while !(module_dies && killer.is_finished()) {
            let (op, ki) = unanswered.take().unwrap_or_else(|| {
                let op = if points.below(2) == 0 {
                    Op::Sold
                } else {
                    Op::Returned
                };
                (op, kis[points.below(KIS as u64) as usize].clone())
            });
            match send(&gateway.address, op, &ki) {
                Some(202) => {
                    run.operations += 1;
                    run.last.insert(ki, op);
                }
                Some(other) => panic!("{op:?} {ki}: HTTP {other}"),
                None if !module_dies => {
                    // No 202: queued or not, the till program sends it again.
                    unanswered = Some((op, ki));
                    break;
                }
                None => panic!("{op:?} {ki}: the gateway did not answer"),
            }
        }
        killer.join().expect("killer");
        if module_dies {
            module.restart();
            run.module_kills += 1;
            continue;
        }
        let status = gateway.child.wait().expect("wait");
        assert!(!status.success(), "the gateway ended by itself: {status}");
        run.gateway_kills += 1;
        gateway = Gateway::start(config);
        let (_, state) = support::request_json(&gateway.address, "GET", "/state", None, "");
        run.pending_at_restart += state["queue"]["pending"].as_u64().unwrap_or(0);
        if let Some((op, ki)) = unanswered.take() {
            assert_eq!(send(&gateway.address, op, &ki), Some(202), "{op:?} {ki}");
            run.resent += 1;
            run.operations += 1;
            run.last.insert(ki, op);
        }
    }
    // The last gateway delivers everything left (after the module's last restart its backoff
    // may hold the head a few seconds).
    module.wait_ready();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, state) = support::request_json(&gateway.address, "GET", "/state", None, "");
        assert_eq!(status, 200, "{state}");
        if state["queue"]["pending"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "queue not drained: {state}");
        std::thread::sleep(Duration::from_millis(100));
    }
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_gateway_or_module_loses_no_sale_and_replays_none_over_a_return() {
    let kills = env_number("ZNAK_RELIABILITY_QUEUE_KILLS", 3).max(1);
    let seed = match std::env::var("ZNAK_RELIABILITY_SEED") {
        Ok(text) => text.parse().expect("ZNAK_RELIABILITY_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64),
    };
    let emulator = support::emulator().await;
    let token = emulator.admin.token("7700000001").await.expect("token");
    let dir = tempfile::tempdir().expect("temp dir");
    let module = tokio::task::spawn_blocking({
        let (data, service, token) = (dir.path().join("lm"), emulator.url.clone(), token.clone());
        move || ModuleChild::start(&data, &service, &token)
    })
    .await
    .expect("module");
    let module_url = format!("http://{}", module.address());
    let config = dir.path().join("till.toml");
    let text = format!(
        "token = \"{token}\"\ninfo_url = \"{}\"\nfallback_hosts = [\"http://127.0.0.1:9\"]\n\
         state_file = {:?}\n[module]\nurl = \"{module_url}\"\nlogin = \"admin\"\npassword = \"admin\"\n",
        emulator.url,
        dir.path().join("till-state.json")
    );
    std::fs::write(&config, &text).expect("till config");

    let started = Instant::now();
    let (run, module) = tokio::task::spawn_blocking({
        let (config, mut module) = (config.clone(), module);
        move || (drive(&config, &mut module, kills, seed), module)
    })
    .await
    .expect("driver");

    let till = TillConfig::from_toml(&text).expect("till config");
    let client = ModuleClient::new(till.module.as_ref().expect("module"), None).expect("client");
    let sold = client.sold_list().await.expect("sold list");
    let should: BTreeSet<&String> = run
        .last
        .iter()
        .filter(|(_, op)| **op == Op::Sold)
        .map(|(ki, _)| ki)
        .collect();
    let lost: Vec<_> = should.iter().filter(|ki| !sold.contains(**ki)).collect();
    let replayed: Vec<_> = sold.iter().filter(|ki| !should.contains(ki)).collect();
    drop(module);
    println!(
        "queue kills {kills} ({} gateway, {} module), operations {} ({} sent again after a kill), undelivered at restarts {}, \
         KIs {}, sold at the end {}, lost {}, duplicated {}, {:.0} s, seed {seed}",
        run.gateway_kills,
        run.module_kills,
        run.operations,
        run.resent,
        run.pending_at_restart,
        run.last.len(),
        sold.len(),
        lost.len(),
        replayed.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(lost.is_empty(), "sales lost: {lost:?}");
    assert!(
        replayed.is_empty(),
        "sold in the module though returned last: {replayed:?}"
    );
}
