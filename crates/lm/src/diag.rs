//! `znak lm diag`: one `.tar.gz` for support with the module's status (from the running module
//! when it answers, else computed from a copy of the store), the config with secrets masked,
//! the recent log files, and store statistics (file sizes, document counts, integrity check).
//! Secrets never enter the archive: the participant token, `Token` UUIDs and the password hash
//! are replaced by a mask; the store itself is not included.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use store::ListDb;

use crate::api::{Backend, StoredCredentials, software_version, v2::status_v2};
use crate::settings::{LOG_FILE_PREFIX, Settings};
use crate::{Module, ModuleConfig, SystemClock};

/// Log files collected, newest first, and the most of each one kept (its end).
const LOG_FILES: usize = 3;
const LOG_TAIL_BYTES: u64 = 4 * 1024 * 1024;
/// Root folder inside the archive.
const ROOT: &str = "znak-diag";

/// What to collect.
#[derive(Debug, Clone)]
pub struct DiagRequest {
    /// The module's settings (config file and flags).
    pub settings: Settings,
    /// The config file they came from, if any.
    pub config_path: Option<PathBuf>,
    /// Base URL of the running module; `None` derives it from `settings.listen`.
    pub url: Option<String>,
    /// Deadline of the status request.
    pub timeout: Duration,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagSummary {
    /// Where the status came from: `api` or `store`.
    pub status_source: &'static str,
    /// Paths inside the archive.
    pub entries: Vec<String>,
}

/// Why no archive could be written.
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    #[error("cannot write the archive {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot copy the store for its check: {0}")]
    Copy(std::io::Error),
}

/// Writes the archive to `out`.
pub async fn write_archive(request: &DiagRequest, out: &Path) -> Result<DiagSummary, DiagError> {
    let data = request.settings.data_dir();
    let url = request.url.clone().unwrap_or_else(|| {
        format!(
            "http://{}",
            request.settings.listen.replace("0.0.0.0", "127.0.0.1")
        )
    });
    let running = fetch_status(&url, request.timeout).await;
    let (status, store) = match running {
        Ok(status) => (
            json!({"source": "api", "url": url, "status": status}),
            store_report_running(&data, &status),
        ),
        Err(reason) => {
            let (status, store) = from_store_copy(&data, &request.settings).await?;
            (
                json!({"source": "store", "url": url, "apiUnreachable": reason, "status": status}),
                store,
            )
        }
    };
    let status_source = if status["source"] == "api" {
        "api"
    } else {
        "store"
    };

    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("README.txt".into(), readme(request, &data).into_bytes()),
        ("status.json".into(), pretty(&status)),
        (
            "config.toml".into(),
            masked_config(&request.settings).into_bytes(),
        ),
        (
            "credentials.txt".into(),
            credentials_note(&data).into_bytes(),
        ),
        ("store.json".into(), pretty(&store)),
    ];
    for (name, bytes) in recent_logs(request.settings.log_dir.as_deref()) {
        files.push((format!("logs/{name}"), bytes));
    }
    let entries = write_tar_gz(out, &files).map_err(|source| DiagError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(DiagSummary {
        status_source,
        entries,
    })
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).unwrap_or_default();
    text.push(b'\n');
    text
}

async fn fetch_status(url: &str, timeout: Duration) -> Result<Value, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|err| err.to_string())?;
    let response = client
        .get(format!("{}/api/v2/status", url.trim_end_matches('/')))
        .send()
        .await
        .map_err(|err| format!("{url}: {err}"))?;
    if !response.status().is_success() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    response
        .json::<Value>()
        .await
        .map_err(|err| format!("{url}: not a status answer: {err}"))
}

/// File sizes; counts from the running module's answer (its store is open there).
fn store_report_running(data: &Path, status: &Value) -> Value {
    json!({
        "dataDir": data.display().to_string(),
        "files": file_sizes(data),
        "integrity": "not checked: the module is running and holds the store (it checks both \
                      files whenever it starts); stop it and run diag again for a check",
        "dbState": status.get("dbState").cloned().unwrap_or(Value::Null),
    })
}

