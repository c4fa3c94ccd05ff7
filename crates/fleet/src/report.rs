//! Judging the answers: each host gets a [`Severity`], the table lists the worst first, and the
//! exit code is the worst severity (0 all ready, 1 some warning, 2 some error or unreachable).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::poll::{Answer, HostStatus};

/// How much a host needs attention. The order is worst last, so `max` is the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// `ready`, active, synced recently.
    Ok,
    /// Initialising, not configured, maintenance mode, an unknown status, or `ready` with a
    /// last sync older than the staleness limit: offline checks may soon stop.
    Warning,
    /// `sync_error` or `failure` (offline checks impossible), no answer, or not a module.
    Error,
}

impl Severity {
    /// Exit code for monitoring systems.
    pub fn exit_code(self) -> u8 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Error => 2,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warning => "WARN",
            Severity::Error => "ERROR",
        }
    }
}

/// One line of the fleet view.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub name: String,
    pub url: String,
    pub severity: Severity,
    /// The module's `status`, or `unreachable` / `bad_answer`.
    pub status: String,
    /// `v2` or `v1` when the module answered.
    pub api: Option<&'static str>,
    pub version: Option<String>,
    pub inst: Option<String>,
    pub inn: Option<String>,
    /// `lastSync` as reported (Unix ms; 0 = never).
    pub last_sync_ms: Option<i64>,
    /// Seconds since `lastSync` at the time of the poll (`None`: never synced or not told).
    pub last_sync_age_secs: Option<u64>,
    pub doc_counts: BTreeMap<String, Option<u64>>,
    /// Why the host is not `ok` (or the error of an unreachable host).
    pub note: Option<String>,
}

/// The whole fleet, worst first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub hosts: Vec<Row>,
    pub ok: usize,
    pub warning: usize,
    pub error: usize,
    /// The worst severity's exit code.
    pub exit_code: u8,
}

impl Report {
    /// Judges `statuses` polled at `now_ms`; a `ready` module whose last sync is older than
    /// `stale_after` is a warning.
    pub fn new(statuses: &[HostStatus], now_ms: i64, stale_after: Duration) -> Report {
        let mut hosts: Vec<Row> = statuses
            .iter()
            .map(|status| judge(status, now_ms, stale_after))
            .collect();
        // Worst first; the hosts file's order within a severity.
        hosts.sort_by_key(|row| std::cmp::Reverse(row.severity));
        let count = |severity| hosts.iter().filter(|row| row.severity == severity).count();
        let worst = hosts.first().map_or(Severity::Ok, |row| row.severity);
        Report {
            ok: count(Severity::Ok),
            warning: count(Severity::Warning),
            error: count(Severity::Error),
            exit_code: worst.exit_code(),
            hosts,
        }
    }

