//! `znak`: one binary, thin subcommands over the libraries.

mod central;
mod check;
mod code;
mod demo;
mod fleet;
mod gateway;
mod lm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "znak",
    version,
    about = "Chestny Znak local module, till checker and operator emulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator emulator, a local module and a till session on loopback, and narrate.
    Demo(demo::Args),
    /// Parse a marking code (or one per line with --stdin) and print it as JSON.
    Code(code::Args),
    /// The operator emulator: `serve` it, or drive it with `admin`.
    Central(Box<central::Args>),
    /// Check one marking code before a sale: online ∥ local module, decision and tag 1265.
    Check(check::Args),
    /// Serve the till checker over local HTTP for till programs (POST /check, /sold, /returned).
    Gateway(gateway::Args),
    /// The local module.
    Lm(lm::Args),
    /// Poll many modules' status (ours or the official one) and print a table, worst first.
    /// Exit code: 0 all ready, 1 some warning, 2 some error or unreachable.
    Fleet(fleet::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo narrates on stdout; the fault warnings it provokes on purpose would drown it.
    // `znak lm` sets up its own logging (a service's log level and file come from its config).
    match cli.command {
        Command::Lm(_) => ::lm::memory::limit_malloc_arenas(),
        Command::Demo(_) => init_logging("error"),
        _ => init_logging("warn"),
    }
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Code(args) => code::run(args),
        Command::Central(args) => central::run(*args),
        Command::Check(args) => check::run(args),
        Command::Gateway(args) => gateway::run(args),
        Command::Lm(args) => lm::run(args),
        Command::Fleet(args) => fleet::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("znak: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default level.
fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
