//! Provider notifications and the order event stream.
//!
//! `webhook_events` remembers every provider event kessai accepted, keyed by
//! the provider's own event id, so a redelivered event changes nothing.
//! `order_events` gains the order's amounts after each event, so the event
//! stream can tell callers where an order stood without a second read (rows
//! written before this migration have none). Lookups of an order by the
//! provider's capture id (Smartpay payments, which refund events name) get an
//! index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum WebhookEvents {
    Table,
    Provider,
    EventId,
    EventType,
    OrderId,
    ReceivedAt,
    ProcessedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OrderEvents {
    Table,
    AmountAuthorized,
    AmountCaptured,
    AmountRefunded,
    AmountCapturable,
}

#[derive(DeriveIden, Clone, Copy)]
enum Captures {
    Table,
    ProviderCaptureId,
}

const AMOUNTS: [OrderEvents; 4] = [
    OrderEvents::AmountAuthorized,
    OrderEvents::AmountCaptured,
    OrderEvents::AmountRefunded,
    OrderEvents::AmountCapturable,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEvents::Table)
                    .col(ColumnDef::new(WebhookEvents::Provider).text().not_null())
                    .col(ColumnDef::new(WebhookEvents::EventId).text().not_null())
                    .col(ColumnDef::new(WebhookEvents::EventType).text().not_null())
                    .col(ColumnDef::new(WebhookEvents::OrderId).text().null())
                    .col(
                        ColumnDef::new(WebhookEvents::ReceivedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookEvents::ProcessedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(WebhookEvents::Provider)
                            .col(WebhookEvents::EventId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_events_received_at")
                    .table(WebhookEvents::Table)
                    .col(WebhookEvents::ReceivedAt)
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite adds one at a time.
        for column in AMOUNTS {
            manager
                .alter_table(
                    Table::alter()
                        .table(OrderEvents::Table)
                        .add_column(ColumnDef::new(column).big_integer().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_captures_provider_capture_id")
                    .table(Captures::Table)
                    .col(Captures::ProviderCaptureId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_captures_provider_capture_id")
                    .table(Captures::Table)
                    .to_owned(),
            )
            .await?;
        for column in AMOUNTS {
            manager
                .alter_table(
                    Table::alter()
                        .table(OrderEvents::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(WebhookEvents::Table).to_owned())
            .await
    }
}
