//! The blocking facade from plain synchronous code (no runtime of the caller's).

use till::blocking::BlockingChecker;
use till::queue::Operation;
use till::{CheckRequest, Decision, Source, TillConfig};

#[test]
fn synchronous_check_and_durable_registration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let text = format!(
        "token = \"t\"\ninfo_url = \"{url}\"\nfallback_hosts = [\"{url}\"]\nstate_file = {:?}\n\
         [module]\nurl = \"{url}\"\n",
        dir.path().join("state.json")
    );
    let checker =
        BlockingChecker::new(TillConfig::from_toml(&text).expect("config")).expect("starts");
    let outcome = checker
        .check(CheckRequest {
            km: "0104670540176099215'W9Um\u{1d}93dGVz".into(),
            price: None,
            pg: None,
            ..CheckRequest::default()
        })
        .expect("checks");
    assert_eq!(
        (outcome.decision, outcome.source),
        (Decision::NoCheck, Source::None)
    );
    assert!(
        checker
            .check(CheckRequest {
                km: "junk".into(),
                ..Default::default()
            })
            .is_err()
    );

    // The module is down: the sale is kept on disk for later delivery.
    let id = checker
        .register(Operation::Sell, vec!["0104670540176099215'W9Um".into()])
        .expect("queued");
    assert_eq!(id, 0);
    let queue = till::queue::SoldQueue::open(&dir.path().join("state.queue.jsonl")).expect("opens");
    let pending = queue.read().expect("reads").pending;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].attempts, 1);
    assert!(pending[0].last_error.is_some());
}
