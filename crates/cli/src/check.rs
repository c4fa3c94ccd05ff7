//! `znak check`: one marking code through the till checker, one JSON object out.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use till::{CheckRequest, Checker, TillConfig};

#[derive(clap::Args)]
pub struct Args {
    /// The scanned marking code (KM, with its crypto tail; `\u001d` or <GS> for separators).
    km: String,
    /// Sale price of the item in kopecks, after discounts.
    #[arg(long)]
    price: Option<u64>,
    /// Product group id (protocol.md §1.9), when the till knows it.
    #[arg(long)]
    pg: Option<u16>,
    /// Partial sale (draft beer, …): how much of the item, in the units of `innerUnitCount`.
    #[arg(long)]
    quantity: Option<u64>,
    /// The items already on this receipt, as JSON: `[{"km": "…", "quantity": 500}, …]`
    /// (`quantity` only for parts). Enables the receipt rules (no code twice, parts ≤ rest).
    #[arg(long)]
    receipt: Option<String>,
    /// The till checker's TOML config.
    #[arg(long, env = "ZNAK_TILL_CONFIG")]
    config: PathBuf,
}

/// Exit 0 allow, 1 forbid or no check, 2 bad input or config.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = match TillConfig::load(&args.config) {
        Ok(c) => c,
        Err(err) => return Ok(usage_error(&err)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let checker = match Checker::new(config) {
            Ok(c) => c,
            Err(err) => return Ok(usage_error(&err)),
        };
        // First run on this machine: fetch and measure the CDN list before the first check.
        if checker.state().fetched_at_ms.is_none() {
            checker.maintain().await;
        }
        let receipt = match args.receipt.as_deref().map(serde_json::from_str) {
            None => Vec::new(),
            Some(Ok(items)) => items,
            Some(Err(err)) => return Ok(usage_error(&format!("--receipt: {err}"))),
        };
        let request = CheckRequest {
            km: args.km,
            price: args.price,
            pg: args.pg,
            quantity: args.quantity,
            receipt,
        };
        let checked = checker.check(request).await;
        // A one-shot process: what it learnt about the CDN hosts goes to the file before exit.
        if let Err(err) = checker.flush_state() {
            eprintln!("znak check: warning: {err}");
        }
        match checked {
            Ok(outcome) => {
                println!("{}", serde_json::to_string_pretty(&outcome)?);
                Ok(ExitCode::from(outcome.exit_code()))
            }
            Err(err) => Ok(usage_error(&err)),
        }
    })
}

fn usage_error(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("znak check: {err}");
    ExitCode::from(2)
}
