//! `znak lm service install|uninstall|run` — the module as a Windows service (Windows only).
//!
//! `install` registers the service `znak-lm` (automatic start, restart on failure) running
//! `znak.exe lm service run --config <file>`, and writes a config file if there is none
//! (`%ProgramData%\znak\lm.toml`: data in `%ProgramData%\znak\lm`, logs in
//! `%ProgramData%\znak\log`). `run` is what the service control manager starts: the same module
//! as `znak lm serve`, stopped by the manager's Stop/Shutdown through the cancellation token,
//! logging to a daily rolling file (a service has no console).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, Subcommand};
use lm::Settings;
use tokio_util::sync::CancellationToken;
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

use super::serve::{init_logging, serve_until};

/// The service's name for `sc.exe` and the Services console.
pub const SERVICE_NAME: &str = "znak-lm";
const DISPLAY_NAME: &str = "znak local module";
const DESCRIPTION: &str =
    "Chestny Znak local module (API v1/v2 on port 5995, list sync). Config: the --config file.";

#[derive(ClapArgs)]
pub struct ServiceArgs {
    #[command(subcommand)]
    command: ServiceCommand,
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// Register the Windows service znak-lm (run as Administrator).
    Install {
        /// Config file the service reads (written with defaults when missing).
        /// Default: %ProgramData%\znak\lm.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Stop and remove the Windows service znak-lm (the data stays).
    Uninstall,
    /// Entry point for the service control manager (not for interactive use).
    Run {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn program_data() -> PathBuf {
    std::env::var_os("ProgramData").map_or_else(|| PathBuf::from(r"C:\ProgramData"), PathBuf::from)
}

fn default_config() -> PathBuf {
    program_data().join("znak").join("lm.toml")
}

pub fn run(args: ServiceArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ServiceCommand::Install { config } => install(&config.unwrap_or_else(default_config)),
        ServiceCommand::Uninstall => uninstall(),
        ServiceCommand::Run { config } => {
            let _ = CONFIG.set(config.unwrap_or_else(default_config));
            service_dispatcher::start(SERVICE_NAME, ffi_service_main).context(
                "not started by the service control manager: install the service with \
                 `znak lm service install`, then `sc start znak-lm`; to run the module in a \
                 console use `znak lm serve`",
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The config file named on the service's command line (set before the dispatcher starts).
static CONFIG: OnceLock<PathBuf> = OnceLock::new();

define_windows_service!(ffi_service_main, service_main);

fn service_main(_arguments: Vec<OsString>) {
    // Errors before the log is set up have nowhere else to go: the manager records the exit code.
    if let Err(err) = run_service() {
        tracing::error!("the service stopped with an error: {err:#}");
    }
}

fn settings() -> anyhow::Result<Settings> {
    let path = CONFIG.get().cloned().unwrap_or_else(default_config);
    let mut settings = Settings::load(&path)?;
    if settings.log_dir.is_none() {
        settings.log_dir = Some(program_data().join("znak").join("log"));
    }
    Ok(settings)
}

fn run_service() -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let handle = service_control_handler::register(SERVICE_NAME, move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            stop.cancel();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    })
    .context("registering the service control handler")?;
    let status = |state, accept, code| ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: ServiceExitCode::Win32(code),
        checkpoint: 0,
        wait_hint: Duration::from_secs(30),
        process_id: None,
    };
    let result = (|| {
        let settings = settings()?;
        let _log = init_logging(&settings)?;
        handle.set_service_status(status(
            ServiceState::Running,
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
            0,
        ))?;
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        runtime.block_on(serve_until(&settings, shutdown))
    })();
    if let Err(err) = &result {
        tracing::error!("znak lm service: {err:#}");
    }
    // ERROR_SERVICE_SPECIFIC_ERROR-style code 1 tells the manager to apply the restart action.
    let code = u32::from(result.is_err());
    handle.set_service_status(status(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        code,
    ))?;
    result
}

fn install(config: &Path) -> anyhow::Result<ExitCode> {
    if !config.exists() {
        let base = program_data().join("znak");
        let text = format!(
            "# znak local module (Windows service znak-lm). Every key and its default is documented\n\
             # in packaging/lm.toml of the source and in the README.\n\
             data = {:?}\nlog_dir = {:?}\n",
            base.join("lm").display().to_string(),
            base.join("log").display().to_string(),
        );
        if let Some(parent) = config.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(config, text).with_context(|| format!("writing {}", config.display()))?;
        println!("znak lm service: wrote {}", config.display());
    }
    // Refuse a config the service could not start with, before registering anything.
    Settings::load(config)?;
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .context("connecting to the service control manager (run as Administrator)")?;
    let info = ServiceInfo {
        name: OsString::from(SERVICE_NAME),
        display_name: OsString::from(DISPLAY_NAME),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: std::env::current_exe().context("the path of znak.exe")?,
        launch_arguments: vec![
            OsString::from("lm"),
            OsString::from("service"),
            OsString::from("run"),
            OsString::from("--config"),
            config.as_os_str().to_owned(),
        ],
        dependencies: vec![],
        account_name: None, // LocalSystem, as the official module's service
        account_password: None,
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::START)
        .context("creating the service (does it exist already? `znak lm service uninstall`)")?;
    service.set_description(DESCRIPTION)?;
    let restart = ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(5),
    };
    service.update_failure_actions(ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
        reboot_msg: None,
        command: None,
        actions: Some(vec![restart.clone(), restart.clone(), restart]),
    })?;
    service.set_failure_actions_on_non_crash_failures(true)?;
    println!(
        "znak lm service: installed {SERVICE_NAME} (config {}); start it with `sc start {SERVICE_NAME}`",
        config.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn uninstall() -> anyhow::Result<ExitCode> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .context("connecting to the service control manager (run as Administrator)")?;
    let service = manager
        .open_service(
            SERVICE_NAME,
            ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
        )
        .with_context(|| format!("opening the service {SERVICE_NAME} (is it installed?)"))?;
    if service.query_status()?.current_state != ServiceState::Stopped {
        service.stop()?;
        for _ in 0..60 {
            if service.query_status()?.current_state == ServiceState::Stopped {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    service.delete()?;
    if service.query_status()?.current_state != ServiceState::Stopped {
        bail!("{SERVICE_NAME} is marked for deletion but still stopping; it goes when it stops");
    }
    println!("znak lm service: removed {SERVICE_NAME} (the data directory is kept)");
    Ok(ExitCode::SUCCESS)
}
