//! The `kessai` command line.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::domain::{OrderStatus, ProviderKind};

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
    #[command(after_help = crate::env_vars::known::help())]
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Serve only the provider simulators, as a process of their own (for
    /// tests that stop kessai while "the providers" keep their state), or
    /// `reset` what sandbox mode remembers.
    Sandbox {
        /// Where to listen; port 0 picks a free port (logged at start).
        #[arg(long, env = "KESSAI_SANDBOX_ADDR", default_value = "127.0.0.1:8089")]
        addr: SocketAddr,
        /// Keep the simulators' books in this file across restarts, or
        /// `memory`. Serving alone, the default is memory; `reset` removes
        /// the file `serve` uses (beside the SQLite database) unless given.
        #[arg(long, env = "KESSAI_SANDBOX_STATE", global = true)]
        state: Option<String>,
        #[command(subcommand)]
        command: Option<SandboxCommand>,
    },
    /// Look at orders, straight from the database `serve` uses (the same
    /// KESSAI_* configuration).
    Orders {
        #[command(subcommand)]
        command: OrdersCommand,
    },
    /// Settle an order now: send again (or look up) its provider calls whose
    /// answer was lost, then ask its provider about it. Uses the same
    /// KESSAI_* configuration (database and provider credentials) as `serve`;
    /// the order history names the operator who asked.
    Reconcile {
        /// The order, e.g. ord_01J…
        order_id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Forget everything sandbox mode did: remove the simulators' state
    /// file and kessai's orders (the SQLite database file; on PostgreSQL
    /// every order row, only with --yes). Refused outside sandbox mode and
    /// for a database holding any live order. Stop `kessai serve` first.
    Reset {
        /// Confirm deleting the orders of a PostgreSQL database.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// One order with its captures, refunds and history (its events).
    Get {
        /// The order, e.g. ord_01J…
        order_id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Orders, newest first.
    List {
        /// Only orders in this status (repeat for several).
        #[arg(long, value_enum)]
        status: Vec<StatusArg>,
        /// Only this provider's orders.
        #[arg(long, value_parser = provider_name())]
        provider: Option<ProviderKind>,
        /// Only orders flagged for a person to review.
        #[arg(long)]
        needs_review: bool,
        /// Only orders whose customer e-mail contains this, ignoring case.
        #[arg(long, value_name = "TEXT")]
        email: Option<String>,
        /// Only orders whose customer name contains this, ignoring case,
        /// width and spaces.
        #[arg(long, value_name = "TEXT")]
        name: Option<String>,
        /// Only orders whose id, merchant reference, customer e-mail or name
        /// contains this, or whose provider order id it is.
        #[arg(long, value_name = "TEXT")]
        query: Option<String>,
        /// How many orders (1 to 200).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i32).range(1..=200))]
        limit: i32,
        /// Continue a listing from the token a previous page printed.
        #[arg(long)]
        page_token: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// How to print the result.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    output: Format,
    /// The same as `--output json`.
    #[arg(long, conflicts_with = "output")]
    json: bool,
}

impl OutputArgs {
    pub fn format(&self) -> Format {
        if self.json { Format::Json } else { self.output }
    }
}

/// An order status as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum StatusArg {
    Pending,
    RequiresAction,
    Authorized,
    PartiallyCaptured,
    Captured,
    Voided,
    Expired,
    Declined,
}

impl From<StatusArg> for OrderStatus {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Pending => OrderStatus::Pending,
            StatusArg::RequiresAction => OrderStatus::RequiresAction,
            StatusArg::Authorized => OrderStatus::Authorized,
            StatusArg::PartiallyCaptured => OrderStatus::PartiallyCaptured,
            StatusArg::Captured => OrderStatus::Captured,
            StatusArg::Voided => OrderStatus::Voided,
            StatusArg::Expired => OrderStatus::Expired,
            StatusArg::Declined => OrderStatus::Declined,
        }
    }
}

/// A provider by its stored name: the list is the domain's, so a new
/// provider needs no line here.
fn provider_name() -> impl clap::builder::TypedValueParser<Value = ProviderKind> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(ProviderKind::ALL.map(ProviderKind::as_str))
        .map(|name| ProviderKind::parse(&name).expect("one of the possible values"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_names_match_the_domain_names() {
        for status in StatusArg::value_variants() {
            let name = status.to_possible_value().unwrap();
            assert_eq!(name.get_name(), OrderStatus::from(*status).as_str());
        }
        use clap::Parser;
        for provider in ProviderKind::ALL {
            let cli =
                Cli::try_parse_from(["kessai", "orders", "list", "--provider", provider.as_str()])
                    .unwrap();
            let Some(Command::Orders {
                command:
                    OrdersCommand::List {
                        provider: parsed, ..
                    },
                ..
            }) = cli.command
            else {
                panic!("{cli:?}");
            };
            assert_eq!(parsed, Some(provider));
        }
        assert!(Cli::try_parse_from(["kessai", "orders", "list", "--provider", "stripe"]).is_err());
    }

    #[test]
    fn sandbox_serves_without_a_subcommand_and_resets_with_one() {
        use clap::Parser;
        let serve = Cli::try_parse_from(["kessai", "sandbox", "--addr", "127.0.0.1:0"]).unwrap();
        let Some(Command::Sandbox {
            addr,
            state: None,
            command: None,
        }) = serve.command
        else {
            panic!("{serve:?}");
        };
        assert_eq!(addr.port(), 0);
        let reset =
            Cli::try_parse_from(["kessai", "sandbox", "reset", "--yes", "--state", "s.json"])
                .unwrap();
        let Some(Command::Sandbox {
            state: Some(state),
            command: Some(SandboxCommand::Reset { yes: true }),
            ..
        }) = reset.command
        else {
            panic!("{reset:?}");
        };
        assert_eq!(state, "s.json");
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
