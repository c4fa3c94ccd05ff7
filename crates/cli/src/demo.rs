//! `znak demo`: the whole system on loopback in a temporary directory, with a printed timeline.

use std::process::ExitCode;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let summary = runtime.block_on(demo::run(std::io::stdout()))?;
    println!(
        "\ndemo finished in {:.1} s",
        summary.elapsed_ms as f64 / 1000.0
    );
    Ok(ExitCode::SUCCESS)
}
