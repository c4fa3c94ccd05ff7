//! `znak lm serve` and `znak lm passwd`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use lm::api::{ServiceConfig, StoredCredentials, auth::DEFAULT_LOGIN, run};
use lm::{ModuleConfig, Poll, SystemClock};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// Service URL used when neither flag nor config names one: a local `znak central`.
const DEFAULT_SERVICE: &str = "http://127.0.0.1:8080";
const DEFAULT_LISTEN: &str = "127.0.0.1:5995";

#[derive(ClapArgs)]
pub struct ServeArgs {
    /// Address of the API (the official module's port is 5995).
    #[arg(long, env = "ZNAK_LM_LISTEN")]
    listen: Option<String>,
    /// Data directory (store, credentials). Default: ~/.local/share/znak/lm,
    /// %ProgramData%\znak\lm on Windows.
    #[arg(long, env = "ZNAK_LM_DATA")]
    data: Option<PathBuf>,
    /// The operator's service URL (registration at {service}/lm/v1/register).
    #[arg(long, env = "ZNAK_LM_SERVICE")]
    service: Option<String>,
    /// TOML file: listen, data, service, tokens = ["<uuid>", ...], request_timeout_secs,
    /// poll_secs. Flags win over the file.
    #[arg(long, env = "ZNAK_LM_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(ClapArgs)]
pub struct PasswdArgs {
    /// Data directory of the module.
    #[arg(long, env = "ZNAK_LM_DATA")]
    data: Option<PathBuf>,
    /// Login for Basic auth.
    #[arg(long, default_value = DEFAULT_LOGIN)]
    login: String,
}

/// `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data: Option<PathBuf>,
    service: Option<String>,
    #[serde(default)]
    tokens: Vec<uuid::Uuid>,
    request_timeout_secs: Option<u64>,
    poll_secs: Option<u64>,
}

fn read_config(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid config", path.display()))
}

fn default_data_dir() -> PathBuf {
    if cfg!(windows)
        && let Some(base) = std::env::var_os("ProgramData")
    {
        return PathBuf::from(base).join("znak").join("lm");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/znak/lm"),
        None => PathBuf::from("znak-lm"),
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let file = read_config(args.config.as_deref())?;
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let data = args.data.or(file.data).unwrap_or_else(default_data_dir);
    let service = args
        .service
        .or(file.service)
        .unwrap_or_else(|| DEFAULT_SERVICE.to_owned());
    let mut module = ModuleConfig::new(&data, service);
    if let Some(seconds) = file.poll_secs {
        module.poll = Poll::Interval(Duration::from_secs(seconds.max(1)));
    }
    let mut config = ServiceConfig::new(module);
    config.tokens = file.tokens;
    if let Some(seconds) = file.request_timeout_secs {
        config.request_timeout = Duration::from_secs(seconds.max(1));
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr().context("listener address")?;
    println!(
        "znak lm: API on http://{address}, data in {}",
        data.display()
    );
    let _ = std::io::stdout().flush();
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                shutdown.cancel();
            }
        }
    });
    run(config, Arc::new(SystemClock), listener, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

pub fn passwd(args: PasswdArgs) -> anyhow::Result<ExitCode> {
    let data = args.data.unwrap_or_else(default_data_dir);
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("new password for {}: ", args.login);
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("the password is empty: pass it on stdin, e.g. `echo 'secret' | znak lm passwd`");
    }
    let stored = StoredCredentials::new(&args.login, password)?;
    let path = stored.save(&data)?;
    println!(
        "znak lm: login {} set in {} (restart the module to apply)",
        args.login,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_module_listens_on_loopback_by_default() {
        let address: std::net::SocketAddr = super::DEFAULT_LISTEN.parse().unwrap();
        assert!(address.ip().is_loopback());
    }
}
