//! Drops the indexes no query reads through: each costs a write on every
//! insert and on every update that changes its columns, for nothing.
//! `tests/it/query_plans.rs` names the query behind every index that is
//! left and fails when an index no query uses exists.
//!
//! `idx_orders_status_next_sync` (status, next_sync_at): the reconciliation
//! pass's due orders (`Store::due_orders`) read through
//! `idx_orders_status_expires` instead, and no other query filters or sorts
//! on `next_sync_at` (the lease, `Store::claim_order_sync`, writes it by id).
//! Its columns change on most writes of an order (the status) and on every
//! provider check (the lease), so it was written often.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    Status,
    NextSyncAt,
}

const ORDERS_BY_NEXT_SYNC: &str = "idx_orders_status_next_sync";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(ORDERS_BY_NEXT_SYNC)
                    .table(Orders::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(ORDERS_BY_NEXT_SYNC)
                    .table(Orders::Table)
                    .col(Orders::Status)
                    .col(Orders::NextSyncAt)
                    .to_owned(),
            )
            .await
    }
}