    /// The fleet as a plain-text table.
    pub fn table(&self) -> String {
        let header = ["", "NAME", "STATUS", "VERSION", "LAST SYNC", "DOCS", "NOTE"];
        let lines: Vec<[String; 7]> = self
            .hosts
            .iter()
            .map(|row| {
                [
                    row.severity.label().to_owned(),
                    row.name.clone(),
                    match row.api {
                        Some("v1") => format!("{} (v1)", row.status),
                        _ => row.status.clone(),
                    },
                    row.version.clone().unwrap_or_else(|| "-".to_owned()),
                    match (row.api, row.last_sync_age_secs) {
                        (None, _) => "-".to_owned(),
                        (Some(_), None) => "never".to_owned(),
                        (Some(_), Some(age)) => format!("{} ago", age_text(age)),
                    },
                    docs_text(&row.doc_counts),
                    row.note.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for line in &lines {
            for (width, cell) in widths.iter_mut().zip(line) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut push = |cells: &[&str]| {
            let mut line = String::new();
            for (cell, width) in cells.iter().zip(widths) {
                let _ = write!(line, "{cell:<width$}  ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        };
        push(&header);
        for line in &lines {
            push(&line.each_ref().map(String::as_str));
        }
        let _ = writeln!(
            out,
            "{} hosts: {} ok, {} warning, {} error",
            self.hosts.len(),
            self.ok,
            self.warning,
            self.error
        );
        out
    }
}

fn judge(host: &HostStatus, now_ms: i64, stale_after: Duration) -> Row {
    let mut row = Row {
        name: host.name.clone(),
        url: host.url.clone(),
        severity: Severity::Error,
        status: String::new(),
        api: None,
        version: None,
        inst: None,
        inn: None,
        last_sync_ms: None,
        last_sync_age_secs: None,
        doc_counts: BTreeMap::new(),
        note: None,
    };
    let module = match &host.answer {
        Answer::Status(module) => module,
        Answer::Unreachable { error } => {
            row.status = "unreachable".to_owned();
            row.note = Some(error.clone());
            return row;
        }
        Answer::BadAnswer { error } => {
            row.status = "bad_answer".to_owned();
            row.note = Some(error.clone());
            return row;
        }
    };
    row.status.clone_from(&module.status);
    row.api = Some(module.api);
    row.version.clone_from(&module.version);
    row.inst.clone_from(&module.inst);
    row.inn.clone_from(&module.inn);
    row.last_sync_ms = module.last_sync_ms;
    row.doc_counts.clone_from(&module.doc_counts);
    row.last_sync_age_secs = module
        .last_sync_ms
        .filter(|&last| last > 0)
        .map(|last| u64::try_from(now_ms.saturating_sub(last) / 1000).unwrap_or(0));
    let (severity, note) = match module.status.as_str() {
        "sync_error" => (Severity::Error, "no sync for 72 h: offline checks refused"),
        "failure" => (Severity::Error, "internal failure: the module cannot work"),
        "initialization" => (Severity::Warning, "initialising: offline checks refused"),
        "not_configured" => (Severity::Warning, "not initialised: offline checks refused"),
        "ready" => (Severity::Ok, ""),
        _ => (Severity::Warning, "unknown status"),
    };
    row.severity = severity;
    row.note = (!note.is_empty()).then(|| note.to_owned());
    if severity == Severity::Ok {
        if module.operation_mode.as_deref() == Some("service") {
            row.severity = Severity::Warning;
            row.note = Some("maintenance mode (operationMode service)".to_owned());
        } else if let Some(age) = row.last_sync_age_secs
            && age > stale_after.as_secs()
        {
            row.severity = Severity::Warning;
            row.note = Some(format!(
                "last sync {} ago (limit {}); sync_error at 72 h",
                age_text(age),
                age_text(stale_after.as_secs())
            ));
        } else if row.last_sync_age_secs.is_none() {
            row.severity = Severity::Warning;
            row.note = Some("ready but never synced".to_owned());
        }
    }
    row
}

/// `45s`, `12m`, `3h05m`, `2d04h`.
fn age_text(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d{:02}h", seconds / 86400, seconds % 86400 / 3600),
    }
}

/// `blocked_cis=785214 min_price=?`.
fn docs_text(counts: &BTreeMap<String, Option<u64>>) -> String {
    if counts.is_empty() {
        return "-".to_owned();
    }
    counts
        .iter()
        .map(|(db, count)| match count {
            Some(count) => format!("{db}={count}"),
            None => format!("{db}=?"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poll::read_status;
    use serde_json::json;

    const NOW: i64 = 1_775_204_403_800;

    fn host(name: &str, answer: Answer) -> HostStatus {
        HostStatus {
            name: name.to_owned(),
            url: format!("http://{name}"),
            answer,
        }
    }

    fn module(status: &str, last_sync: i64, mode: &str) -> Answer {
        read_status(
            &json!({"status": status, "lastSync": last_sync, "operationMode": mode,
                    "version": "2.1.0", "dbState": {"blocked_cis": {"docCount": 5}}}),
            "v2",
        )
    }

    #[test]
    fn severities_order_and_exit_code() {
        let hour = 3_600_000;
        let statuses = vec![
            host("fresh", module("ready", NOW - 30_000, "active")),
            host("stale", module("ready", NOW - 2 * hour, "active")),
            host("service", module("ready", NOW, "service")),
            host("initialising", module("initialization", 0, "active")),
            host("broken", module("sync_error", NOW - 73 * hour, "active")),
            host(
                "gone",
                Answer::Unreachable {
                    error: "connection refused".into(),
                },
            ),
        ];
        let report = Report::new(&statuses, NOW, Duration::from_secs(3600));
        let order: Vec<(&str, Severity)> = report
            .hosts
            .iter()
            .map(|row| (row.name.as_str(), row.severity))
            .collect();
        assert_eq!(
            order,
            [
                ("broken", Severity::Error),
                ("gone", Severity::Error),
                ("stale", Severity::Warning),
                ("service", Severity::Warning),
                ("initialising", Severity::Warning),
                ("fresh", Severity::Ok),
            ]
        );
        assert_eq!(
            (report.ok, report.warning, report.error, report.exit_code),
            (1, 3, 2, 2)
        );
        assert_eq!(report.hosts[2].last_sync_age_secs, Some(7200));
        assert!(
            report.hosts[2]
                .note
                .as_deref()
                .unwrap_or("")
                .contains("2h00m ago")
        );

        let table = report.table();
        let first = table.lines().nth(1).unwrap_or("");
        assert!(
            first.starts_with("ERROR  broken") && first.contains("3d01h ago"),
            "{table}"
        );
        assert!(table.contains("connection refused"), "{table}");
        assert!(table.contains("blocked_cis=5"), "{table}");
        assert!(
            table.ends_with("6 hosts: 1 ok, 3 warning, 2 error\n"),
            "{table}"
        );

        let calm = Report::new(&statuses[..1], NOW, Duration::from_secs(3600));
        assert_eq!(calm.exit_code, 0);
        let warned = Report::new(&statuses[..2], NOW, Duration::from_secs(3600));
        assert_eq!(warned.exit_code, 1);
    }

    #[test]
    fn age_texts() {
        assert_eq!(age_text(45), "45s");
        assert_eq!(age_text(720), "12m");
        assert_eq!(age_text(3 * 3600 + 300), "3h05m");
        assert_eq!(age_text(2 * 86400 + 4 * 3600), "2d04h");
    }
}
