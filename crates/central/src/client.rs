//! A client of the admin API (the CLI's `znak central admin` and the tests use it).

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use protocol::true_api::{
    PERMISSIVE_ACCESS_PATH, PermissiveAccessRequest, PermissiveAccessResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::admin::{
    ChaosRequest, CodesRequest, EmergencyRequest, FaultRequest, GtinsRequest, IssueAnswer, PREFIX,
    TokenRequest,
};
use crate::chaos::ChaosSettings;
use crate::issue::IssueSpec;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the emulator at {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("the emulator answered {status}: {description}")]
    Api { status: u16, description: String },
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
    #[error(transparent)]
    CaFile(#[from] crate::tls::TlsError),
    #[error("an issue request failed: {0}")]
    Task(String),
}

/// A reqwest client with rustls on the ring provider (no OpenSSL, no global provider needed).
/// It trusts no certificate: plain HTTP only (see [`http_client_trusting`]).
pub fn http_client() -> Result<reqwest::Client, ClientError> {
    client_with_roots(rustls::RootCertStore::empty())
}

/// A reqwest client that trusts exactly the certificates of the PEM file `ca_file` (the
/// emulator's `DATA/tls/ca.pem` under `--tls`).
pub fn http_client_trusting(ca_file: &Path) -> Result<reqwest::Client, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in crate::tls::read_pem_certificates(ca_file)? {
        roots.add(cert)?;
    }
    client_with_roots(roots)
}

fn client_with_roots(roots: rustls::RootCertStore) -> Result<reqwest::Client, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|source| ClientError::Http {
            url: String::new(),
            source,
        })
}

/// Requests of [`AdminClient::issue_many`] in flight; answers come back in request order.
pub struct IssueRun {
    client: AdminClient,
    spec: IssueSpec,
    left: usize,
    chunk: usize,
    in_flight: std::collections::VecDeque<JoinHandle<Result<Vec<String>, ClientError>>>,
}

/// Issue requests an [`IssueRun`] keeps in flight.
const ISSUE_IN_FLIGHT: usize = 2;

impl IssueRun {
    /// The GTIN every request uses.
    pub fn gtin(&self) -> Option<&str> {
        self.spec.gtin.as_deref()
    }

    /// The next request's codes, `None` once all were issued.
    pub async fn next(&mut self) -> Option<Result<Vec<String>, ClientError>> {
        while self.in_flight.len() < ISSUE_IN_FLIGHT && self.left > 0 {
            let count = self.left.min(self.chunk);
            self.left -= count;
            let spec = IssueSpec {
                count,
                ..self.spec.clone()
            };
            let client = self.client.clone();
            self.in_flight
                .push_back(tokio::spawn(async move { client.issue(&spec).await }));
        }
        let request = self.in_flight.pop_front()?;
        Some(
            request
                .await
                .unwrap_or_else(|e| Err(ClientError::Task(e.to_string()))),
        )
    }
}

impl Drop for IssueRun {
    fn drop(&mut self) {
        for request in &self.in_flight {
            request.abort();
        }
    }
}

/// The admin API of one emulator.
#[derive(Clone)]
pub struct AdminClient {
    /// The main host, e.g. `http://127.0.0.1:8080`.
    main: String,
    /// `main` + the admin prefix.
    base: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// `url` is the main host, e.g. `http://127.0.0.1:8080`.
    pub fn new(url: &str) -> Result<Self, ClientError> {
        Ok(Self::on(url, http_client()?))
    }

    /// For an emulator run with `--tls`: trusts the CA file it printed at start.
    pub fn with_ca_file(url: &str, ca_file: &Path) -> Result<Self, ClientError> {
        Ok(Self::on(url, http_client_trusting(ca_file)?))
    }

    fn on(url: &str, http: reqwest::Client) -> Self {
        let main = url.trim_end_matches('/').to_string();
        Self {
            base: format!("{main}{PREFIX}"),
            main,
            http,
        }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let request = match body {
            Some(body) => self.http.post(&url).json(body),
            None => self.http.get(&url),
        };
        Self::answer(request, url).await
    }

    /// Sends `request` (to `url`) and reads its JSON answer; a non-2xx status is
    /// [`ClientError::Api`] with the body's `description`.
    async fn answer<T: DeserializeOwned>(
        request: reqwest::RequestBuilder,
        url: String,
    ) -> Result<T, ClientError> {
        let http = |source| ClientError::Http {
            url: url.clone(),
            source,
        };
        let response = request.send().await.map_err(http)?;
        let status = response.status();
        let text = response.text().await.map_err(http)?;
        if !status.is_success() {
            let description = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v.get("description")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or(text);
            return Err(ClientError::Api {
                status: status.as_u16(),
                description,
            });
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Api {
            status: status.as_u16(),
            description: format!("unreadable answer: {e}"),
        })
    }

    /// Creates a token for the participant `inn`; returns the token.
    pub async fn token(&self, inn: &str) -> Result<String, ClientError> {
        let answer: Value = self
            .call("/token", Some(&TokenRequest { inn: inn.into() }))
            .await?;
        Ok(answer["token"].as_str().unwrap_or_default().to_string())
    }

