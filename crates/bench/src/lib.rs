//! Shared helpers for the benchmark binaries in `src/bin/`: a plain-text table and the
//! machine/date header every result in docs/BENCHMARKS.md carries.

pub mod http1;
pub mod synthetic_source;

use std::fmt::Write as _;
use std::time::Duration;

/// A fixed-width text table, printed as Markdown so it can be pasted into docs/BENCHMARKS.md.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .chain(std::iter::once(&self.header[i]))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            out.push('|');
            for (c, w) in cells.iter().zip(&widths) {
                let _ = write!(out, " {c:<w$} |");
            }
            out.push('\n');
        };
        line(&self.header, &mut out);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&rule, &mut out);
        for r in &self.rows {
            line(r, &mut out);
        }
        out
    }
}

/// "2026-11-24, 2 cores, <cpu model>": the context every recorded number needs.
pub fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown cpu".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{date}, {cores} cores, {cpu}")
}

/// Operations per second, rounded for the table.
pub fn rate(count: usize, elapsed: Duration) -> String {
    let per_sec = count as f64 / elapsed.as_secs_f64().max(1e-9);
    if per_sec >= 1e6 {
        format!("{:.2} M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1} k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0} /s")
    }
}

/// Nanoseconds per operation.
pub fn ns_per_op(count: usize, elapsed: Duration) -> String {
    format!("{:.0} ns", elapsed.as_nanos() as f64 / count.max(1) as f64)
}

/// Bytes of a module's lists on disk: `lists.redb` plus the `blocked_cis` segment files.
pub fn list_store_bytes(dir: &std::path::Path) -> u64 {
    let segments = std::fs::read_dir(dir.join("blocked_cis.segments"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .map(|m| m.len())
                .sum::<u64>()
        })
        .unwrap_or(0);
    std::fs::metadata(dir.join("lists.redb")).map_or(0, |m| m.len()) + segments
}

/// The 1-, 5- and 15-minute load averages as `/proc/loadavg` gives them; `None` where it cannot
/// be read. Every figure in docs/BENCHMARKS.md carries it.
pub fn load_average() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg").ok().map(|text| {
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// A `/proc/{pid}/status` field in kB (`"VmRSS:"`, `"VmHWM:"`) as MiB; `pid` may be `"self"`.
pub fn proc_status_mib(pid: &str, field: &str) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|line| line.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()
        .map(|kib| kib / 1024.0)
}
