//! The queries behind reconciliation: what is due, and leases so that
//! several replicas never work on the same thing at once (a conditional
//! update that only one of them can win, the same on both engines).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Store;
use super::convert::order_from_row;
use super::entities::{idempotency_keys, orders, provider_attempts};
use super::error::StoreError;
use super::reads::{attempt_from_row, key_from_row};
use super::records::{AttemptRecord, AttemptState, KeyRecord, KeyState};
use crate::domain::{AttemptId, OrderId, OrderRecord, OrderStatus};

/// Calls whose outcome is unknown, or in flight for longer than
/// `stale_after` (their process stopped).
fn open_attempts(now: DateTime<Utc>, stale_after: chrono::Duration) -> Condition {
    Condition::any()
        .add(provider_attempts::Column::State.eq(AttemptState::Unknown.as_str()))
        .add(
            Condition::all()
                .add(provider_attempts::Column::State.eq(AttemptState::InFlight.as_str()))
                .add(provider_attempts::Column::UpdatedAt.lte(now - stale_after)),
        )
}

impl Store {
    /// Provider calls whose outcome is unknown, or in flight for longer than
    /// `stale_after` (their process stopped), that are due a check.
    pub async fn due_attempts(
        &self,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
        limit: u64,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let due = Condition::any()
            .add(provider_attempts::Column::NextCheckAt.is_null())
            .add(provider_attempts::Column::NextCheckAt.lte(now));
        provider_attempts::Entity::find()
            .filter(open_attempts(now, stale_after))
            .filter(due)
            .order_by_asc(provider_attempts::Column::CreatedAt)
            .limit(limit)
            .all(&self.read)
            .await?
            .into_iter()
            .map(attempt_from_row)
            .collect()
    }

    /// Leases an attempt until `until`, if it is still open. Only one
    /// claimant wins, and none once another pass has settled it.
    pub async fn claim_attempt(
        &self,
        id: &AttemptId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = provider_attempts::Entity::update_many()
            .col_expr(provider_attempts::Column::NextCheckAt, Expr::value(until))
            .col_expr(
                provider_attempts::Column::Checks,
                Expr::col(provider_attempts::Column::Checks).add(1),
            )
            .filter(provider_attempts::Column::Id.eq(id.as_str()))
            // Settling clears the lease: without this, a pass that read the
            // attempt before another settled it would claim it again.
            .filter(provider_attempts::Column::State.is_in([
                AttemptState::Unknown.as_str(),
                AttemptState::InFlight.as_str(),
            ]))
            .filter(
                Condition::any()
                    .add(provider_attempts::Column::NextCheckAt.is_null())
                    .add(provider_attempts::Column::NextCheckAt.lte(now)),
            )
            .exec(&self.write)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// One order's provider calls that still lack an outcome (unknown, or
    /// in flight past `stale_after`), due or not, oldest first.
    pub async fn open_attempts_of(
        &self,
        order_id: &OrderId,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        provider_attempts::Entity::find()
            .filter(provider_attempts::Column::OrderId.eq(order_id.as_str()))
            .filter(open_attempts(now, stale_after))
            .order_by_asc(provider_attempts::Column::CreatedAt)
            .all(&self.write)
            .await?
            .into_iter()
            .map(attempt_from_row)
            .collect()
    }

    /// Leases an attempt an operator asked about now, whether or not its
    /// next check was due; only while it still lacks an outcome.
    pub async fn claim_attempt_now(
        &self,
        id: &AttemptId,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = provider_attempts::Entity::update_many()
            .col_expr(provider_attempts::Column::NextCheckAt, Expr::value(until))
            .col_expr(
                provider_attempts::Column::Checks,
                Expr::col(provider_attempts::Column::Checks).add(1),
            )
            .filter(provider_attempts::Column::Id.eq(id.as_str()))
            .filter(open_attempts(now, stale_after))
            .exec(&self.write)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// The idempotency key whose call this attempt is.
    pub async fn key_for_attempt(&self, id: &AttemptId) -> Result<Option<KeyRecord>, StoreError> {
        idempotency_keys::Entity::find()
            .filter(idempotency_keys::Column::AttemptId.eq(id.as_str()))
            .one(&self.write)
            .await?
            .map(key_from_row)
            .transpose()
    }

    /// Orders whose provider state may have moved without kessai hearing of
    /// it: waiting for the shopper, pending at the provider, or past their
    /// authorization deadline.
    pub async fn due_orders(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<OrderRecord>, StoreError> {
        let waiting = orders::Column::Status.is_in([
            OrderStatus::RequiresAction.as_str(),
            OrderStatus::Pending.as_str(),
        ]);
        let lapsed = Condition::all()
            .add(orders::Column::Status.is_in([
                OrderStatus::Authorized.as_str(),
                OrderStatus::PartiallyCaptured.as_str(),
            ]))
            .add(orders::Column::ExpiresAt.lte(now));
        let due = Condition::any()
            .add(orders::Column::NextSyncAt.is_null())
            .add(orders::Column::NextSyncAt.lte(now));
        orders::Entity::find()
            .filter(Condition::any().add(waiting).add(lapsed))
            .filter(due)
            .filter(orders::Column::ProviderOrderId.is_not_null())
            .order_by_asc(orders::Column::NextSyncAt)
            .limit(limit)
            .all(&self.read)
            .await?
            .into_iter()
            .map(order_from_row)
            .collect()
    }

    /// Leases an order's next provider check until `until`.
    pub async fn claim_order_sync(
        &self,
        id: &OrderId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = orders::Entity::update_many()
            .col_expr(orders::Column::NextSyncAt, Expr::value(until))
            .filter(orders::Column::Id.eq(id.as_str()))
            .filter(
                Condition::any()
                    .add(orders::Column::NextSyncAt.is_null())
                    .add(orders::Column::NextSyncAt.lte(now)),
            )
            .exec(&self.write)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Deletes completed idempotency keys past their replay window.
    pub async fn reap_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = idempotency_keys::Entity::delete_many()
            .filter(idempotency_keys::Column::State.eq(KeyState::Completed.as_str()))
            .filter(idempotency_keys::Column::ExpiresAt.lt(now))
            .exec(&self.write)
            .await?;
        Ok(result.rows_affected)
    }
}
