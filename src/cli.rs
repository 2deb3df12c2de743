//! The `kessai` command line.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kessai",
    version,
    about = "A payment gateway: one gRPC contract in front of Smartpay, PAY.JP v2 and PaymentOptions"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API (the default). Configured by KESSAI_* variables.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Serve only the provider simulators, as a process of their own (for
    /// tests that stop kessai while "the providers" keep their state).
    Sandbox {
        /// Where to listen; port 0 picks a free port (logged at start).
        #[arg(long, env = "KESSAI_SANDBOX_ADDR", default_value = "127.0.0.1:8089")]
        addr: SocketAddr,
    },
}
