//! Several modules in one process: each instance has its own port, data directory (store and
//! credentials), participant INN and tokens — the official module needs one installation per
//! legal entity. [`run_instances`] serves them side by side; they share nothing but the runtime.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::live::{RunError, ServiceConfig, run};

/// One instance to serve.
#[derive(Debug)]
pub struct Instance {
    /// Name for logs and errors (the config's `name`, or its position).
    pub name: String,
    pub config: ServiceConfig,
    pub listener: TcpListener,
}

/// Why one of several instances stopped.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("instance {name}: {source}")]
    Run {
        name: String,
        #[source]
        source: RunError,
    },
    #[error("an instance's task failed: {0}")]
    Task(String),
}

/// Serves every instance until `shutdown` is cancelled. When one fails (its credentials file
/// is unreadable, its default login is refused off loopback, …) the others are stopped too and
/// the first failure is returned, so a service manager sees the whole process fail.
pub async fn run_instances(
    instances: Vec<Instance>,
    clock: Arc<dyn crate::Clock>,
    shutdown: CancellationToken,
) -> Result<(), InstanceError> {
    let stop = shutdown.child_token();
    let mut running = tokio::task::JoinSet::new();
    for instance in instances {
        let clock = clock.clone();
        let stop = stop.clone();
        running.spawn(async move {
            let span = tracing::info_span!("instance", name = %instance.name);
            let outcome = tracing::Instrument::instrument(
                run(instance.config, clock, instance.listener, stop),
                span,
            )
            .await;
            outcome.map_err(|source| InstanceError::Run {
                name: instance.name,
                source,
            })
        });
    }
    let mut first_error = None;
    while let Some(joined) = running.join_next().await {
        let outcome = match joined {
            Ok(outcome) => outcome,
            Err(err) => Err(InstanceError::Task(err.to_string())),
        };
        if let Err(err) = outcome {
            tracing::error!(error = %err, "instance stopped; stopping the others");
            stop.cancel();
            first_error.get_or_insert(err);
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(()),
    }
}
