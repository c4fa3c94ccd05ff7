//! The till checker's configuration: one TOML file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// A configuration that cannot be used, with what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config is not valid TOML for the till checker: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error("config: {0}")]
    Invalid(String),
}

/// How the till reaches the local module.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleConfig {
    /// Base URL, e.g. `http://127.0.0.1:5995`.
    pub url: String,
    /// Basic auth set at the module's installation.
    pub login: Option<String>,
    pub password: Option<String>,
    /// `Authorization: Token <uuid>` for `outCheck` (issued through TS PIoT); wins over Basic.
    pub token: Option<String>,
    /// `X-ClientId`; defaults to the fiscal drive number.
    pub client_id: Option<String>,
}

/// Everything the checker needs; see README for a sample file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TillConfig {
    /// The participant's True API token (`X-API-KEY`).
    pub token: String,
    /// Where `cdn/info` lives: `https://cdn.crpt.ru` in production.
    #[serde(default = "default_info_url")]
    pub info_url: String,
    /// CDN hosts to use while `cdn/info` never answered; default `cdn01…cdn11.crpt.ru`.
    pub fallback_hosts: Option<Vec<String>>,
    /// Fiscal drive number (16 digits), sent as `fiscalDriveNumber` and `X-ClientId`.
    pub fiscal_drive_number: Option<String>,
    /// FFD tag 1011 time zone, 1–11 (2 = Moscow, UTC+3). Sets the local time of checks.
    #[serde(default = "default_time_zone")]
    pub time_zone: u8,
    /// The state shared by every till process on this machine.
    pub state_file: PathBuf,
    /// The durable sell/return queue toward the module; default beside the state file.
    pub queue_file: Option<PathBuf>,
    /// The online deadline (1.5 s by the rules).
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// Health-check timeout (2 s recommended, up to 10 s on poor links).
    #[serde(default = "default_health_timeout_ms")]
    pub health_timeout_ms: u64,
    pub module: Option<ModuleConfig>,
    /// Product group id → date (`YYYY-MM-DD`) since which the offline check is mandatory:
    /// from then on a sale without any check is refused.
    #[serde(default)]
    pub offline_mandatory: BTreeMap<String, String>,
    /// The operator's announced end of an emergency (RFC 3339); checks stay off until 3 days
    /// after it.
    pub emergency_end: Option<String>,
}

fn default_info_url() -> String {
    "https://cdn.crpt.ru".to_owned()
}
fn default_time_zone() -> u8 {
    2
}
fn default_deadline_ms() -> u64 {
    1500
}
fn default_health_timeout_ms() -> u64 {
    2000
}

/// The parsed, checked form of the settings that need parsing.
#[derive(Debug, Clone)]
pub struct Settings {
    pub offline_mandatory: BTreeMap<u16, Date>,
    pub emergency_end_ms: Option<i64>,
    pub offset: UtcOffset,
}

impl TillConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text)
    }

    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text)?;
        config.settings()?;
        Ok(config)
    }

    /// Checks every field and returns the parsed forms.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.token.trim().is_empty() {
            return invalid("token is empty".into());
        }
        if !(1..=11).contains(&self.time_zone) {
            return invalid(format!(
                "time_zone {} is not 1–11 (FFD tag 1011)",
                self.time_zone
            ));
        }
        if self.deadline_ms == 0 || self.health_timeout_ms == 0 {
            return invalid("deadline_ms and health_timeout_ms must be above 0".into());
        }
        for url in std::iter::once(&self.info_url)
            .chain(self.fallback_hosts.iter().flatten())
            .chain(self.module.iter().map(|m| &m.url))
        {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(format!("{url:?} is not an http(s) URL"));
            }
        }
        if let Some(m) = &self.module
            && m.token.is_none()
            && (m.login.is_none() != m.password.is_none())
        {
            return invalid("module: give both login and password, or neither".into());
        }
        let day = format_description!("[year]-[month]-[day]");
        let mut offline_mandatory = BTreeMap::new();
        for (pg, date) in &self.offline_mandatory {
            let Ok(id) = pg.parse::<u16>() else {
                return invalid(format!(
                    "offline_mandatory: {pg:?} is not a product group id"
                ));
            };
            let Ok(date) = Date::parse(date, &day) else {
                return invalid(format!(
                    "offline_mandatory.{pg}: {date:?} is not YYYY-MM-DD"
                ));
            };
            offline_mandatory.insert(id, date);
        }
        let emergency_end_ms = match &self.emergency_end {
            None => None,
            Some(text) => {
                let rfc = time::format_description::well_known::Rfc3339;
                match OffsetDateTime::parse(text, &rfc) {
                    Ok(t) => Some((t.unix_timestamp_nanos() / 1_000_000) as i64),
                    Err(_) => return invalid(format!("emergency_end {text:?} is not RFC 3339")),
                }
            }
        };
        let hours = i8::try_from(self.time_zone).unwrap_or(2) + 1;
        let offset = UtcOffset::from_hms(hours, 0, 0)
            .map_err(|e| ConfigError::Invalid(format!("time_zone: {e}")))?;
        Ok(Settings {
            offline_mandatory,
            emergency_end_ms,
            offset,
        })
    }

    pub fn fallback(&self) -> Vec<String> {
        self.fallback_hosts
            .clone()
            .unwrap_or_else(crate::cdn::builtin_fallback)
    }

    pub fn queue_path(&self) -> PathBuf {
        self.queue_file
            .clone()
            .unwrap_or_else(|| self.state_file.with_extension("queue.jsonl"))
    }
}

