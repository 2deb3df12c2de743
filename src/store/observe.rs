//! What the store can tell about itself without changing anything: its
//! connection pools, the orders waiting for reconciliation or a person, and
//! what each committed transaction did to the orders' money.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{
    ColumnTrait, DatabaseBackend, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect,
};

use super::Store;
use super::entities::{orders, provider_attempts};
use super::error::StoreError;
use super::records::AttemptState;
use crate::domain::{OrderRecord, ProviderKind};

/// One connection pool's use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `main` (PostgreSQL), or `read` / `write` (SQLite).
    pub name: &'static str,
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// Orders that reconciliation or a person still has to settle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// With at least one provider call whose outcome is unknown.
    pub unknown_outcome: u64,
    /// Flagged for a person (an outcome that can never be looked up).
    pub needs_review: u64,
}

/// The money one committed transaction moved on one order (increases only:
/// recorded amounts never shrink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoneyMoved {
    pub provider: ProviderKind,
    pub currency: &'static str,
    pub authorized: u64,
    pub captured: u64,
    pub refunded: u64,
}

/// Called once per order after each commit that moved its money.
pub type MoneyObserver = Arc<dyn Fn(&MoneyMoved) + Send + Sync>;

/// The amounts of one order as first seen and as last written in a
/// transaction.
#[derive(Debug, Clone, Copy)]
struct Seen {
    provider: ProviderKind,
    currency: &'static str,
    first: [i64; 3],
    last: [i64; 3],
}

fn amounts(order: &OrderRecord) -> [i64; 3] {
    [
        order.state.authorized,
        order.state.captured,
        order.state.refunded,
    ]
}

/// The orders a transaction read under lock or wrote, to tell after the
/// commit what money moved.
#[derive(Debug, Default)]
pub(super) struct MoneyBook {
    seen: HashMap<String, Seen>,
}

impl MoneyBook {
    /// A new order starts from nothing.
    pub(super) fn inserted(&mut self, order: &OrderRecord) {
        self.seen.insert(
            order.id.to_string(),
            Seen {
                provider: order.provider,
                currency: order.currency.code(),
                first: [0; 3],
                last: amounts(order),
            },
        );
    }

    /// Read under the row lock: the amounts before this transaction.
    pub(super) fn locked(&mut self, order: &OrderRecord) {
        self.seen
            .entry(order.id.to_string())
            .or_insert_with(|| Seen {
                provider: order.provider,
                currency: order.currency.code(),
                first: amounts(order),
                last: amounts(order),
            });
    }

    pub(super) fn saved(&mut self, order: &OrderRecord) {
        let now = amounts(order);
        self.seen
            .entry(order.id.to_string())
            .and_modify(|seen| seen.last = now)
            .or_insert_with(|| Seen {
                provider: order.provider,
                currency: order.currency.code(),
                first: now,
                last: now,
            });
    }

    pub(super) fn moved(&self) -> Vec<MoneyMoved> {
        self.seen
            .values()
            .filter_map(|seen| {
                let delta = |i: usize| (seen.last[i] - seen.first[i]).max(0) as u64;
                let moved = MoneyMoved {
                    provider: seen.provider,
                    currency: seen.currency,
                    authorized: delta(0),
                    captured: delta(1),
                    refunded: delta(2),
                };
                (moved.authorized + moved.captured + moved.refunded > 0).then_some(moved)
            })
            .collect()
    }
}

fn pool_stats_of(name: &'static str, db: &DatabaseConnection) -> PoolStats {
    let (size, idle, max) = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        _ => (0, 0, 0),
    };
    PoolStats {
        name,
        size,
        idle: u32::try_from(idle).unwrap_or(u32::MAX),
        max,
    }
}

impl Store {
    /// The pools as they are now.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        vec![
            pool_stats_of("write", &self.write),
            pool_stats_of("read", &self.read),
        ]
    }

    /// Counts the orders reconciliation or a person still has to settle.
    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        let unknown_outcome = provider_attempts::Entity::find()
            .select_only()
            .column(provider_attempts::Column::OrderId)
            .distinct()
            .filter(provider_attempts::Column::State.eq(AttemptState::Unknown.as_str()))
            .count(&self.read)
            .await?;
        let needs_review = orders::Entity::find()
            .filter(orders::Column::NeedsReview.eq(true))
            .count(&self.read)
            .await?;
        Ok(Backlog {
            unknown_outcome,
            needs_review,
        })
    }

    /// Has `observer` told, after every commit, what money it moved.
    pub fn observe_money(&mut self, observer: MoneyObserver) {
        self.money_observer = Some(observer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderState;

    fn order(authorized: i64, captured: i64, refunded: i64) -> OrderRecord {
        let mut state = OrderState::new(10_000);
        state.authorized = authorized;
        state.captured = captured;
        state.refunded = refunded;
        OrderRecord::for_tests("ord_1", ProviderKind::Payjp, state)
    }

    #[test]
    fn only_what_changed_between_lock_and_last_save_counts() {
        let mut book = MoneyBook::default();
        book.locked(&order(10_000, 3_000, 0));
        book.saved(&order(10_000, 5_000, 0));
        book.saved(&order(10_000, 7_000, 1_000));
        let moved = book.moved();
        assert_eq!(
            moved,
            vec![MoneyMoved {
                provider: ProviderKind::Payjp,
                currency: "JPY",
                authorized: 0,
                captured: 4_000,
                refunded: 1_000,
            }]
        );
    }

    #[test]
    fn a_transaction_that_moved_nothing_reports_nothing() {
        let mut book = MoneyBook::default();
        book.locked(&order(10_000, 3_000, 0));
        book.saved(&order(10_000, 3_000, 0));
        assert!(book.moved().is_empty());
        let mut book = MoneyBook::default();
        book.inserted(&order(0, 0, 0));
        assert!(book.moved().is_empty());
    }

    #[test]
    fn a_new_order_counts_from_zero() {
        let mut book = MoneyBook::default();
        book.inserted(&order(0, 0, 0));
        book.saved(&order(5_000, 5_000, 0));
        let moved = book.moved();
        assert_eq!(moved[0].authorized, 5_000);
        assert_eq!(moved[0].captured, 5_000);
    }
}
