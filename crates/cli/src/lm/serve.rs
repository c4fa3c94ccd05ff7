//! `znak lm serve` and `znak lm passwd`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use lm::SystemClock;
use lm::api::admin::MIN_PASSWORD_LEN;
use lm::api::auth::{DEFAULT_LOGIN, is_factory_login};
use lm::api::{StoredCredentials, run};
use lm::settings::{Settings, default_data_dir};
use tokio_util::sync::CancellationToken;

use super::logging::{self, LogGuard};

#[derive(ClapArgs)]
pub struct ServeArgs {
    /// Address of the API (the official module's port is 5995). Default 127.0.0.1:5995.
    #[arg(long, env = "ZNAK_LM_LISTEN")]
    listen: Option<String>,
    /// Data directory (store, credentials). Default: ~/.local/share/znak/lm,
    /// %ProgramData%\znak\lm on Windows.
    #[arg(long, env = "ZNAK_LM_DATA")]
    data: Option<PathBuf>,
    /// The operator's service URL (registration at {service}/lm/v1/register).
    #[arg(long, env = "ZNAK_LM_SERVICE")]
    service: Option<String>,
    /// Config file (TOML; every key and its default is documented in the Debian package's
    /// /etc/znak/lm.toml). Flags win over the file.
    #[arg(long, env = "ZNAK_LM_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the rolling daily log file (config key log_dir); default: stderr only.
    #[arg(long, env = "ZNAK_LM_LOG_DIR")]
    log_dir: Option<PathBuf>,
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

impl ServeArgs {
    /// The config file (if any) with the flags laid over it.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = match &self.config {
            Some(path) => Settings::load(path)?,
            None => Settings::default(),
        };
        if let Some(listen) = &self.listen {
            settings.listen.clone_from(listen);
        }
        if let Some(data) = &self.data {
            settings.data = Some(data.clone());
        }
        if let Some(service) = &self.service {
            settings.service.clone_from(service);
        }
        if let Some(dir) = &self.log_dir {
            settings.log_dir = Some(dir.clone());
        }
        Ok(settings)
    }
}

/// Installs the logger the settings ask for.
pub fn init_logging(settings: &Settings) -> anyhow::Result<LogGuard> {
    logging::init(
        &settings.log_level,
        settings.log_dir.as_deref(),
        settings.log_keep_files,
    )
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings()?;
    let _log = init_logging(&settings)?;
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                shutdown.cancel();
            }
        }
    });
    #[cfg(unix)]
    tokio::spawn({
        // systemd stops a service with SIGTERM: finish open requests like on Ctrl-C.
        let shutdown = shutdown.clone();
        async move {
            use tokio::signal::unix::{SignalKind, signal};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                term.recv().await;
                shutdown.cancel();
            }
        }
    });
    serve_until(&settings, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the module with `settings` until `shutdown` is cancelled (Ctrl-C, SIGTERM, or the
/// Windows service control manager).
pub async fn serve_until(settings: &Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    if !settings.instance.is_empty() {
        return super::instances::serve_instances(settings, shutdown).await;
    }
    let config = settings.service_config();
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr().context("listener address")?;
    println!(
        "znak lm: API on http://{address}, data in {}",
        config.module.data_dir.display()
    );
    let _ = std::io::stdout().flush();
    tracing::info!(%address, data = %config.module.data_dir.display(), "module starting");
    run(config, Arc::new(SystemClock), listener, shutdown).await?;
    tracing::info!("module stopped");
    Ok(())
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
    if is_factory_login(&args.login, password) {
        bail!(
            "admin/admin is the factory login this command replaces; choose another password \
             (at least {MIN_PASSWORD_LEN} characters)"
        );
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        bail!("the password must be at least {MIN_PASSWORD_LEN} characters");
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
        let listen = lm::Settings::default().listen;
        assert_eq!(listen, lm::settings::DEFAULT_LISTEN);
        let address: std::net::SocketAddr = listen.parse().unwrap();
        assert!(address.ip().is_loopback());
    }
}