impl Settings {
    /// Local wall-clock time of a Unix-ms instant in the configured zone.
    pub fn local_time(&self, unix_ms: i64) -> PrimitiveDateTime {
        let utc = OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let local = utc.to_offset(self.offset);
        PrimitiveDateTime::new(local.date(), local.time())
    }

    /// The date since which a check is mandatory for `pg`, if it already is on `today`.
    pub fn mandatory_since(&self, pg: Option<u16>, today: Date) -> Option<Date> {
        let since = *self.offline_mandatory.get(&pg?)?;
        (since <= today).then_some(since)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    const MINIMAL: &str = "token = \"t\"\nstate_file = \"/tmp/s.json\"\n";

    #[test]
    fn defaults() {
        let config = TillConfig::from_toml(MINIMAL).expect("valid");
        assert_eq!(config.deadline_ms, 1500);
        assert_eq!(config.health_timeout_ms, 2000);
        assert_eq!(config.info_url, "https://cdn.crpt.ru");
        assert_eq!(config.fallback().len(), 11);
        let s = config.settings().expect("valid");
        // Zone 2 is Moscow, UTC+3.
        assert_eq!(s.local_time(0), datetime!(1970-01-01 03:00:00));
    }

    #[test]
    fn offline_mandatory_dates() {
        let text = format!("{MINIMAL}[offline_mandatory]\n16 = \"2025-03-01\"\n");
        let s = TillConfig::from_toml(&text)
            .expect("valid")
            .settings()
            .expect("valid");
        assert_eq!(
            s.mandatory_since(Some(16), date!(2025 - 03 - 01)),
            Some(date!(2025 - 03 - 01))
        );
        assert_eq!(s.mandatory_since(Some(16), date!(2025 - 02 - 28)), None);
        assert_eq!(s.mandatory_since(Some(3), date!(2030 - 01 - 01)), None);
        assert_eq!(s.mandatory_since(None, date!(2030 - 01 - 01)), None);
    }

    #[test]
    fn bad_configs_name_the_problem() {
        let cases = [
            ("token = \"\"\nstate_file = \"s\"", "token is empty"),
            (&format!("{MINIMAL}time_zone = 12"), "time_zone 12"),
            (
                &format!("{MINIMAL}[offline_mandatory]\ntobacco = \"2025-03-01\""),
                "product group",
            ),
            (
                &format!("{MINIMAL}[offline_mandatory]\n3 = \"01.03.2025\""),
                "YYYY-MM-DD",
            ),
            (
                &format!("{MINIMAL}emergency_end = \"tomorrow\""),
                "RFC 3339",
            ),
            (&format!("{MINIMAL}info_url = \"ftp://x\""), "http(s)"),
            (
                &format!("{MINIMAL}[module]\nurl = \"http://x\"\nlogin = \"a\""),
                "both login",
            ),
            (&format!("{MINIMAL}colour = 1"), "unknown field"),
            ("state_file = \"s\"", "missing field `token`"),
        ];
        for (text, expected) in cases {
            let err = TillConfig::from_toml(text).expect_err(expected).to_string();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
    }
}
