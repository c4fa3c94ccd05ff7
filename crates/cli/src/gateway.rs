//! `znak gateway`: the till checker as a local HTTP service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use till::TillConfig;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on; loopback by default (till programs on this machine).
    #[arg(long, default_value = "127.0.0.1:5996")]
    listen: SocketAddr,
    /// The till checker's TOML config.
    #[arg(long, env = "ZNAK_TILL_CONFIG")]
    config: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = match TillConfig::load(&args.config) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("znak gateway: {err}");
            return Ok(ExitCode::from(2));
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        if !args.listen.ip().is_loopback() {
            eprintln!(
                "znak gateway: WARNING: listening on {} (not loopback) without TLS or \
                 authentication: anyone on the network can check and record sales",
                args.listen
            );
        }
        eprintln!(
            "znak gateway: listening on http://{}",
            listener.local_addr()?
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        till::gateway::run(config, listener, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: super::Args,
    }

    #[test]
    fn the_gateway_listens_on_loopback_by_default() {
        let cli = Cli::try_parse_from(["gateway", "--config", "till.toml"]).unwrap();
        assert!(cli.args.listen.ip().is_loopback(), "{}", cli.args.listen);
    }
}
