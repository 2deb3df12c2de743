//! Orders, their captures and refunds, the append-only event history, the
//! write-ahead log of provider calls and the idempotency keys.
//!
//! The money invariants are CHECK constraints, so no code path — including
//! one with a bug — can store captured > authorized or refunded > captured.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    Id,
    Provider,
    ProviderOrderId,
    MerchantReference,
    Description,
    Currency,
    CaptureMethod,
    PaymentMethod,
    AuthState,
    Release,
    Status,
    Amount,
    AmountAuthorized,
    AmountCaptured,
    AmountRefunded,
    PendingCapture,
    PendingRefund,
    CapturesSucceeded,
    CapturesPending,
    VoidPending,
    Unsettled,
    ExpiresAt,
    NextActionKind,
    NextActionValue,
    FailureCode,
    FailureMessage,
    FailureProviderCode,
    Livemode,
    Metadata,
    ProviderData,
    CardBin,
    CardLast4,
    CardBrand,
    CardExpMonth,
    CardExpYear,
    NeedsReview,
    NextSyncAt,
    CreatedAt,
    UpdatedAt,
    LockVersion,
}

#[derive(DeriveIden, Clone, Copy)]
enum Captures {
    Table,
    Id,
    OrderId,
    Amount,
    Status,
    FinalCapture,
    ProviderCaptureId,
    Reference,
    Description,
    AmountRefunded,
    PendingRefund,
    FailureCode,
    FailureMessage,
    FailureProviderCode,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Refunds {
    Table,
    Id,
    OrderId,
    Amount,
    Status,
    Reason,
    Reference,
    Description,
    Parts,
    FailureCode,
    FailureMessage,
    FailureProviderCode,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OrderEvents {
    Table,
    Id,
    OrderId,
    EventType,
    Actor,
    Status,
    Data,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProviderAttempts {
    Table,
    Id,
    OrderId,
    Operation,
    TargetId,
    ProviderKey,
    Amount,
    Request,
    State,
    Error,
    Checks,
    NextCheckAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum IdempotencyKeys {
    Table,
    Scope,
    Key,
    Rpc,
    RequestHash,
    OrderId,
    AttemptId,
    State,
    Outcome,
    CreatedAt,
    UpdatedAt,
    ExpiresAt,
}

fn text<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).text().not_null().to_owned()
}

fn text_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).text().null().to_owned()
}

fn money<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

fn count<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .integer()
        .not_null()
        .default(0)
        .to_owned()
}

fn flag<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .boolean()
        .not_null()
        .default(false)
        .to_owned()
}

