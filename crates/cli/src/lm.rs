//! `znak lm`: the local module.
//!
//! `znak lm serve --listen 127.0.0.1:5995 --data DIR [--config FILE] [--log-dir DIR]` runs the module: the API
//! v1/v2 and the sync engine. `znak lm passwd --data DIR` sets the API login and password
//! (stored as an argon2id hash in DIR/credentials.toml; the password is read from stdin).
//!
//! `znak lm diag --data DIR [--url URL] --out FILE.tar.gz` writes one archive for support.
//!
//! `znak lm sync --data DIR --service URL --token T` registers (unless the data directory
//! already holds a registration), syncs every list until the module is `ready`, prints the
//! status as JSON and exits. Killed at any moment, the next run resumes from the checkpoints.

mod diag;
mod instances;
mod logging;
mod serve;
#[cfg(windows)]
mod service;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, Subcommand};
use lm::{InitRequest, Module, ModuleConfig, Status, SystemClock};
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: LmCommand,
}

#[derive(Subcommand)]
enum LmCommand {
    /// Register (if needed) and sync every list until the module is ready, then exit.
    Sync(SyncArgs),
    /// Run the module: API v1/v2 on --listen plus the sync engine, until Ctrl-C.
    Serve(serve::ServeArgs),
    /// Set the API login and password (the password is read from stdin).
    Passwd(serve::PasswdArgs),
    /// Write one .tar.gz for support: status, config (secrets masked), recent logs, store
    /// statistics and integrity check.
    Diag(diag::DiagArgs),
    /// The module as a Windows service: install, uninstall, or run (for the service manager).
    #[cfg(windows)]
    Service(service::ServiceArgs),
}

#[derive(ClapArgs)]
struct SyncArgs {
    /// Data directory of the module's store.
    #[arg(long, env = "ZNAK_LM_DATA")]
    data: PathBuf,
    /// The operator's service URL (registration at {service}/lm/v1/register).
    #[arg(long, env = "ZNAK_LM_SERVICE")]
    service: String,
    /// Participant token; needed only when the data directory holds no registration yet.
    #[arg(long, env = "ZNAK_LM_TOKEN")]
    token: Option<String>,
    /// Grey-GTIN mode (grey_gtin instead of blocked_cis) for a new registration.
    #[arg(long)]
    grey: bool,
    /// Documents per _changes request.
    #[arg(long, default_value_t = 10_000)]
    batch: u64,
    /// Changes gathered into one store transaction during a pull.
    #[arg(long, default_value_t = 100_000)]
    commit: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // `serve` and the service log as their config says; the others log to stderr.
    if matches!(
        args.command,
        LmCommand::Sync(_) | LmCommand::Passwd(_) | LmCommand::Diag(_)
    ) {
        let _ = logging::init("info", None, 1)?;
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match args.command {
        LmCommand::Sync(args) => runtime.block_on(sync(args)),
        LmCommand::Serve(args) => runtime.block_on(serve::serve(args)),
        LmCommand::Passwd(args) => serve::passwd(args),
        LmCommand::Diag(args) => runtime.block_on(diag::diag(args)),
        #[cfg(windows)]
        LmCommand::Service(args) => service::run(args),
    }
}

async fn sync(args: SyncArgs) -> anyhow::Result<ExitCode> {
    let mut config = ModuleConfig::new(&args.data, &args.service);
    config.batch_limit = args.batch;
    config.commit_changes = args.commit;
    let module = Module::open(config, Arc::new(SystemClock));
    let status = module.status();
    if status.status == Status::Failure {
        bail!(
            "the store in {} is unusable: {}",
            args.data.display(),
            status.failure.unwrap_or_default()
        );
    }
    if status.inst.is_none() {
        let Some(token) = args.token else {
            bail!(
                "{} holds no registration: pass --token",
                args.data.display()
            );
        };
        let request = InitRequest {
            token,
            clear_sold: false,
            enable_grey_list: args.grey,
        };
        module.init(request).await.context("init")?;
    }
    let shutdown = CancellationToken::new();
    let engine = tokio::spawn({
        let module = module.clone();
        let shutdown = shutdown.clone();
        async move { module.run(shutdown).await }
    });
    let done = module
        .wait_until(|s| {
            matches!(
                s.status,
                Status::Ready | Status::Failure | Status::NotConfigured
            )
        })
        .await;
    shutdown.cancel();
    engine.await.context("sync engine")?;
    let databases: serde_json::Map<_, _> = done
        .databases
        .iter()
        .map(|d| {
            (
                d.db.name().to_owned(),
                json!({"docCount": d.doc_count, "unmapped": d.unmapped}),
            )
        })
        .collect();
    let report = json!({
        "status": done.status.as_str(),
        "inst": done.inst,
        "dbVersion": done.db_version,
        "lastSync": done.last_sync,
        "dbState": databases,
        "error": done.failure.or(done.last_error),
    });
    println!("{report}");
    Ok(if done.status == Status::Ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
