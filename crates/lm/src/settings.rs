//! The module's config file (`znak lm serve --config FILE`, `/etc/znak/lm.toml` in the Debian
//! package): every key optional, with the defaults documented in `packaging/lm.toml`, which a
//! test checks against [`Settings::default`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::ServiceConfig;
use crate::{ModuleConfig, Poll};

/// Address of the API when nothing names one (the official module's port).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5995";
/// Service URL when nothing names one: a local `znak central`.
pub const DEFAULT_SERVICE: &str = "http://127.0.0.1:8080";
/// Name of the rolling log files in `log_dir` (`znak-lm.log.YYYY-MM-DD`).
pub const LOG_FILE_PREFIX: &str = "znak-lm.log";

/// What the config file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address of the API.
    pub listen: String,
    /// Data directory (store, credentials); `None` is the platform default, see
    /// [`default_data_dir`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// The operator's service URL (registration at `{service}/lm/v1/register`).
    pub service: String,
    /// `Authorization: Token <uuid>` values accepted on `cis/outCheck` (TS PIoT).
    pub tokens: Vec<Uuid>,
    /// Longest time for one request, body upload included (then 408).
    pub request_timeout_secs: u64,
    /// Incremental pull interval once caught up.
    pub poll_secs: u64,
    /// Documents per `_changes` request.
    pub batch_limit: u64,
    /// Changes gathered into one store transaction during a pull.
    pub commit_changes: usize,
    /// Open API connections at most.
    pub max_connections: usize,
    /// Directory of the rolling daily log file; `None` logs to stderr only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_dir: Option<PathBuf>,
    /// Log filter (`error`, `warn`, `info`, `debug`, or a `RUST_LOG`-style directive list).
    pub log_level: String,
    /// Daily log files kept in `log_dir`; older ones are deleted.
    pub log_keep_files: usize,
    /// `/metrics` asks for the Basic login too (default: open, as scrapers expect).
    pub metrics_auth: bool,
    /// `[[instance]]` tables: several modules in one process, each with its own `listen` and
    /// `data`; the keys above are their defaults (the top-level `listen` and `data` are unused).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instance: Vec<InstanceSettings>,
}

/// One `[[instance]]` table: every key but `listen` and `data` falls back to the top level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceSettings {
    /// Name in logs and errors (default `instance-<n>`).
    pub name: Option<String>,
    pub listen: Option<String>,
    pub data: Option<PathBuf>,
    /// The participant this instance serves: `init` with another INN's token is refused.
    pub inn: Option<String>,
    pub service: Option<String>,
    pub tokens: Option<Vec<Uuid>>,
    pub request_timeout_secs: Option<u64>,
    pub poll_secs: Option<u64>,
    pub metrics_auth: Option<bool>,
}

/// One instance ready to be bound and run.
#[derive(Debug, Clone)]
pub struct PlannedInstance {
    pub name: String,
    pub listen: String,
    pub config: ServiceConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: DEFAULT_LISTEN.to_owned(),
            data: None,
            service: DEFAULT_SERVICE.to_owned(),
            tokens: Vec::new(),
            request_timeout_secs: 10,
            poll_secs: 60,
            batch_limit: 10_000,
            commit_changes: 100_000,
            max_connections: 1024,
            log_dir: None,
            log_level: "info".to_owned(),
            log_keep_files: 14,
            metrics_auth: false,
            instance: Vec::new(),
        }
    }
}

