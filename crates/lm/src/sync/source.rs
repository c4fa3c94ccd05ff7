//! Client of a CouchDB-protocol replication source (Apache CouchDB, PouchDB, `znak central`):
//! `GET /{db}` and `GET /{db}/_changes`. A response is read whole and parsed whole, so a
//! truncated or malformed body is an error and nothing of it is applied.
//!
//! A `_changes` page is read into [`ChangesPage`], leaner than `protocol`'s full
//! `ChangesResponse`: rows keep only the id, the deletion flag and the document's raw text (read
//! later, per document, so one bad document is counted rather than failing the page). A page of
//! 10 000 rows would otherwise allocate a JSON tree per document and a string per revision and
//! sequence, which dominated the module's memory and time during an initial sync.

use std::time::Duration;

use protocol::registration::ReplicationSource;
use protocol::replication::{DbInfo, Seq};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// A failed exchange with the source; always retried with backoff.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Connecting, sending or reading failed (refused, reset, timed out).
    #[error("{url}: {source}")]
    Transport {
        /// The request URL (without credentials).
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The source answered with an error status.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The body is not the JSON the protocol defines (truncated, garbled).
    #[error("{url}: malformed response: {reason}")]
    Malformed {
        /// The request URL.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// One page of `_changes` (normal or longpoll feed), as the sync engine needs it.
#[derive(Debug, Deserialize)]
pub struct ChangesPage {
    /// The rows, oldest first.
    pub results: Vec<ChangeRow>,
    /// The sequence to resume from; stored verbatim as the checkpoint.
    pub last_seq: Seq,
    /// Changes left after this page (CouchDB 2+).
    #[serde(default)]
    pub pending: Option<u64>,
}

/// One row of a [`ChangesPage`]; the row's `seq` and `changes` are not needed and not kept.
#[derive(Debug, Deserialize)]
pub struct ChangeRow {
    /// The document id.
    pub id: String,
    /// The document was deleted (for a list: the entry left it).
    #[serde(default)]
    pub deleted: bool,
    /// The included document, unparsed.
    #[serde(default)]
    pub doc: Option<Box<RawValue>>,
}

impl ChangeRow {
    /// The included document read as `T`; `None` when absent or for a deletion.
    pub fn doc_as<T: DeserializeOwned>(&self) -> Option<Result<T, serde_json::Error>> {
        match &self.doc {
            Some(doc) if !self.deleted => Some(serde_json::from_str(doc.get())),
            _ => None,
        }
    }
}

/// How long requests may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Connecting.
    pub connect: Duration,
    /// Silence while reading a response (a stalled source).
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(60),
        }
    }
}

/// One replication source.
#[derive(Debug, Clone)]
pub struct Source {
    client: reqwest::Client,
    base: String,
    username: String,
    password: String,
}

impl Source {
    /// A client for `source` (TLS by rustls with the ring provider).
    pub fn new(source: &ReplicationSource, timeouts: Timeouts) -> Result<Source, SourceError> {
        Ok(Source {
            client: http_client(timeouts)?,
            base: source.url.trim_end_matches('/').to_owned(),
            username: source.username.clone(),
            password: source.password.clone(),
        })
    }

    /// `GET /{db}`: document count and update sequence.
    pub async fn info(&self, db: &str) -> Result<DbInfo, SourceError> {
        let url = format!("{}/{db}", self.base);
        self.get_json(&url, &[]).await
    }

    /// `GET /{db}/_changes` from `since`, at most `limit` changes, documents included.
    /// With `longpoll`, the source holds the request until a change arrives or the time is up.
    pub async fn changes(
        &self,
        db: &str,
        since: Option<&Seq>,
        limit: u64,
        longpoll: Option<Duration>,
    ) -> Result<ChangesPage, SourceError> {
        let url = format!("{}/{db}/_changes", self.base);
        let mut query = vec![
            ("include_docs", "true".to_owned()),
            ("style", "main_only".to_owned()),
            ("limit", limit.to_string()),
        ];
        if let Some(since) = since {
            query.push(("since", since.to_query()));
        }
        if let Some(wait) = longpoll {
            query.push(("feed", "longpoll".to_owned()));
            query.push(("timeout", wait.as_millis().to_string()));
        }
        self.get_json(&url, &query).await
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<T, SourceError> {
        let transport = |source| SourceError::Transport {
            url: url.to_owned(),
            source,
        };
        let mut request = self.client.get(url).query(query);
        if !self.username.is_empty() {
            request = request.basic_auth(&self.username, Some(&self.password));
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(SourceError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                body: text,
            });
        }
        serde_json::from_slice(&body).map_err(|err| SourceError::Malformed {
            url: url.to_owned(),
            reason: err.to_string(),
        })
    }
}

/// The module's HTTP client: rustls with ring, never OpenSSL.
pub fn http_client(timeouts: Timeouts) -> Result<reqwest::Client, SourceError> {
    // Installing fails only when a provider is already installed, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.read)
        .build()
        .map_err(SourceError::Client)
}
