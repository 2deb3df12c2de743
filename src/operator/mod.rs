//! The operator commands (`kessai orders …`, `kessai reconcile …`): the same
//! use cases the gRPC API runs, on the database and providers `serve` is
//! configured with, without a server in between. Reading needs only the
//! database; reconciling also reaches the providers with the server's own
//! credentials, and the order history names the operator who asked.

mod render;
mod reset;

use std::process::ExitCode;
use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::json;

use crate::cli::{Format, OrdersCommand, OutputArgs};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::domain::{InvalidInput, OrderId, OrderSearch};
use crate::payments::{Caller, ListOrdersCommand, PaymentError, Payments};
use crate::proto::v1;
use crate::providers::Registry;
use crate::store::{Store, StoreOptions};

pub use reset::reset;

/// Why a command failed, and the exit code that tells a script so.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// Bad input: exit code 2, like a usage error.
    #[error("{0}")]
    Invalid(String),
    /// No such order: exit code 3.
    #[error("{0}")]
    NotFound(String),
    /// The database could not be used: exit code 1.
    #[error("cannot use the database: {0}")]
    Database(String),
    /// Anything else that failed: exit code 1.
    #[error("{0}")]
    Failed(String),
}

impl OperatorError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            OperatorError::Invalid(_) => ExitCode::from(2),
            OperatorError::NotFound(_) => ExitCode::from(3),
            OperatorError::Database(_) | OperatorError::Failed(_) => ExitCode::FAILURE,
        }
    }
}

impl From<PaymentError> for OperatorError {
    fn from(error: PaymentError) -> Self {
        match error {
            PaymentError::OrderNotFound { .. } => OperatorError::NotFound(error.to_string()),
            PaymentError::Invalid(_) => OperatorError::Invalid(error.to_string()),
            PaymentError::DatabaseUnavailable => OperatorError::Database(error.to_string()),
            PaymentError::Overloaded { .. } | PaymentError::TooManyStreams { .. } => {
                OperatorError::Failed(error.to_string())
            }
            PaymentError::Refused(_)
            | PaymentError::KeyReused
            | PaymentError::KeyInUse
            | PaymentError::ProviderNotConfigured { .. }
            | PaymentError::ProviderUnavailable { .. }
            | PaymentError::OutcomeUnknown { .. }
            | PaymentError::NeedsReview { .. }
            | PaymentError::ProviderCredentialsRejected { .. }
            | PaymentError::ProviderRejected { .. }
            | PaymentError::Internal => OperatorError::Failed(error.to_string()),
        }
    }
}

/// Who an operator command acts as in order histories.
pub fn operator_caller() -> Caller {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty());
    match user {
        Some(user) => Caller::system(format!("kessai-cli:{user}")),
        None => Caller::system("kessai-cli"),
    }
}

/// Connects to the existing database, never creating one.
async fn connect_existing(config: &Config) -> Result<Store, OperatorError> {
    crate::tls_provider::install_crypto_provider();
    let options = StoreOptions {
        max_connections: 2,
        create_if_missing: false,
        ..StoreOptions::default()
    };
    Store::connect(config.database_url.expose_secret(), &options)
        .await
        .map_err(|e| OperatorError::Database(e.to_string()))
}

/// Opens the existing database and checks that its schema is current.
async fn open_store(config: &Config) -> Result<Store, OperatorError> {
    let store = connect_existing(config).await?;
    let pending = store
        .pending_migrations()
        .await
        .map_err(|e| OperatorError::Database(e.to_string()))?;
    if pending > 0 {
        return Err(OperatorError::Database(format!(
            "the schema lacks {pending} migration(s): run `kessai migrate` first"
        )));
    }
    Ok(store)
}

/// The use cases on the configured database, with the configured
/// providers when `with_providers`.
async fn payments(config: &Config, with_providers: bool) -> Result<Payments, OperatorError> {
    let store = open_store(config).await?;
    let registry = if with_providers {
        if config.sandbox() {
            return Err(OperatorError::Invalid(
                "sandbox mode: the provider simulators live inside the serving kessai, so only \
                 it can reconcile (GetOrder with refresh); configure the real providers' \
                 credentials to reconcile from the command line"
                    .into(),
            ));
        }
        crate::startup::providers(
            config,
            Arc::new(SystemClock),
            config.webhooks.public_url.as_deref(),
        )
        .await
        .map_err(|e| OperatorError::Failed(e.to_string()))?
        .0
    } else {
        Registry::default()
    };
    Ok(Payments::new(
        store,
        registry,
        Arc::new(SystemClock),
        crate::startup::payments_config(config),
    ))
}