fn time<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn time_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn non_negative<T: IntoIden + Copy + 'static>(cols: &[T]) -> Expr {
    cols.iter()
        .map(|c| Expr::col(*c).gte(0))
        .reduce(|a, b| a.and(b))
        .expect("at least one column")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(text(Orders::Id).primary_key())
                    .col(text(Orders::Provider))
                    .col(text_null(Orders::ProviderOrderId))
                    .col(text(Orders::MerchantReference).default(""))
                    .col(text(Orders::Description).default(""))
                    .col(text(Orders::Currency))
                    .col(text(Orders::CaptureMethod))
                    .col(text_null(Orders::PaymentMethod))
                    .col(text(Orders::AuthState))
                    .col(text_null(Orders::Release))
                    .col(text(Orders::Status))
                    .col(money(Orders::Amount))
                    .col(money(Orders::AmountAuthorized))
                    .col(money(Orders::AmountCaptured))
                    .col(money(Orders::AmountRefunded))
                    .col(money(Orders::PendingCapture))
                    .col(money(Orders::PendingRefund))
                    .col(count(Orders::CapturesSucceeded))
                    .col(count(Orders::CapturesPending))
                    .col(flag(Orders::VoidPending))
                    .col(count(Orders::Unsettled))
                    .col(time_null(Orders::ExpiresAt))
                    .col(text_null(Orders::NextActionKind))
                    .col(text_null(Orders::NextActionValue))
                    .col(text_null(Orders::FailureCode))
                    .col(text_null(Orders::FailureMessage))
                    .col(text_null(Orders::FailureProviderCode))
                    .col(flag(Orders::Livemode))
                    .col(text(Orders::Metadata).default("{}"))
                    .col(text_null(Orders::ProviderData))
                    .col(text_null(Orders::CardBin))
                    .col(text_null(Orders::CardLast4))
                    .col(text_null(Orders::CardBrand))
                    .col(ColumnDef::new(Orders::CardExpMonth).integer().null())
                    .col(ColumnDef::new(Orders::CardExpYear).integer().null())
                    .col(flag(Orders::NeedsReview))
                    .col(time_null(Orders::NextSyncAt))
                    .col(time(Orders::CreatedAt))
                    .col(time(Orders::UpdatedAt))
                    .col(
                        ColumnDef::new(Orders::LockVersion)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .check((
                        "orders_amounts_non_negative",
                        non_negative(&[
                            Orders::Amount,
                            Orders::AmountAuthorized,
                            Orders::AmountCaptured,
                            Orders::AmountRefunded,
                            Orders::PendingCapture,
                            Orders::PendingRefund,
                            Orders::CapturesSucceeded,
                            Orders::CapturesPending,
                            Orders::Unsettled,
                        ]),
                    ))
                    .check((
                        "orders_captured_within_authorized",
                        Expr::col(Orders::AmountCaptured)
                            .add(Expr::col(Orders::PendingCapture))
                            .lte(Expr::col(Orders::AmountAuthorized)),
                    ))
                    .check((
                        "orders_refunded_within_captured",
                        Expr::col(Orders::AmountRefunded)
                            .add(Expr::col(Orders::PendingRefund))
                            .lte(Expr::col(Orders::AmountCaptured)),
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("idx_orders_status_id", vec![Orders::Status, Orders::Id]),
            ("idx_orders_provider_id", vec![Orders::Provider, Orders::Id]),
            (
                "idx_orders_merchant_reference",
                vec![Orders::MerchantReference, Orders::Id],
            ),
            ("idx_orders_created_at", vec![Orders::CreatedAt]),
            (
                "idx_orders_provider_order_id",
                vec![Orders::Provider, Orders::ProviderOrderId],
            ),
            (
                "idx_orders_needs_review",
                vec![Orders::NeedsReview, Orders::Id],
            ),
            (
                "idx_orders_status_next_sync",
                vec![Orders::Status, Orders::NextSyncAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Orders::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Captures::Table)
                    .col(text(Captures::Id).primary_key())
                    .col(text(Captures::OrderId))
                    .col(money(Captures::Amount))
                    .col(text(Captures::Status))
                    .col(flag(Captures::FinalCapture))
                    .col(text_null(Captures::ProviderCaptureId))
                    .col(text(Captures::Reference).default(""))
                    .col(text(Captures::Description).default(""))
                    .col(money(Captures::AmountRefunded))
                    .col(money(Captures::PendingRefund))
                    .col(text_null(Captures::FailureCode))
                    .col(text_null(Captures::FailureMessage))
                    .col(text_null(Captures::FailureProviderCode))
                    .col(time(Captures::CreatedAt))
                    .col(time(Captures::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Captures::Table, Captures::OrderId)
                            .to(Orders::Table, Orders::Id),
                    )
                    .check((
                        "captures_amounts_non_negative",
                        non_negative(&[
                            Captures::Amount,
                            Captures::AmountRefunded,
                            Captures::PendingRefund,
                        ]),
                    ))
                    .check((
                        "captures_refunded_within_amount",
                        Expr::col(Captures::AmountRefunded)
                            .add(Expr::col(Captures::PendingRefund))
                            .lte(Expr::col(Captures::Amount)),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_captures_order")
                    .table(Captures::Table)
                    .col(Captures::OrderId)
                    .col(Captures::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Refunds::Table)
                    .col(text(Refunds::Id).primary_key())
                    .col(text(Refunds::OrderId))
                    .col(money(Refunds::Amount))
                    .col(text(Refunds::Status))
                    .col(text_null(Refunds::Reason))
                    .col(text(Refunds::Reference).default(""))
                    .col(text(Refunds::Description).default(""))
                    .col(text(Refunds::Parts).default("[]"))
                    .col(text_null(Refunds::FailureCode))
                    .col(text_null(Refunds::FailureMessage))
                    .col(text_null(Refunds::FailureProviderCode))
                    .col(time(Refunds::CreatedAt))
                    .col(time(Refunds::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Refunds::Table, Refunds::OrderId)
                            .to(Orders::Table, Orders::Id),
                    )
                    .check(("refunds_amount_positive", Expr::col(Refunds::Amount).gt(0)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refunds_order")
                    .table(Refunds::Table)
                    .col(Refunds::OrderId)
                    .col(Refunds::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OrderEvents::Table)
                    .col(
                        ColumnDef::new(OrderEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(text(OrderEvents::OrderId))
                    .col(text(OrderEvents::EventType))
                    .col(text(OrderEvents::Actor))
                    .col(text(OrderEvents::Status))
                    .col(text(OrderEvents::Data).default("{}"))
                    .col(time(OrderEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OrderEvents::Table, OrderEvents::OrderId)
                            .to(Orders::Table, Orders::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_order_events_order")
                    .table(OrderEvents::Table)
                    .col(OrderEvents::OrderId)
                    .col(OrderEvents::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ProviderAttempts::Table)
                    .col(text(ProviderAttempts::Id).primary_key())
                    .col(text(ProviderAttempts::OrderId))
                    .col(text(ProviderAttempts::Operation))
                    .col(text_null(ProviderAttempts::TargetId))
                    .col(text_null(ProviderAttempts::ProviderKey))
                    .col(
                        ColumnDef::new(ProviderAttempts::Amount)
                            .big_integer()
                            .null(),
                    )
                    .col(text(ProviderAttempts::Request).default("{}"))
                    .col(text(ProviderAttempts::State))
                    .col(text_null(ProviderAttempts::Error))
                    .col(count(ProviderAttempts::Checks))
                    .col(time_null(ProviderAttempts::NextCheckAt))
                    .col(time(ProviderAttempts::CreatedAt))
                    .col(time(ProviderAttempts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProviderAttempts::Table, ProviderAttempts::OrderId)
                            .to(Orders::Table, Orders::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_provider_attempts_open")
                    .table(ProviderAttempts::Table)
                    .col(ProviderAttempts::State)
                    .col(ProviderAttempts::NextCheckAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_provider_attempts_order")
                    .table(ProviderAttempts::Table)
                    .col(ProviderAttempts::OrderId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(text(IdempotencyKeys::Scope))
                    .col(text(IdempotencyKeys::Key))
                    .col(text(IdempotencyKeys::Rpc))
                    .col(text(IdempotencyKeys::RequestHash))
                    .col(text_null(IdempotencyKeys::OrderId))
                    .col(text_null(IdempotencyKeys::AttemptId))
                    .col(text(IdempotencyKeys::State))
                    .col(text_null(IdempotencyKeys::Outcome))
                    .col(time(IdempotencyKeys::CreatedAt))
                    .col(time(IdempotencyKeys::UpdatedAt))
                    .col(time(IdempotencyKeys::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::Scope)
                            .col(IdempotencyKeys::Key),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_keys_expires_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyKeys::Table.into_iden(),
            ProviderAttempts::Table.into_iden(),
            OrderEvents::Table.into_iden(),
            Refunds::Table.into_iden(),
            Captures::Table.into_iden(),
            Orders::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