/// Why the config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("the config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Settings {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Settings::parse(&text, path)
    }

    /// Parses and checks config text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, SettingsError> {
        let settings: Settings = toml::from_str(text).map_err(|err| SettingsError::Parse {
            path: path.to_path_buf(),
            message: err.to_string().trim_end().to_owned(),
        })?;
        settings.check().map_err(|message| SettingsError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), String> {
        let positive = [
            ("request_timeout_secs", self.request_timeout_secs),
            ("poll_secs", self.poll_secs),
            ("batch_limit", self.batch_limit),
            ("commit_changes", self.commit_changes as u64),
            ("max_connections", self.max_connections as u64),
            ("log_keep_files", self.log_keep_files as u64),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(format!("{key} must be at least 1"));
            }
        }
        check_url(&self.service)?;
        self.instances().map(|_| ())
    }

    /// The `[[instance]]` tables as service configurations: each has `listen` and `data`, no
    /// two share a data directory or a fixed address, an `inn` is 10 or 12 digits.
    pub fn instances(&self) -> Result<Vec<PlannedInstance>, String> {
        let mut data_dirs: BTreeMap<PathBuf, String> = BTreeMap::new();
        let mut addresses: BTreeMap<String, String> = BTreeMap::new();
        let mut planned = Vec::new();
        for (index, table) in self.instance.iter().enumerate() {
            let name = table
                .name
                .clone()
                .unwrap_or_else(|| format!("instance-{}", index + 1));
            let Some(listen) = table.listen.clone() else {
                return Err(format!(
                    "instance {name}: `listen` is missing (e.g. listen = \"127.0.0.1:5995\")"
                ));
            };
            let Some(data) = table.data.clone() else {
                return Err(format!(
                    "instance {name}: `data` is missing (its own data directory)"
                ));
            };
            if let Some(inn) = &table.inn
                && !((inn.len() == 10 || inn.len() == 12)
                    && inn.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(format!(
                    "instance {name}: inn must be 10 or 12 digits, not {inn:?}"
                ));
            }
            if let Some(other) = data_dirs.insert(data.clone(), name.clone()) {
                return Err(format!(
                    "instances {other} and {name} share the data directory {}",
                    data.display()
                ));
            }
            if !listen.ends_with(":0")
                && let Some(other) = addresses.insert(listen.clone(), name.clone())
            {
                return Err(format!(
                    "instances {other} and {name} both listen on {listen}"
                ));
            }
            let service = table
                .service
                .clone()
                .unwrap_or_else(|| self.service.clone());
            check_url(&service).map_err(|err| format!("instance {name}: {err}"))?;
            let mut own = self.clone();
            own.instance = Vec::new();
            own.data = Some(data);
            own.service = service;
            own.tokens = table.tokens.clone().unwrap_or_else(|| self.tokens.clone());
            own.request_timeout_secs = table
                .request_timeout_secs
                .unwrap_or(self.request_timeout_secs);
            own.poll_secs = table.poll_secs.unwrap_or(self.poll_secs);
            own.metrics_auth = table.metrics_auth.unwrap_or(self.metrics_auth);
            let mut config = own.service_config();
            config.module.participant_inn = table.inn.clone();
            planned.push(PlannedInstance {
                name,
                listen,
                config,
            });
        }
        Ok(planned)
    }

    /// The data directory in effect.
    pub fn data_dir(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(default_data_dir)
    }

    /// The module's service configuration.
    pub fn service_config(&self) -> ServiceConfig {
        let mut module = ModuleConfig::new(self.data_dir(), self.service.clone());
        module.poll = Poll::Interval(Duration::from_secs(self.poll_secs.max(1)));
        module.batch_limit = self.batch_limit.max(1);
        module.commit_changes = self.commit_changes.max(1);
        let mut config = ServiceConfig::new(module);
        config.tokens = self.tokens.clone();
        config.request_timeout = Duration::from_secs(self.request_timeout_secs.max(1));
        config.serve.max_connections = self.max_connections.max(1);
        config.metrics_require_auth = self.metrics_auth;
        config
    }
}

fn check_url(service: &str) -> Result<(), String> {
    if service.starts_with("http://") || service.starts_with("https://") {
        Ok(())
    } else {
        Err(format!(
            "service must be an http:// or https:// URL, not {service:?}"
        ))
    }
}

