use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use kessai::cli::{Cli, Command, SandboxCommand};
use kessai::clock::SystemClock;
use kessai::config::Config;
#[cfg(feature = "sandbox")]
use kessai::config::{InMemoryBecause, SandboxState};
use kessai::operator;
#[cfg(feature = "sandbox")]
use kessai::sandbox::{Sandbox, SandboxOptions};
use kessai::startup::{Application, connect_store};
use kessai::telemetry::LogTo;
use kessai::tls_provider::install_crypto_provider;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    let operator = matches!(
        command,
        Command::Orders { .. }
            | Command::Reconcile { .. }
            | Command::Sandbox {
                command: Some(SandboxCommand::Reset { .. }),
                ..
            }
    );
    kessai::telemetry::init_from_env(if operator {
        LogTo::Stderr
    } else {
        LogTo::Stdout
    });
    let code = run(command).await;
    kessai::telemetry::shutdown();
    code
}

async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Sandbox {
            addr,
            state,
            command: None,
        } => sandbox(addr, state).await,
        Command::Sandbox {
            state,
            command: Some(SandboxCommand::Reset { yes }),
            ..
        } => match config() {
            Ok(config) => return operated(operator::reset(&config, state.as_deref(), yes).await),
            Err(code) => return code,
        },
        Command::Serve => match config() {
            Ok(config) => serve(config).await,
            Err(code) => return code,
        },
        Command::Migrate => match config() {
            Ok(config) => migrate(config).await,
            Err(code) => return code,
        },
        Command::Orders { command } => match config() {
            Ok(config) => return operated(operator::orders(command, &config).await),
            Err(code) => return code,
        },
        Command::Reconcile { order_id, output } => match config() {
            Ok(config) => {
                return operated(operator::reconcile(&order_id, output, &config).await);
            }
            Err(code) => return code,
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// An operator command's error goes to standard error, its result having
/// gone to standard output.
fn operated(result: Result<(), operator::OperatorError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kessai: {error}");
            error.exit_code()
        }
    }
}

fn config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|error| {
        eprintln!("kessai: configuration error: {error}");
        ExitCode::from(2)
    })
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!("starting kessai {}", env!("CARGO_PKG_VERSION"));
    for line in config.summary() {
        tracing::info!("{line}");
    }
    let app = Application::build(config, Arc::new(SystemClock)).await?;
    app.run_until_stopped(termination()).await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    install_crypto_provider();
    connect_store(&config).await?.migrate().await?;
    tracing::info!("migrations applied");
    Ok(())
}

/// `kessai sandbox`: the books in memory unless `state` names a file.
#[cfg(feature = "sandbox")]
async fn sandbox(addr: std::net::SocketAddr, state: Option<String>) -> anyhow::Result<()> {
    let state = state.map_or(SandboxState::Memory(InMemoryBecause::Asked), |value| {
        SandboxState::parse(&value)
    });
    tracing::info!("{state}");
    let options = SandboxOptions {
        state: state.path().map(ToOwned::to_owned),
    };
    let sandbox = Sandbox::start_with(addr, Arc::new(SystemClock), options).await?;
    tracing::info!(
        addr = %sandbox.addr(),
        payjp = %sandbox.payjp_base_url(),
        smartpay = %sandbox.smartpay_base_url(),
        paymentoptions = %sandbox.paymentoptions_base_url(),
        "sandbox serving"
    );
    termination().await;
    sandbox.stop().await;
    Ok(())
}

#[cfg(not(feature = "sandbox"))]
async fn sandbox(_: std::net::SocketAddr, _: Option<String>) -> anyhow::Result<()> {
    anyhow::bail!(kessai::startup::SANDBOX_NOT_BUILT)
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
