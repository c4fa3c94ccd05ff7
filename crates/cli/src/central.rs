//! `znak central`: run the operator emulator (`serve`) or drive its admin API (`admin`).

mod admin;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, Subcommand};
use tokio::net::TcpListener;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the emulator: main host (cdn/info, registration, replication, admin) + CDN hosts.
    Serve(ServeArgs),
    /// Send a command to a running emulator's admin API.
    Admin(admin::Args),
}

#[derive(ClapArgs)]
struct ServeArgs {
    /// Address of the main host.
    #[arg(long, default_value = "127.0.0.1:8080", env = "ZNAK_CENTRAL_LISTEN")]
    listen: SocketAddr,
    /// Data directory (the store survives restarts).
    #[arg(long, env = "ZNAK_CENTRAL_DATA")]
    data: PathBuf,
    /// Number of CDN hosts, on the ports after the main one (0 = ephemeral ports).
    #[arg(long, default_value_t = 3, conflicts_with = "cdn_listen")]
    cdn_hosts: usize,
    /// Explicit CDN host addresses (repeatable) instead of --cdn-hosts.
    #[arg(long)]
    cdn_listen: Vec<SocketAddr>,
    /// Host name to advertise in URLs when listening on 0.0.0.0.
    #[arg(long)]
    advertise_host: Option<String>,
    /// HTTPS on every listener, signed by a CA made once into DATA/tls (its ca.pem is printed).
    #[arg(long)]
    tls: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match args.command {
        Command::Serve(serve_args) => runtime.block_on(serve(serve_args)),
        Command::Admin(admin_args) => runtime.block_on(admin::run(admin_args)),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let main = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let mut cdn_addrs = args.cdn_listen.clone();
    if cdn_addrs.is_empty() {
        if args.cdn_hosts == 0 {
            bail!("--cdn-hosts must be at least 1");
        }
        let base = main.local_addr()?;
        for i in 1..=args.cdn_hosts {
            let port = if args.listen.port() == 0 {
                0
            } else {
                base.port()
                    .checked_add(i as u16)
                    .context("CDN port beyond 65535")?
            };
            cdn_addrs.push(SocketAddr::new(base.ip(), port));
        }
    }
    let mut cdn = Vec::new();
    for addr in cdn_addrs {
        cdn.push(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (CDN host)"))?,
        );
    }
    let config = central::Config {
        advertise_host: args.advertise_host,
        tls: args.tls,
        ..central::Config::new(&args.data)
    };
    let listeners = central::Listeners { main, cdn };
    let urls = central::advertised_urls(&config, &listeners)?;
    let mut banner = format!("znak central: main host {}\n", urls.main);
    for (i, url) in urls.cdn.iter().enumerate() {
        banner.push_str(&format!("  CDN host {}: {url}\n", i + 1));
    }
    banner.push_str(&format!("  data: {}\n", args.data.display()));
    let mut admin = format!("znak central admin --url {}", urls.main);
    if args.tls {
        // Made here (once per data dir) so that its path can be printed before serving.
        let ca = central::tls::Ca::ensure(&args.data)?;
        banner.push_str(&format!("  CA file: {}\n", ca.pem_path.display()));
        admin.push_str(&format!(" --ca-file {}", ca.pem_path.display()));
    }
    banner.push_str(&format!("  admin: {admin} <command>"));
    // A closed stdout must not stop the server.
    let _ = writeln!(std::io::stdout().lock(), "{banner}");
    central::run(config, listeners, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
