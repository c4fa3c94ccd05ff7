//! `znak fleet --hosts FILE [--json] [--timeout SECS] [--stale-after SECS]`: polls every module
//! of the hosts file and prints a table, worst first (or JSON). Exit code for monitoring
//! systems: 0 all ready, 1 some warning, 2 some error or unreachable, 3 the hosts file or an
//! option is unusable.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args as ClapArgs;
use fleet::{PollOptions, Report, parse_hosts, poll_all};

#[derive(ClapArgs)]
pub struct Args {
    /// Hosts file: one module URL per line, or TOML `[[host]]` tables with url and optional
    /// name, login, password.
    #[arg(long)]
    hosts: PathBuf,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for each host (both API generations included).
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// A ready module whose last sync is older than this many seconds is a warning.
    #[arg(long, default_value_t = 3600)]
    stale_after: u64,
    /// Hosts polled at the same time.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

/// Exit code when the fleet could not be polled at all (as Nagios' UNKNOWN), so a monitoring
/// system tells a broken check from a broken fleet.
const UNUSABLE: u8 = 3;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match poll(args) {
        Ok(code) => Ok(code),
        Err(err) => {
            eprintln!("znak fleet: {err:#}");
            Ok(ExitCode::from(UNUSABLE))
        }
    }
}

fn poll(args: Args) -> anyhow::Result<ExitCode> {
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        anyhow::bail!(
            "--timeout must be between 0 and 3600 seconds, not {}",
            args.timeout
        );
    }
    let text = std::fs::read_to_string(&args.hosts)
        .with_context(|| format!("reading the hosts file {}", args.hosts.display()))?;
    let hosts =
        parse_hosts(&text).with_context(|| format!("hosts file {}", args.hosts.display()))?;
    let options = PollOptions {
        timeout: Duration::from_secs_f64(args.timeout),
        concurrency: args.concurrency,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let statuses = runtime.block_on(poll_all(&hosts, options));
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        });
    let report = Report::new(&statuses, now_ms, Duration::from_secs(args.stale_after));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(ExitCode::from(report.exit_code))
}
