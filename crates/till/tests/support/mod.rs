//! What the till tests share beyond the doubles: the real gateway, started on 127.0.0.1:0 in
//! front of scripted doubles (the doubles stand in for the CDN host and the module; the gateway
//! under test is the real one, so it does not belong in `doubles`).
// Each test binary includes this module and may use only part of it.
#![allow(dead_code)]

use std::sync::Arc;

use till::clock::TokioClock;
use till::gateway::GatewayError;
use till::shared_state::SharedState;
use till::{Checker, TillConfig};

/// The clock's start (Unix ms) for gateway tests.
pub const T0: i64 = 1_795_000_000_000;

/// A running gateway: stop it with `stop`, then await `task` for its result.
pub struct Gateway {
    pub url: String,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<Result<(), GatewayError>>,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// A gateway whose only CDN host is `cdn` (seeded in its state file, so no `cdn/info`) and
    /// whose module is `module`; the clock starts at [`T0`].
    pub async fn start(cdn: &str, module: &str) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "token = \"t\"\ninfo_url = \"http://127.0.0.1:9\"\nstate_file = {:?}\n\
             [module]\nurl = \"{module}\"\nlogin = \"admin\"\npassword = \"admin\"\n",
            dir.path().join("state.json")
        );
        let config = TillConfig::from_toml(&text).expect("config");
        let state = SharedState::open(&config.state_file).expect("state");
        let hosts = vec![(cdn.to_owned(), Some(1))];
        state.update(move |s| s.apply_refresh(hosts.clone(), T0, 0));
        state.flush().expect("seeded");
        let checker =
            Checker::with_clock(config, Arc::new(TokioClock::starting_at(T0))).expect("checker");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(till::gateway::run_with(checker, listener, async move {
            let _ = stopped.await;
        }));
        Gateway {
            url,
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }
}
