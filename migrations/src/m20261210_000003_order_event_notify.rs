//! PostgreSQL: every statement that appends to `order_events` sends a
//! notification on `kessai_order_events`, delivered when its transaction
//! commits (never for one that rolls back). Each replica's event feed listens
//! and reads the new events once, instead of every stream polling. A trigger
//! rather than a `NOTIFY` sent by kessai: no extra round trip, and events
//! appended by anything else (an operator's repair) wake the feeds too.
//!
//! SQLite has no notifications: the writer that commits wakes its own
//! process's feed, and the feed's slow poll sees other processes.
//!
//! Dropped again by `m20261219_000009`: a notification inside a commit
//! serializes that commit with every other one that notifies.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The channel the feeds listen on (kept in step with `kessai::store`).
pub const CHANNEL: &str = "kessai_order_events";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        create_trigger(manager.get_connection()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        drop_trigger(manager.get_connection()).await
    }
}

/// The trigger and its function (also `m20261219_000009`'s `down`).
pub(crate) async fn create_trigger(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    // One notification per statement, with no payload: identical
    // notifications of one transaction fold into one, and the feed
    // reads by its own cursor whatever the notification said.
    db.execute_unprepared(&format!(
        "CREATE FUNCTION kessai_order_events_notify() RETURNS trigger \
         LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
    ))
    .await?;
    db.execute_unprepared(
        "CREATE TRIGGER order_events_notify AFTER INSERT ON order_events \
         FOR EACH STATEMENT EXECUTE FUNCTION kessai_order_events_notify()",
    )
    .await?;
    Ok(())
}

pub(crate) async fn drop_trigger(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    db.execute_unprepared("DROP TRIGGER order_events_notify ON order_events")
        .await?;
    db.execute_unprepared("DROP FUNCTION kessai_order_events_notify()")
        .await?;
    Ok(())
}
