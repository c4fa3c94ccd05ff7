//! `[[instance]]` tables of `znak lm serve --config FILE`: several modules in one process, each
//! with its own port, data directory (store, credentials), participant INN and tokens.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use lm::SystemClock;
use lm::api::{Instance, run_instances};
use lm::settings::Settings;
use tokio_util::sync::CancellationToken;

/// Binds every instance, prints each address, serves them all until `shutdown`.
pub async fn serve_instances(
    settings: &Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let planned = settings
        .instances()
        .map_err(anyhow::Error::msg)
        .context("the [[instance]] tables")?;
    let mut instances = Vec::with_capacity(planned.len());
    for plan in planned {
        let listener = tokio::net::TcpListener::bind(&plan.listen)
            .await
            .with_context(|| format!("instance {}: cannot listen on {}", plan.name, plan.listen))?;
        let address = listener.local_addr().context("listener address")?;
        println!(
            "znak lm {}: API on http://{address}, data in {}",
            plan.name,
            plan.config.module.data_dir.display()
        );
        tracing::info!(instance = %plan.name, %address, "module instance starting");
        instances.push(Instance {
            name: plan.name,
            config: plan.config,
            listener,
        });
    }
    let _ = std::io::stdout().flush();
    run_instances(instances, Arc::new(SystemClock), shutdown).await?;
    tracing::info!("module instances stopped");
    Ok(())
}
