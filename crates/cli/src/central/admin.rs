//! `znak central admin --url URL <command>`: the emulator's admin API from the shell. Bulk
//! commands send values in chunks (one transaction each) and print progress on stderr.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use central::chaos::ChaosSettings;
use central::client::AdminClient;
use central::issue::IssueSpec;
use central::store::Status;
use clap::{Args as ClapArgs, Subcommand, ValueEnum};

/// Values per admin request.
const CHUNK: usize = 100_000;

#[derive(ClapArgs)]
pub struct Args {
    /// Main host of the emulator.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "ZNAK_CENTRAL_URL"
    )]
    url: String,
    /// CA certificate to trust (the emulator under `serve --tls` prints its path, DATA/tls/ca.pem).
    #[arg(long, env = "ZNAK_CENTRAL_CA_FILE")]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Values from the command line and/or a file (one per line; `-` is stdin).
#[derive(ClapArgs)]
struct Values {
    values: Vec<String>,
    #[arg(long)]
    file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Create a participant token; prints the token on its last line. With --file (one INN a
    /// line, `-` for stdin) or several INNs: one token each, as `INN TOKEN` lines.
    Token {
        #[arg(long = "inn", value_name = "INN", required_unless_present = "file")]
        inns: Vec<String>,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Load the 21 sandbox test codes of the operator's guide.
    Sandbox,
    /// Issue codes of a product group; prints (or writes to --out) the full codes.
    Issue(IssueArgs),
    /// Block codes (KM or KI) for sale.
    Block {
        #[command(flatten)]
        codes: Values,
        /// Authority that blocked (RAR, FTS, FNS, RSHN, RPN, MVD, RZN, VETRF, RD, FSSP); repeatable.
        #[arg(long = "ogv")]
        ogvs: Vec<String>,
    },
    /// Unblock codes (they appear as deleted docs in blocked_cis).
    Unblock(Values),
    /// Block every code of GTINs.
    BlockGtin {
        #[command(flatten)]
        gtins: Values,
        /// Authority that blocked (as for `block`); repeatable.
        #[arg(long = "ogv")]
        ogvs: Vec<String>,
    },
    /// Unblock GTINs.
    UnblockGtin(Values),
    /// Set minimum prices of GTINs (kopecks): mrp for NCP/ATP, smp (ЕМЦ) for tobacco.
    Price {
        #[command(flatten)]
        gtins: Values,
        #[arg(long)]
        mrp: Option<u64>,
        #[arg(long)]
        smp: Option<u64>,
        /// Only for codes/check requests with this timeZone (1–11, FFD tag 1011); not in the
        /// min_price list. Without it the prices are the GTIN's (and replicated).
        #[arg(long)]
        zone: Option<u8>,
    },
    /// Mark codes as sold (withdrawn from circulation); with --units, sell that part of each
    /// (ml of a keg, g of dairy, pieces of a pack), which moves soldUnitCount.
    Sell {
        #[command(flatten)]
        codes: Values,
        #[arg(long)]
        units: Option<u64>,
    },
    /// Set the fault of a CDN host.
    Fault {
        /// CDN host number, 1-based as listed by cdn/info.
        #[arg(long)]
        host: usize,
        /// delay, hang, 429, 500, 504, 5000, 203, refuse or off.
        #[arg(long)]
        mode: String,
        /// Milliseconds, for mode delay.
        #[arg(long)]
        ms: Option<u64>,
    },
    /// Random faults of the replication side (the lists a module pulls): `on` with
    /// probabilities per request, `off`, or `show` (settings with seed, requests faulted per kind).
    Chaos(ChaosArgs),
    /// Switch the service-wide emergency mode (HTTP 203 everywhere).
    Emergency { state: OnOff },
    /// Show hosts, faults and database counts.
    Status,
}

#[derive(Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Clone, Copy, ValueEnum)]
enum ChaosState {
    On,
    Off,
    Show,
}

#[derive(ClapArgs)]
struct ChaosArgs {
    state: ChaosState,
    /// Probability of an added delay (0..=1), drawn on its own.
    #[arg(long, default_value_t = 0.0)]
    delay: f64,
    /// Longest added delay, ms (each delay is uniform up to it).
    #[arg(long, default_value_t = 500)]
    delay_ms: u64,
    /// Probability of HTTP 500 or 503 instead of the answer.
    #[arg(long, default_value_t = 0.0)]
    error: f64,
    /// Probability of the connection dropped after a random byte of the body.
    #[arg(long, default_value_t = 0.0)]
    reset: f64,
    /// Probability of a _changes body ending cleanly at a random byte.
    #[arg(long, default_value_t = 0.0)]
    truncate: f64,
    /// Probability of headers, then silence for --stall-ms, then a dropped connection.
    #[arg(long, default_value_t = 0.0)]
    stall: f64,
    #[arg(long, default_value_t = 600_000)]
    stall_ms: u64,
    /// Seed of the decisions (printed back; random when absent).
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Clone, Copy, ValueEnum)]
enum GsForm {
    /// The text `\u001d` (copy-paste safe; every znak command reads it).
    Escaped,
    /// The real GS byte 0x1D (for DataMatrix generators).
    Raw,
}

#[derive(ClapArgs)]
struct IssueArgs {
    /// Product group: name (milk, tobacco, …) or id.
    #[arg(long)]
    pg: String,
    #[arg(long)]
    count: usize,
    /// emitted, applied, introduced or sold.
    #[arg(long, default_value = "introduced")]
    status: String,
    /// Write the codes to this file instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    gtin: Option<String>,
    /// Tobacco: MRP in kopecks (pack field or AI 8005 of a block).
    #[arg(long)]
    mrp: Option<u32>,
    /// Tobacco: issue blocks (group packs of 10 with AI 8005) instead of packs.
    #[arg(long)]
    blocks: bool,
    #[arg(long)]
    owner: Option<String>,
    #[arg(long)]
    producer: Option<String>,
    /// Expiry date, YYYY-MM-DD (UTC).
    #[arg(long)]
    expire: Option<String>,
    /// Production date, YYYY-MM-DD (UTC); the moment of issue by default.
    #[arg(long)]
    produced: Option<String>,
    /// Also block every issued code right away (with --ogv authorities).
    #[arg(long)]
    block: bool,
    /// Authority that blocked (as for `block`); repeatable.
    #[arg(long = "ogv")]
    ogvs: Vec<String>,
    /// innerUnitCount of every code: ml of a beer keg, pieces in a pack (otp, perfumery,
    /// wheelchairs), g of dairy; such codes may be sold in parts (`sell --units`).
    #[arg(long)]
    inner_units: Option<u64>,
    /// Dairy (milk) by weight, grams: AI 3103 in the code and productWeight in codes/check.
    #[arg(long)]
    weight: Option<u32>,
    #[arg(long, value_enum, default_value = "escaped")]
    gs: GsForm,
}

/// Prints a line; a closed stdout (`| head`) ends the output quietly.
fn say(text: &str) -> anyhow::Result<()> {
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = match &args.ca_file {
        Some(ca_file) => AdminClient::with_ca_file(&args.url, ca_file)?,
        None => AdminClient::new(&args.url)?,
    };
    let print = |v: serde_json::Value| say(&serde_json::to_string_pretty(&v).unwrap_or_default());
    match args.command {
        Command::Token { inns, file } => {
            // One INN on the command line: the bare token, as scripts read it.
            let single = file.is_none() && inns.len() == 1;
            let inns = read_values(Values { values: inns, file })?;
            for inn in &inns {
                let token = client.token(inn).await?;
                match single {
                    true => say(&token)?,
                    false => say(&format!("{inn} {token}"))?,
                }
            }
        }
        Command::Sandbox => {
            let answer = client.sandbox().await?;
            for case in answer["cases"].as_array().into_iter().flatten() {
                let km = case["km"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('\u{1d}', "\\u001d");
                say(&format!(
                    "{:>2}  {:<60} {}",
                    case["case"],
                    km,
                    case["expect"].as_str().unwrap_or_default()
                ))?;
            }
        }
        Command::Issue(issue) => self::issue(&client, issue).await?,
        Command::Block { codes, ogvs } => {
            let ogvs = (!ogvs.is_empty()).then_some(ogvs);
            bulk("blocked", read_values(codes)?, |chunk| {
                client.block(chunk, ogvs.clone())
            })
            .await?
        }
        Command::Unblock(codes) => {
            bulk("unblocked", read_values(codes)?, |c| client.unblock(c)).await?
        }
        Command::BlockGtin { gtins, ogvs } => {
            let ogvs = (!ogvs.is_empty()).then_some(ogvs);
            bulk("blocked", read_values(gtins)?, |chunk| {
                client.block_gtin(chunk, ogvs.clone())
            })
            .await?
        }
        Command::UnblockGtin(gtins) => {
            bulk("unblocked", read_values(gtins)?, |c| client.unblock_gtin(c)).await?
        }
        Command::Price {
            gtins,
            mrp,
            smp,
            zone,
        } => {
            if mrp.is_none() && smp.is_none() {
                bail!("give --mrp and/or --smp (kopecks)");
            }
            match zone {
                Some(zone) => {
                    bulk("priced", read_values(gtins)?, |chunk| {
                        client.zone_price(chunk, zone, mrp, smp)
                    })
                    .await?
                }
                None => {
                    bulk("priced", read_values(gtins)?, |chunk| {
                        client.price(chunk, mrp, smp)
                    })
                    .await?
                }
            }
        }
        Command::Sell { codes, units } => {
            bulk("sold", read_values(codes)?, |c| client.sell_units(c, units)).await?
        }
        Command::Fault { host, mode, ms } => print(client.fault(host, &mode, ms).await?)?,
        Command::Chaos(chaos) => {
            let answer = match chaos.state {
                ChaosState::Show => client.chaos_report().await?,
                ChaosState::Off => client.chaos(None).await?,
                ChaosState::On => {
                    let settings = ChaosSettings {
                        delay: chaos.delay,
                        delay_ms: chaos.delay_ms,
                        error: chaos.error,
                        reset: chaos.reset,
                        truncate: chaos.truncate,
                        stall: chaos.stall,
                        stall_ms: chaos.stall_ms,
                        seed: chaos.seed,
                    };
                    client.chaos(Some(settings)).await?
                }
            };
            print(answer)?
        }
        Command::Emergency { state } => print(client.emergency(matches!(state, OnOff::On)).await?)?,
        Command::Status => print(client.status().await?)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn read_values(values: Values) -> anyhow::Result<Vec<String>> {
    let mut out = values.values;
    if let Some(path) = values.file {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            Box::new(BufReader::new(
                File::open(&path).with_context(|| format!("cannot read {}", path.display()))?,
            ))
        };
        for line in reader.lines() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            let value = line.trim();
            if !value.is_empty() {
                out.push(value.to_string());
            }
        }
    }
    if out.is_empty() {
        bail!("no values: give them as arguments or with --file");
    }
    Ok(out)
}

/// Sends `values` in chunks, printing progress; sums the `changed` counts.
async fn bulk<F, Fut>(verb: &str, values: Vec<String>, mut send: F) -> anyhow::Result<()>
where
    F: FnMut(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value, central::client::ClientError>>,
{
    let started = Instant::now();
    let total = values.len();
    let mut done = 0;
    let mut changed = 0;
    for chunk in values.chunks(CHUNK) {
        let answer = send(chunk.to_vec()).await?;
        done += chunk.len();
        changed += answer["changed"]
            .as_u64()
            .or(answer["sold"].as_u64())
            .unwrap_or(0);
        if total > CHUNK {
            eprintln!(
                "{verb} {done}/{total} ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    say(&format!(
        "{verb}: {changed} of {total} changed ({:.1} s)",
        started.elapsed().as_secs_f64()
    ))
}

/// A `YYYY-MM-DD` (UTC) option as ms, with the option's name in the error.
fn date_arg(option: &str, date: Option<&str>) -> anyhow::Result<Option<i64>> {
    date.map(|date| {
        central::check::parse_date(date)
            .with_context(|| format!("{option} {date}: expected YYYY-MM-DD"))
    })
    .transpose()
}

async fn issue(client: &AdminClient, args: IssueArgs) -> anyhow::Result<()> {
    if args.count == 0 {
        anyhow::bail!("--count 0: issue at least one code");
    }
    let group = args
        .pg
        .parse::<u16>()
        .ok()
        .and_then(marking::ProductGroup::by_id)
        .or_else(|| marking::ProductGroup::by_name(&args.pg))
        .with_context(|| {
            format!(
                "--pg {}: no such product group (names as in `cdn` groupIds: milk, tobacco, …)",
                args.pg
            )
        })?;
    let status = Status::parse(&args.status)
        .with_context(|| format!("--status {}: one of {}", args.status, Status::NAMES))?;
    let expire_ms = date_arg("--expire", args.expire.as_deref())?;
    let produced_ms = date_arg("--produced", args.produced.as_deref())?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let started = Instant::now();
    let spec = IssueSpec {
        pg: group.id,
        count: args.count,
        status,
        gtin: args.gtin.clone(),
        mrp: args.mrp,
        blocks: args.blocks,
        owner_inn: args.owner.clone(),
        producer_inn: args.producer.clone(),
        expire_ms,
        produced_ms,
        block: args.block.then(|| args.ogvs.clone()),
        inner_units: args.inner_units,
        weight_g: args.weight,
    };
    let mut run = client.issue_many(&spec, CHUNK);
    let mut done = 0;
    while let Some(codes) = run.next().await {
        let codes = codes?;
        for code in &codes {
            match args.gs {
                GsForm::Raw => writeln!(out, "{code}")?,
                GsForm::Escaped => writeln!(out, "{}", code.replace('\u{1d}', "\\u001d"))?,
            }
        }
        done += codes.len();
        if args.count > CHUNK || args.out.is_some() {
            eprintln!(
                "issued {done}/{} ({:.1} s)",
                args.count,
                started.elapsed().as_secs_f64()
            );
        }
    }
    out.flush()?;
    Ok(())
}
