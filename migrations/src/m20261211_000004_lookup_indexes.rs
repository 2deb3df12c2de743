//! Indexes for two lookups that otherwise read a whole table, more of it
//! with every order: the idempotency key of a provider call
//! (`Store::key_for_attempt`, on every reconciliation of a call), and the
//! authorizations past their deadline (`Store::due_orders`, on every
//! reconciliation pass), which without one read every authorized order.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum IdempotencyKeys {
    Table,
    AttemptId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    Status,
    ExpiresAt,
}

const KEYS_BY_ATTEMPT: &str = "idx_idempotency_keys_attempt";
const ORDERS_BY_EXPIRY: &str = "idx_orders_status_expires";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(KEYS_BY_ATTEMPT)
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::AttemptId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(ORDERS_BY_EXPIRY)
                    .table(Orders::Table)
                    .col(Orders::Status)
                    .col(Orders::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(ORDERS_BY_EXPIRY)
                    .table(Orders::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(KEYS_BY_ATTEMPT)
                    .table(IdempotencyKeys::Table)
                    .to_owned(),
            )
            .await
    }
}
