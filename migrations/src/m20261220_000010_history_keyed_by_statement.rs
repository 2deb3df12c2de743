//! PostgreSQL: an order's events and provider calls no longer carry a
//! foreign key to `orders`.
//!
//! Each such key made every inserted event and provider call look its
//! order up again and lock it (`FOR KEY SHARE`, a WAL record of its own),
//! three times in each Authorize. Measured on a 2-core machine with the
//! same build on both sides (`kessai-bench ab --b-sql`, six 5-second
//! windows each): PostgreSQL's CPU per Authorize 0.687 → 0.616 ms, calls
//! 1,199 → 1,301 a second.
//!
//! What the key checked still holds, by how kessai writes them: an event
//! or a provider call is written from its order's record, in the step that
//! inserts that order, or writes it at the version read (`store::batch`,
//! whose guard undoes the whole statement when the order is not there as
//! read), or holds its lock; and orders are never deleted but by `kessai
//! sandbox reset`, which deletes these rows first. Every test on a
//! database ends by checking that no event or provider call names a
//! missing order (`tests/it/helpers.rs`).
//!
//! Captures and refunds keep theirs: they are money, and are written far
//! less often. SQLite keeps all of them (dropping one rebuilds the table,
//! and its writer measured no such cost).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, its foreign key's name as the first migration made it).
const KEYS: [(&str, &str); 2] = [
    ("order_events", "order_events_order_id_fkey"),
    ("provider_attempts", "provider_attempts_order_id_fkey"),
];

/// Runs `sql(table, key)` for each key, on PostgreSQL only.
async fn each_key(manager: &SchemaManager<'_>, sql: fn(&str, &str) -> String) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    for (table, key) in KEYS {
        manager
            .get_connection()
            .execute_unprepared(&sql(table, key))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        each_key(manager, |table, key| {
            format!("ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {key}")
        })
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        each_key(manager, |table, key| {
            format!(
                "ALTER TABLE {table} ADD CONSTRAINT {key} \
                 FOREIGN KEY (order_id) REFERENCES orders (id)"
            )
        })
        .await
    }
}
