use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use kessai::cli::{Cli, Command};
use kessai::clock::SystemClock;
use kessai::config::Config;
use kessai::startup::{Application, connect_store, install_crypto_provider};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("kessai: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    kessai::telemetry::init(config.log_format, &config.log_filter);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(config = %config.redacted(), "starting kessai");
    let app = Application::build(config, Arc::new(SystemClock)).await?;
    app.run_until_stopped(termination()).await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    install_crypto_provider();
    connect_store(&config).await?.migrate().await?;
    tracing::info!("migrations applied");
    Ok(())
}

/// SIGTERM (Kubernetes) or Ctrl-C.
async fn termination() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