/// `~/.local/share/znak/lm`, or `%ProgramData%\znak\lm` on Windows (where a service has no
/// home directory).
pub fn default_data_dir() -> PathBuf {
    if cfg!(windows)
        && let Some(base) = std::env::var_os("ProgramData")
    {
        return PathBuf::from(base).join("znak").join("lm");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/znak/lm"),
        None => PathBuf::from("znak-lm"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file the Debian package installs as `/etc/znak/lm.toml`.
    const SHIPPED: &str = include_str!("../../../packaging/lm.toml");

    fn parse(text: &str) -> Result<Settings, SettingsError> {
        Settings::parse(text, Path::new("lm.toml"))
    }

    /// Every `# key = value` line of the shipped file, uncommented: the documented defaults.
    fn documented_defaults() -> String {
        SHIPPED
            .lines()
            .filter_map(|line| line.strip_prefix("# "))
            .filter(|line| {
                line.split_once(" = ")
                    .is_some_and(|(key, _)| key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_documented_defaults_of_the_shipped_file_are_the_real_defaults() {
        let documented = documented_defaults();
        assert!(documented.contains("poll_secs = 60"), "{documented}");
        let mut expected = Settings::default();
        // `data` and `log_dir` are platform defaults, documented in words, not as `# key =`.
        let parsed = parse(&documented).unwrap();
        expected.data = parsed.data.clone();
        expected.log_dir = parsed.log_dir.clone();
        assert_eq!(parsed, expected);
        // Every key of Settings is documented (a new key must be added to the file too).
        let keys = toml::to_string(&Settings {
            data: Some("d".into()),
            log_dir: Some("l".into()),
            ..Settings::default()
        })
        .unwrap();
        for line in keys.lines().filter(|line| line.contains(" = ")) {
            let key = line.split(" = ").next().unwrap_or_default();
            assert!(SHIPPED.contains(&format!("{key} = ")), "{key} undocumented");
        }
    }

    #[test]
    fn the_shipped_file_sets_the_package_paths() {
        let shipped = parse(SHIPPED).unwrap();
        assert_eq!(shipped.data, Some(PathBuf::from("/var/lib/znak/lm")));
        assert_eq!(shipped.log_dir, Some(PathBuf::from("/var/log/znak")));
        assert_eq!(shipped.listen, DEFAULT_LISTEN);
    }

    #[test]
    fn the_container_file_listens_everywhere_with_data_on_the_volume() {
        let docker = parse(include_str!("../../../packaging/docker/lm.toml")).unwrap();
        assert_eq!(docker.listen, "0.0.0.0:5995");
        assert_eq!(docker.data, Some(PathBuf::from("/var/lib/znak/lm")));
        assert_eq!(docker.log_dir, None);
    }

    #[test]
    fn bad_files_get_errors_naming_the_key() {
        let unknown = parse("listn = \"x\"").unwrap_err().to_string();
        assert!(unknown.contains("listn"), "{unknown}");
        let zero = parse("poll_secs = 0").unwrap_err().to_string();
        assert!(zero.contains("poll_secs must be at least 1"), "{zero}");
        let token = parse("tokens = [\"nope\"]").unwrap_err().to_string();
        assert!(token.contains("tokens"), "{token}");
        let url = parse("service = \"ftp://x\"").unwrap_err().to_string();
        assert!(url.contains("http://"), "{url}");
        let missing = Settings::load(Path::new("/nonexistent/lm.toml")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/lm.toml"));
    }

    #[test]
    fn instance_tables_inherit_the_top_level_and_are_checked() {
        let settings = parse(
            "service = \"https://op.example\"\npoll_secs = 5\n\
             [[instance]]\nname = \"a\"\nlisten = \"127.0.0.1:5995\"\ndata = \"/srv/a\"\ninn = \"7700000011\"\n\
             [[instance]]\nlisten = \"127.0.0.1:5996\"\ndata = \"/srv/b\"\npoll_secs = 9\n",
        )
        .unwrap();
        let planned = settings.instances().unwrap();
        assert_eq!(planned.len(), 2);
        assert_eq!(
            (planned[0].name.as_str(), planned[1].name.as_str()),
            ("a", "instance-2")
        );
        assert_eq!(
            planned[0].config.module.participant_inn.as_deref(),
            Some("7700000011")
        );
        assert_eq!(planned[0].config.module.service_url, "https://op.example");
        assert_eq!(
            planned[0].config.module.poll,
            Poll::Interval(Duration::from_secs(5))
        );
        assert_eq!(
            planned[1].config.module.poll,
            Poll::Interval(Duration::from_secs(9))
        );
        assert_eq!(planned[1].config.module.data_dir, PathBuf::from("/srv/b"));
        for (bad, named) in [
            (
                "[[instance]]\nname = \"x\"\nlisten = \"127.0.0.1:1\"",
                "x: `data` is missing",
            ),
            (
                "[[instance]]\ndata = \"/d\"",
                "instance-1: `listen` is missing",
            ),
            (
                "[[instance]]\nlisten = \"127.0.0.1:1\"\ndata = \"/d\"\n[[instance]]\nlisten = \"127.0.0.1:2\"\ndata = \"/d\"",
                "share the data directory",
            ),
            (
                "[[instance]]\nlisten = \"127.0.0.1:1\"\ndata = \"/d\"\n[[instance]]\nlisten = \"127.0.0.1:1\"\ndata = \"/e\"",
                "both listen on",
            ),
            (
                "[[instance]]\nlisten = \"127.0.0.1:1\"\ndata = \"/d\"\ninn = \"77\"",
                "10 or 12 digits",
            ),
            (
                "[[instance]]\nlisten = \"127.0.0.1:1\"\ndata = \"/d\"\nlisen = 1",
                "lisen",
            ),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(named), "{bad}: {err}");
        }
    }

    #[test]
    fn service_config_carries_every_setting() {
        let settings = parse(
            "data = \"/srv/lm\"\nservice = \"https://op.example\"\npoll_secs = 5\n\
             batch_limit = 7\ncommit_changes = 9\nrequest_timeout_secs = 3\nmax_connections = 4\n\
             tokens = [\"32342f94-39ce-49cf-91ac-db8598c45111\"]",
        )
        .unwrap();
        let config = settings.service_config();
        assert_eq!(config.module.data_dir, PathBuf::from("/srv/lm"));
        assert_eq!(config.module.service_url, "https://op.example");
        assert_eq!(config.module.poll, Poll::Interval(Duration::from_secs(5)));
        assert_eq!(config.module.batch_limit, 7);
        assert_eq!(config.module.commit_changes, 9);
        assert_eq!(config.request_timeout, Duration::from_secs(3));
        assert_eq!(config.serve.max_connections, 4);
        assert_eq!(config.tokens.len(), 1);
    }
}