    /// Calls the True API token method (`auth/permissive-access`, [`crate::token_method`]) as a
    /// till does, with `signed` as the signed data (base64-encoded here); the emulator takes the
    /// INN in it for the signer.
    pub async fn token_from_signed_data(
        &self,
        signed: &[u8],
    ) -> Result<PermissiveAccessResponse, ClientError> {
        let url = format!("{}{PERMISSIVE_ACCESS_PATH}", self.main);
        let body = PermissiveAccessRequest {
            data: base64::engine::general_purpose::STANDARD.encode(signed),
        };
        Self::answer(self.http.post(&url).json(&body), url).await
    }

    /// Loads the 21 sandbox cases; returns the answer (`cases`).
    pub async fn sandbox(&self) -> Result<Value, ClientError> {
        self.call("/sandbox", Some(&json!({}))).await
    }

    /// Issues codes; returns the full KMs.
    pub async fn issue(&self, spec: &IssueSpec) -> Result<Vec<String>, ClientError> {
        let answer: IssueAnswer = self.call("/issue", Some(spec)).await?;
        Ok(answer.codes)
    }

    /// Issues `spec.count` codes of one GTIN in requests of at most `chunk` codes, two in
    /// flight: the emulator makes one request's codes while it writes another's. Without a GTIN
    /// in `spec` a random valid one is picked here, so that every request uses the same.
    pub fn issue_many(&self, spec: &IssueSpec, chunk: usize) -> IssueRun {
        let mut spec = spec.clone();
        if spec.gtin.is_none() {
            spec.gtin = crate::issue::batch_gtin(&spec, &mut rand::rng()).ok();
        }
        IssueRun {
            client: self.clone(),
            left: spec.count,
            spec,
            chunk: chunk.max(1),
            in_flight: std::collections::VecDeque::new(),
        }
    }

    pub async fn block(
        &self,
        codes: Vec<String>,
        ogvs: Option<Vec<String>>,
    ) -> Result<Value, ClientError> {
        self.call(
            "/block",
            Some(&CodesRequest {
                codes,
                ogvs,
                units: None,
            }),
        )
        .await
    }

    pub async fn unblock(&self, codes: Vec<String>) -> Result<Value, ClientError> {
        self.call(
            "/unblock",
            Some(&CodesRequest {
                codes,
                ogvs: None,
                units: None,
            }),
        )
        .await
    }

    pub async fn block_gtin(
        &self,
        gtins: Vec<String>,
        ogvs: Option<Vec<String>>,
    ) -> Result<Value, ClientError> {
        self.call(
            "/block-gtin",
            Some(&GtinsRequest {
                gtins,
                ogvs,
                ..GtinsRequest::default()
            }),
        )
        .await
    }

    pub async fn unblock_gtin(&self, gtins: Vec<String>) -> Result<Value, ClientError> {
        self.call(
            "/unblock-gtin",
            Some(&GtinsRequest {
                gtins,
                ..GtinsRequest::default()
            }),
        )
        .await
    }

    pub async fn price(
        &self,
        gtins: Vec<String>,
        mrp: Option<u64>,
        smp: Option<u64>,
    ) -> Result<Value, ClientError> {
        self.call(
            "/price",
            Some(&GtinsRequest {
                gtins,
                mrp,
                smp,
                ..GtinsRequest::default()
            }),
        )
        .await
    }

    /// Prices of `gtins` in time zone `zone` only (both `None`: withdrawn).
    pub async fn zone_price(
        &self,
        gtins: Vec<String>,
        zone: u8,
        mrp: Option<u64>,
        smp: Option<u64>,
    ) -> Result<Value, ClientError> {
        self.call(
            "/price",
            Some(&GtinsRequest {
                gtins,
                mrp,
                smp,
                zone: Some(zone),
                ..GtinsRequest::default()
            }),
        )
        .await
    }

    pub async fn sell(&self, codes: Vec<String>) -> Result<Value, ClientError> {
        self.sell_units(codes, None).await
    }

    /// Sells `units` of each code (a partial sale), or the whole items with `None`.
    pub async fn sell_units(
        &self,
        codes: Vec<String>,
        units: Option<u64>,
    ) -> Result<Value, ClientError> {
        self.call(
            "/sell",
            Some(&CodesRequest {
                codes,
                ogvs: None,
                units,
            }),
        )
        .await
    }

    /// Sets the fault of CDN host `host` (1-based); `mode` as in [`crate::faults::Fault::parse`].
    pub async fn fault(
        &self,
        host: usize,
        mode: &str,
        ms: Option<u64>,
    ) -> Result<Value, ClientError> {
        self.call(
            "/fault",
            Some(&FaultRequest {
                host,
                mode: mode.into(),
                ms,
            }),
        )
        .await
    }

    pub async fn emergency(&self, on: bool) -> Result<Value, ClientError> {
        self.call("/emergency", Some(&EmergencyRequest { on }))
            .await
    }

    /// Switches the replication chaos on with `settings`, or off (`None`); returns the report
    /// (`chaos` in force with its seed, `counts` per kind).
    pub async fn chaos(&self, settings: Option<ChaosSettings>) -> Result<Value, ClientError> {
        self.call("/chaos", Some(&ChaosRequest { chaos: settings }))
            .await
    }

    /// The replication chaos in force and the requests faulted per kind.
    pub async fn chaos_report(&self) -> Result<Value, ClientError> {
        self.call::<(), Value>("/chaos", None).await
    }

    pub async fn status(&self) -> Result<Value, ClientError> {
        self.call::<(), Value>("/status", None).await
    }
}
