//! The `kessai` command line.

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
}
