//! The `trellis-server` binary: settings, telemetry, serve until SIGTERM or
//! Ctrl-C.

use anyhow::Context;
use clap::Parser;
use tracing::info;
use trellis_server::{Application, ServiceName, Settings, settings::Flags, telemetry::init_telemetry};

// glibc's malloc serializes the many small allocations of gRPC and
// database rows across threads; mimalloc keeps them thread-local.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load(Flags::parse())
        .map_err(anyhow::Error::msg)
        .context("reading settings")?;
    // Traces name their service: OTEL_SERVICE_NAME, or the services run here.
    let service_name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| {
        if settings.services.len() == ServiceName::ALL.len() {
            "trellis".to_owned()
        } else {
            let names: Vec<&str> = settings.services.iter().map(|service| service.as_str()).collect();
            format!("trellis-{}", names.join("-"))
        }
    });
    let telemetry = init_telemetry(&service_name).map_err(anyhow::Error::msg)?;
    let app = Application::build(settings).await?;
    let services: Vec<&str> = app.services().iter().map(|service| service.as_str()).collect();
    info!(services = %services.join(","), "trellis-server ready on {}", app.local_addr());
    app.run_until_stopped(shutdown_signal()).await?;
    telemetry.shutdown();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
