//! `znak`: one binary, thin subcommands over the libraries.

mod central;
mod code;

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
    /// Parse a marking code (or one per line with --stdin) and print it as JSON.
    Code(code::Args),
    /// The operator emulator: `serve` it, or drive it with `admin`.
    Central(Box<central::Args>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Code(args) => code::run(args),
        Command::Central(args) => central::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("znak: {err:#}");
            ExitCode::FAILURE
        }
    }
}
