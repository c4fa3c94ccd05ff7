//! `znak lm diag [--config FILE] [--data DIR] [--url URL] --out FILE.tar.gz`: one archive for
//! support (status, masked config, recent logs, store statistics); see `lm::diag`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args as ClapArgs;
use lm::Settings;
use lm::diag::{DiagRequest, write_archive};

#[derive(ClapArgs)]
pub struct DiagArgs {
    /// The module's config file (/etc/znak/lm.toml for the Debian package's service).
    #[arg(long, env = "ZNAK_LM_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides the config's `data`).
    #[arg(long, env = "ZNAK_LM_DATA")]
    data: Option<PathBuf>,
    /// Base URL of the running module (default: from the config's `listen`).
    #[arg(long)]
    url: Option<String>,
    /// Log directory (overrides the config's `log_dir`).
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// The archive to write (.tar.gz).
    #[arg(long)]
    out: PathBuf,
}

pub async fn diag(args: DiagArgs) -> anyhow::Result<ExitCode> {
    let mut settings = match &args.config {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };
    if let Some(data) = args.data {
        settings.data = Some(data);
    }
    if let Some(dir) = args.log_dir {
        settings.log_dir = Some(dir);
    }
    let request = DiagRequest {
        settings,
        config_path: args.config,
        url: args.url,
        timeout: Duration::from_secs(3),
    };
    let summary = write_archive(&request, &args.out)
        .await
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "znak lm diag: wrote {} (status from the {})",
        args.out.display(),
        if summary.status_source == "api" {
            "running module"
        } else {
            "store: the module did not answer"
        }
    );
    for entry in summary.entries {
        println!("  {entry}");
    }
    Ok(ExitCode::SUCCESS)
}
