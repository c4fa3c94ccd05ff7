//! `znak`: one binary, thin subcommands over the libraries.

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Code(args) => code::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("znak: {err:#}");
            ExitCode::FAILURE
        }
    }
}
