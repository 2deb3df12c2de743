//! PostgreSQL: new order events are announced by kessai after its commits,
//! no longer by a trigger inside them.
//!
//! A notification queued by a transaction holds one cluster-wide lock from
//! its commit's start until the commit is durable, so every commit that
//! notifies waits for the one before it to flush the WAL, and none share a
//! flush: a 2-core test machine made about 3,200 notifying commits a
//! second where it made 14,000–16,000 plain ones, and the trigger notified
//! in both of an Authorize's commits.
//! kessai now wakes its own feed directly and sends other replicas one
//! notification after its commits, at most one per 20 ms
//! (`kessai::store::announce`). Events appended by anything else reach the
//! feeds by their one-second poll, as do a previous release's during a
//! rolling upgrade.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261210_000003_order_event_notify::{create_trigger, drop_trigger};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        drop_trigger(manager.get_connection()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        create_trigger(manager.get_connection()).await
    }
}
