//! The database schema of kessai, applied at start-up and by `kessai migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_initial;
mod m20261201_000002_notifications;
mod m20261206_000003_owners;
mod m20261210_000003_order_event_notify;
mod m20261211_000004_lookup_indexes;
mod m20261212_000005_drop_unused_indexes;
mod m20261215_000005_customer_search;
mod m20261216_000006_guarded_writes;
mod m20261217_000007_sqlite_search_indexes;
mod m20261218_000008_guard_codes;
mod m20261219_000009_events_announced_after_commit;
mod m20261220_000010_history_keyed_by_statement;

/// The PostgreSQL channel new order events are announced on.
pub use m20261210_000003_order_event_notify::CHANNEL as ORDER_EVENTS_CHANNEL;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial::Migration),
            Box::new(m20261201_000002_notifications::Migration),
            Box::new(m20261206_000003_owners::Migration),
            Box::new(m20261210_000003_order_event_notify::Migration),
            Box::new(m20261211_000004_lookup_indexes::Migration),
            Box::new(m20261212_000005_drop_unused_indexes::Migration),
            Box::new(m20261215_000005_customer_search::Migration),
            Box::new(m20261216_000006_guarded_writes::Migration),
            Box::new(m20261217_000007_sqlite_search_indexes::Migration),
            Box::new(m20261218_000008_guard_codes::Migration),
            Box::new(m20261219_000009_events_announced_after_commit::Migration),
            Box::new(m20261220_000010_history_keyed_by_statement::Migration),
        ]
    }
}
