//! `znak code`: show what the marking library reads from a code.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use marking::{CodeError, MarkingCode};
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct Args {
    /// The code as scanned or transported (GS as a byte, `\u001d`, `<GS>`, brackets, Base64…).
    #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
    input: Option<String>,
    /// Read one code per line from standard input and write one JSON object per line.
    #[arg(long)]
    stdin: bool,
}

/// Exit status for a code that cannot be read, as for other usage errors.
const INVALID_INPUT: u8 = 2;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.stdin {
        return run_lines();
    }
    let input = args.input.unwrap_or_default();
    match MarkingCode::parse(&input) {
        Ok(code) => {
            println!("{}", describe(&code));
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("znak code: {err}");
            Ok(ExitCode::from(INVALID_INPUT))
        }
    }
}

fn run_lines() -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Lines are read as bytes: a Latin-1 FNC1 (0xE8) is not valid UTF-8 but is a valid prefix.
    for line in stdin.split(b'\n') {
        let line = line.context("reading standard input")?;
        if line.trim_ascii().is_empty() {
            continue;
        }
        let object = match MarkingCode::parse(&line) {
            Ok(code) => describe(&code),
            Err(err) => error_object(&err),
        };
        writeln!(out, "{object}").context("writing standard output")?;
    }
    out.flush().context("writing standard output")?;
    Ok(ExitCode::SUCCESS)
}

fn describe(code: &MarkingCode) -> Value {
    let elements: serde_json::Map<String, Value> = code
        .elements()
        .map(|(ai, value)| (ai.to_owned(), Value::from(value)))
        .collect();
    json!({
        "km": code.km(),
        "ki": code.ki(),
        "gtin": code.gtin(),
        "serial": code.serial(),
        "format": code.format().as_str(),
        "mrp": code.mrp(),
        "pg_hint": code.pg_hint().map(|g| g.id),
        "pg_hint_name": code.pg_hint().map(|g| g.name),
        "has_crypto": code.has_crypto(),
        "elements": elements,
    })
}

fn error_object(err: &CodeError) -> Value {
    json!({ "error": err.to_string() })
}
