//! Starts an emulator on ephemeral loopback ports with a fresh data directory.

use central::client::{AdminClient, http_client, http_client_trusting};
use central::{Config, Started};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Emulator {
    pub main: String,
    pub cdn: Vec<String>,
    pub admin: AdminClient,
    pub http: reqwest::Client,
    /// A token issued to INN 7700000001.
    pub token: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), central::Error>>>,
    pub dir: tempfile::TempDir,
}

pub const INN: &str = "7700000001";

pub async fn start(hosts: usize) -> Emulator {
    start_in(tempfile::tempdir().expect("tempdir"), hosts).await
}

pub async fn start_in(dir: tempfile::TempDir, hosts: usize) -> Emulator {
    start_with(dir, hosts, false).await
}

/// With `tls`, every listener speaks HTTPS and `admin`/`http` trust only `DATA/tls/ca.pem`.
pub async fn start_with(dir: tempfile::TempDir, hosts: usize, tls: bool) -> Emulator {
    let config = Config {
        tls,
        ..Config::new(dir.path())
    };
    // The CLI makes the CA before serving too, so that its path can be printed.
    let ca_file = tls.then(|| central::tls::Ca::ensure(dir.path()).expect("CA").pem_path);
    let (stop, stopped) = oneshot::channel::<()>();
    let Started { urls, task } = central::start_on_loopback(config, hosts, async {
        let _ = stopped.await;
    })
    .await
    .expect("start the emulator");
    let (admin, http) = match &ca_file {
        Some(ca) => (
            AdminClient::with_ca_file(&urls.main, ca).expect("client"),
            http_client_trusting(ca).expect("http"),
        ),
        None => (
            AdminClient::new(&urls.main).expect("client"),
            http_client().expect("http"),
        ),
    };
    let token = admin.token(INN).await.expect("token");
    Emulator {
        main: urls.main,
        cdn: urls.cdn,
        admin,
        http,
        token,
        stop: Some(stop),
        task: Some(task),
        dir,
    }
}

impl Emulator {
    /// Stops the emulator and waits until it has let go of its store.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("run");
        }
        self.dir
    }

    /// `POST codes/check` with one code on CDN host `host` (0-based): status and JSON body.
    pub async fn check(&self, host: usize, code: &str) -> (u16, Value) {
        self.check_as(host, &self.token, code).await
    }

    /// [`Emulator::check`] with another participant's `token`.
    pub async fn check_as(&self, host: usize, token: &str, code: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/api/v4/true-api/codes/check", self.cdn[host]))
            .header("X-API-KEY", token)
            .json(&json!({ "codes": [code] }))
            .send()
            .await
            .expect("codes/check");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The answer's item for `code` on CDN host 1 with `token`; fails unless the status is 200.
    pub async fn item_as(&self, token: &str, code: &str) -> Value {
        let (status, answer) = self.check_as(0, token, code).await;
        assert_eq!(status, 200, "{answer}");
        answer["codes"][0].clone()
    }

    /// `GET` with the token: status and JSON body.
    pub async fn get(&self, url: &str) -> (u16, Value) {
        self.get_as(url, &self.token).await
    }

    /// [`Emulator::get`] with `key` as the X-API-KEY.
    pub async fn get_as(&self, url: &str, key: &str) -> (u16, Value) {
        let response = self
            .http
            .get(url)
            .header("X-API-KEY", key)
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub fn health_url(&self, host: usize) -> String {
        format!("{}/api/v4/true-api/cdn/health/check", self.cdn[host])
    }
}
