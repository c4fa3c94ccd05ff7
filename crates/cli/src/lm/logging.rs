//! Where `znak lm` logs: stderr always (the journal under systemd), and a rolling daily file
//! when the config names a `log_dir` (a Windows service has no stderr; `znak lm diag` collects
//! the files).

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;
use lm::settings::LOG_FILE_PREFIX;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the file writer's background thread; dropping it flushes the file.
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

/// Installs the process's logger: `RUST_LOG` wins over `level`.
pub fn init(level: &str, dir: Option<&Path>, keep_files: usize) -> anyhow::Result<LogGuard> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .with_context(|| format!("RUST_LOG={directives:?} is not a valid log filter"))?,
        _ => EnvFilter::try_new(level)
            .with_context(|| format!("log_level {level:?} is not a valid log filter"))?,
    };
    // Colour only on a terminal, and never with a file: fmt layers share the formatted span
    // fields, so a colouring layer would put escape codes into the file too.
    let colour = dir.is_none() && std::io::stderr().is_terminal();
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let Some(dir) = dir else {
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(stderr)
            .try_init();
        return Ok(LogGuard { _file: None });
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the log directory {}", dir.display()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(LOG_FILE_PREFIX)
        .max_log_files(keep_files.max(1))
        .build(dir)
        .with_context(|| format!("cannot open a log file in {}", dir.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let file = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(file)
        .try_init();
    Ok(LogGuard { _file: Some(guard) })
}