/// The store is not in use: copy its files aside and open the copy (a full integrity check;
/// a damaged lists file is quarantined in the copy only), then read status and statistics.
async fn from_store_copy(data: &Path, settings: &Settings) -> Result<(Value, Value), DiagError> {
    let files = file_sizes(data);
    if !data.join("local.redb").exists() {
        let report = json!({
            "dataDir": data.display().to_string(),
            "files": files,
            "integrity": "no store in the data directory",
        });
        return Ok((Value::Null, report));
    }
    let copy = tempfile::tempdir().map_err(DiagError::Copy)?;
    for name in ["local.redb", "lists.redb"] {
        let from = data.join(name);
        if from.exists() {
            std::fs::copy(&from, copy.path().join(name)).map_err(DiagError::Copy)?;
        }
    }
    // blocked_cis lives in segment files that lists.redb names: without them the copy would
    // read as damaged.
    let segments = data.join(store::SEGMENTS_DIR);
    if segments.is_dir() {
        let to = copy.path().join(store::SEGMENTS_DIR);
        std::fs::create_dir_all(&to).map_err(DiagError::Copy)?;
        for entry in std::fs::read_dir(&segments).map_err(DiagError::Copy)? {
            let entry = entry.map_err(DiagError::Copy)?;
            std::fs::copy(entry.path(), to.join(entry.file_name())).map_err(DiagError::Copy)?;
        }
    }
    let config = ModuleConfig::new(copy.path(), settings.service.clone());
    let module = Module::open(config, Arc::new(SystemClock));
    let snapshot = module.status();
    let status = module
        .snapshot()
        .map(|snap| serde_json::to_value(status_v2(&snap, &software_version())).unwrap_or_default())
        .unwrap_or(Value::Null);
    let integrity = match (&snapshot.failure, &snapshot.quarantined) {
        (Some(reason), _) => format!("store unusable: {reason}"),
        (None, Some(_)) => "lists.redb is damaged: the module will quarantine it and re-sync \
                            (local.redb is sound)"
            .to_owned(),
        (None, None) => "ok: both files passed the full integrity check".to_owned(),
    };
    let mut report = json!({
        "dataDir": data.display().to_string(),
        "files": files,
        "integrity": integrity,
        "lastError": snapshot.last_error,
    });
    if let Some(store) = module.store() {
        let lists: Vec<Value> = ListDb::ALL
            .iter()
            .filter_map(|&db| {
                store.lists().db_state(db).ok().map(|state| {
                    json!({"db": db.name(), "docCount": state.doc_count, "pulled": state.pulled,
                           "unmapped": state.unmapped, "checkpoint": state.checkpoint})
                })
            })
            .collect();
        report["lists"] = Value::Array(lists);
        report["soldCount"] = json!(store.local().sold_count().ok());
        if let Ok(times) = store.lists().sync_times() {
            report["syncTimes"] = json!({"lastSync": times.last_sync,
                "lastUpdate": times.last_update, "lastContact": times.last_contact});
        }
        if let Ok(Some(identity)) = store.local().identity() {
            report["identity"] = json!({"inst": identity.inst, "inn": identity.inn,
                "serviceUrl": identity.service_url, "greyMode": identity.grey_mode,
                "token": mask(&identity.token)});
        }
    }
    Ok((status, report))
}

fn file_sizes(dir: &Path) -> Value {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| {
                    let meta = entry.metadata().ok()?;
                    meta.is_file()
                        .then(|| (entry.file_name().to_string_lossy().into_owned(), meta.len()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    Value::Object(
        files
            .into_iter()
            .map(|(name, size)| (name, json!(size)))
            .collect(),
    )
}

/// `****` plus the last four characters, enough to tell two secrets apart.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 8 {
        return "****".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("****{tail}")
}

fn masked_config(settings: &Settings) -> String {
    let mut value = toml::Value::try_from(settings)
        .unwrap_or_else(|_| toml::Value::Table(toml::map::Map::new()));
    if let Some(table) = value.as_table_mut() {
        let tokens = settings
            .tokens
            .iter()
            .map(|token| toml::Value::String(mask(&token.to_string())))
            .collect();
        table.insert("tokens".into(), toml::Value::Array(tokens));
        table.insert(
            "data".into(),
            toml::Value::String(settings.data_dir().display().to_string()),
        );
    }
    let body = toml::to_string(&value).unwrap_or_default();
    format!("# Settings in effect (config file and flags); secrets masked as ****<last 4>.\n{body}")
}

fn credentials_note(data: &Path) -> String {
    match StoredCredentials::load(data) {
        Ok(Some(stored)) => format!(
            "login: {}\npassword: set (argon2id hash in credentials.toml, not included)\n",
            stored.login
        ),
        Ok(None) => {
            "no credentials.toml: the default admin/admin is in effect (loopback only)\n".to_owned()
        }
        Err(err) => format!("credentials.toml unreadable: {err}\n"),
    }
}

fn readme(request: &DiagRequest, data: &Path) -> String {
    format!(
        "znak local module diagnostics\nsoftware: {} ({} {})\nconfig file: {}\ndata dir: {}\n\
         log dir: {}\n\nstatus.json      status from the running module (source api) or computed \
         from a copy of the store\nconfig.toml      settings in effect, secrets masked\n\
         credentials.txt  API login (no password or hash)\nstore.json       file sizes, \
         document counts, integrity check\nlogs/            the newest log files (at most {} \
         MiB each, their end)\n",
        software_version(),
        std::env::consts::OS,
        std::env::consts::ARCH,
        request
            .config_path
            .as_ref()
            .map_or("none".to_owned(), |path| path.display().to_string()),
        data.display(),
        request
            .settings
            .log_dir
            .as_ref()
            .map_or("none (stderr only)".to_owned(), |dir| dir
                .display()
                .to_string()),
        LOG_TAIL_BYTES / 1024 / 1024,
    )
}

/// The newest `znak-lm.log.*` files, each cut to its last `LOG_TAIL_BYTES`.
fn recent_logs(dir: Option<&Path>) -> Vec<(String, Vec<u8>)> {
    let Some(dir) = dir else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut logs: Vec<(std::time::SystemTime, String, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let modified = entry.metadata().ok()?.modified().ok()?;
            name.starts_with(LOG_FILE_PREFIX)
                .then(|| (modified, name, entry.path()))
        })
        .collect();
    logs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    logs.into_iter()
        .take(LOG_FILES)
        .filter_map(|(_, name, path)| tail(&path).ok().map(|bytes| (name, bytes)))
        .collect()
}

fn tail(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn write_tar_gz(out: &Path, files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<String>> {
    let temporary = out.with_extension("partial");
    let file = std::fs::File::create(&temporary)?;
    let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut archive = tar::Builder::new(encoder);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let mut entries = Vec::new();
    for (name, bytes) in files {
        let path = format!("{ROOT}/{name}");
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(now);
        header.set_cksum();
        archive.append_data(&mut header, &path, bytes.as_slice())?;
        entries.push(path);
    }
    let mut file = archive.into_inner()?.finish()?;
    file.flush()?;
    file.sync_all()?;
    std::fs::rename(&temporary, out)?;
    Ok(entries)
}
