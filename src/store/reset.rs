//! Emptying a sandbox database (`kessai sandbox reset`).

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter,
    TransactionTrait,
};

use super::Store;
use super::entities::{
    captures, idempotency_keys, order_events, orders, provider_attempts, refunds, webhook_events,
};
use super::error::StoreError;

impl Store {
    /// How many orders were taken with the real providers: a database with
    /// any is never emptied.
    pub async fn live_orders(&self) -> Result<u64, StoreError> {
        Ok(orders::Entity::find()
            .filter(orders::Column::Livemode.eq(true))
            .count(&self.read)
            .await?)
    }

    /// Deletes every order with all that hangs off it (captures, refunds,
    /// events, provider calls, idempotency keys, provider notifications),
    /// in one transaction; returns how many orders there were.
    pub async fn delete_every_order(&self) -> Result<u64, StoreError> {
        let txn = self.write.begin().await?;
        super::statements::count(super::StatementKind::Begin);
        // Rows that name an order first, the orders last.
        refunds::Entity::delete_many().exec(&txn).await?;
        captures::Entity::delete_many().exec(&txn).await?;
        order_events::Entity::delete_many().exec(&txn).await?;
        provider_attempts::Entity::delete_many().exec(&txn).await?;
        idempotency_keys::Entity::delete_many().exec(&txn).await?;
        webhook_events::Entity::delete_many().exec(&txn).await?;
        // SQLite's search table has no trigger for deletes (orders are
        // never deleted otherwise): emptied with them.
        if self.backend() == DatabaseBackend::Sqlite && self.sqlite_fts().await? {
            txn.execute_unprepared("DELETE FROM orders_search").await?;
        }
        let deleted = orders::Entity::delete_many().exec(&txn).await?;
        txn.commit().await?;
        Ok(deleted.rows_affected)
    }
}