fn order_id(value: &str) -> Result<OrderId, OperatorError> {
    OrderId::parse(value, "ORDER_ID").map_err(|e| OperatorError::Invalid(e.to_string()))
}

/// A search filter's problem named by the flag that gave it.
fn search_flags(mut error: InvalidInput) -> InvalidInput {
    for violation in &mut error.violations {
        violation.field = match violation.field.as_str() {
            "customer_email" => "--email",
            "customer_name" => "--name",
            "query" => "--query",
            other => other,
        }
        .to_owned();
    }
    error
}

fn print(format: Format, json: serde_json::Value, table: String) {
    match format {
        Format::Json => write_out(&format!("{json:#}\n")),
        Format::Table => write_out(&table),
    }
}

/// Writes a result to standard output. A reader that stopped reading
/// (`kessai orders list | head`) wants no more: the rest is dropped
/// quietly, where `print!` would panic.
fn write_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("kessai: writing the result failed: {error}");
    }
}

/// `kessai orders get|list`.
pub async fn orders(command: OrdersCommand, config: &Config) -> Result<(), OperatorError> {
    let payments = payments(config, false).await?;
    let result = run_orders(command, &payments).await;
    payments.store().clone().close().await;
    result
}

async fn run_orders(command: OrdersCommand, payments: &Payments) -> Result<(), OperatorError> {
    match command {
        OrdersCommand::Get {
            order_id: id,
            output,
        } => {
            let id = order_id(&id)?;
            let caller = operator_caller();
            let view = payments.get_order(&caller, &id, false).await?;
            let order = v1::Order::from(&view);
            let events: Vec<v1::OrderEvent> = payments
                .order_events(&caller, &id)
                .await?
                .iter()
                .map(Into::into)
                .collect();
            let mut json = render::order_json(&order);
            json["events"] = render::events_json(&events);
            print(
                output.format(),
                json,
                render::order_table(&order) + &render::events_table(&events),
            );
        }
        OrdersCommand::List {
            status,
            provider,
            needs_review,
            email,
            name,
            query,
            limit,
            page_token,
            output,
        } => {
            let search = OrderSearch::parse(
                email.as_deref().unwrap_or_default(),
                name.as_deref().unwrap_or_default(),
                query.as_deref().unwrap_or_default(),
            )
            .map_err(|e| OperatorError::Invalid(search_flags(e).to_string()))?;
            let page = payments
                .list_orders(
                    &operator_caller(),
                    ListOrdersCommand {
                        statuses: status.into_iter().map(Into::into).collect(),
                        provider,
                        needs_review,
                        search,
                        page_size: limit,
                        page_token: page_token.unwrap_or_default(),
                        ..ListOrdersCommand::default()
                    },
                )
                .await?;
            let orders: Vec<v1::Order> = page.orders.iter().map(Into::into).collect();
            let mut table = render::orders_table(&orders);
            if !page.next_page_token.is_empty() {
                table.push_str(&format!("\nmore: --page-token {}\n", page.next_page_token));
            }
            print(
                output.format(),
                json!({
                    "orders": orders.iter().map(render::order_json).collect::<Vec<_>>(),
                    "next_page_token": page.next_page_token,
                }),
                table,
            );
        }
    }
    Ok(())
}

/// `kessai reconcile ORDER_ID`. Prints the order afterwards; fails (exit
/// code 1) when something could not be settled.
pub async fn reconcile(id: &str, output: OutputArgs, config: &Config) -> Result<(), OperatorError> {
    let id = order_id(id)?;
    let payments = payments(config, true).await?;
    let result = payments.reconcile_order(&operator_caller(), &id).await;
    payments.store().clone().close().await;
    let done = result?;
    let order = v1::Order::from(&done.order);
    let mut table = render::order_table(&order);
    table.push_str(&format!(
        "\nprovider calls checked: {}\n",
        done.calls_checked
    ));
    for error in &done.errors {
        table.push_str(&format!("not settled: {error}\n"));
    }
    print(
        output.format(),
        json!({
            "order": render::order_json(&order),
            "calls_checked": done.calls_checked,
            "errors": done.errors,
        }),
        table,
    );
    if done.errors.is_empty() {
        Ok(())
    } else {
        Err(OperatorError::Failed(format!(
            "order {id} is not fully reconciled: {}",
            done.errors.join("; ")
        )))
    }
}
