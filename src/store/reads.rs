//! Reads, served from the read pool.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{NullOrdering, Value};
use sea_orm::{
    ColumnTrait, Condition, DatabaseBackend, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement,
};

use super::Store;
use super::convert::order_from_row;
use super::entities::{idempotency_keys, order_events, orders, provider_attempts};
use super::error::StoreError;
use super::records::{AttemptRecord, AttemptState, EventRecord, KeyRecord, KeyState, Operation};
use super::sqlite_reads::answered;
use crate::domain::{
    AttemptId, OrderId, OrderSearch, OrderStatus, OrderView, ProviderKind, Visibility,
};

/// In which order a listing comes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListOrder {
    /// Newest first; pages start below `before_id`.
    #[default]
    Newest,
    /// Soonest authorization expiry first (none last), then by id; pages
    /// start after `after_expiry`.
    SoonestExpiry,
}

/// Which orders to list, in which order, and where the page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFilter {
    pub statuses: Vec<OrderStatus>,
    pub provider: Option<ProviderKind>,
    pub merchant_reference: Option<String>,
    /// Inclusive.
    pub created_after: Option<DateTime<Utc>>,
    /// Exclusive.
    pub created_before: Option<DateTime<Utc>>,
    /// Keyset cursor: only ids below this one (ids sort by creation).
    pub before_id: Option<String>,
    pub order: ListOrder,
    /// Keyset cursor of [`ListOrder::SoonestExpiry`]: only orders after
    /// this (expiry, id).
    pub after_expiry: Option<(Option<DateTime<Utc>>, String)>,
    /// Only orders flagged for manual review.
    pub needs_review: bool,
    /// Customer and free-text filters (`store/search.rs`).
    pub search: OrderSearch,
    /// Whose orders (the ownership check).
    pub sees: Visibility,
    pub limit: u64,
}

impl OrderFilter {
    /// Whether a walk for a search reads every order newest first: nothing
    /// else narrows it (a caller's own orders, a status, a provider… each
    /// has its index) and it is in `id` order.
    fn walks_every_order(&self) -> bool {
        self.sees.owner().is_none()
            && self.statuses.is_empty()
            && self.provider.is_none()
            && self.merchant_reference.is_none()
            && self.created_after.is_none()
            && self.created_before.is_none()
            && !self.needs_review
            && self.order == ListOrder::Newest
    }
}

pub(super) fn key_from_row(row: idempotency_keys::Model) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        state: KeyState::parse(&row.state)
            .ok_or_else(|| StoreError::Corrupt(format!("idempotency key state {:?}", row.state)))?,
        scope: row.scope,
        key: row.key,
        rpc: row.rpc,
        request_hash: row.request_hash,
        order_id: row.order_id,
        attempt_id: row.attempt_id,
        outcome: row.outcome,
        created_at: row.created_at,
        updated_at: row.updated_at,
        expires_at: row.expires_at,
    })
}

pub(super) fn attempt_from_row(row: provider_attempts::Model) -> Result<AttemptRecord, StoreError> {
    Ok(AttemptRecord {
        operation: Operation::parse(&row.operation)
            .ok_or_else(|| StoreError::Corrupt(format!("attempt operation {:?}", row.operation)))?,
        state: AttemptState::parse(&row.state)
            .ok_or_else(|| StoreError::Corrupt(format!("attempt state {:?}", row.state)))?,
        id: AttemptId::from_trusted(row.id),
        order_id: OrderId::from_trusted(row.order_id),
        target_id: row.target_id,
        provider_key: row.provider_key,
        amount: row.amount,
        request: serde_json::from_str(&row.request)
            .map_err(|_| StoreError::Corrupt(format!("attempt request {:?}", row.request)))?,
        error: row.error,
        checks: row.checks,
        created_at: row.created_at,
    })
}

/// The one ownership check: narrows a query on `orders` to what `sees`
/// allows.
pub(super) fn visible<Q: QueryFilter>(query: Q, sees: &Visibility) -> Q {
    match sees.owner() {
        Some(owner) => query.filter(orders::Column::Owner.eq(owner)),
        None => query,
    }
}

/// A page's `LIMIT ?` on SQLite, written into the statement instead. SQLite
/// reads a bound limit while it plans, so binding one marks the statement
/// stale and every run parsed and planned it again (`sqlite3Reprepare`:
/// 4 % of kessai's CPU on ListOrders). The limit is kessai's own number, at
/// most `MAX_PAGE_SIZE + 1`: a few statements, each prepared once per
/// connection. PostgreSQL keeps its parameter.
fn literal_limit(mut page: Statement) -> Statement {
    const BOUND: &str = " LIMIT ?";
    if page.db_backend != DatabaseBackend::Sqlite || !page.sql.ends_with(BOUND) {
        return page;
    }
    let Some(values) = page.values.as_mut() else {
        return page;
    };
    if let Some(Value::BigUnsigned(Some(limit))) = values.0.last().cloned() {
        values.0.pop();
        page.sql.truncate(page.sql.len() - BOUND.len());
        page.sql.push_str(&format!(" LIMIT {limit}"));
    }
    page
}

impl Store {
    /// How many of this store's reads SQLite answered on the calling
    /// thread (`sqlite_reads.rs`), not through the driver.
    pub fn reads_on_calling_thread(&self) -> u64 {
        self.direct.as_ref().map_or(0, |direct| direct.answered())
    }

    /// One order with its captures and refunds: one statement, no write.
    /// `None` also when `sees` does not allow the order.
    pub async fn order_view(
        &self,
        id: &OrderId,
        sees: &Visibility,
    ) -> Result<Option<OrderView>, StoreError> {
        let found = super::attached::order_with_attached(
            &self.read,
            self.direct.as_deref(),
            id.as_str(),
            sees,
        )
        .await?;
        let Some((row, captures, refunds)) = found else {
            return Ok(None);
        };
        Ok(Some(OrderView {
            order: order_from_row(row)?,
            captures,
            refunds,
        }))
    }

    /// A page of orders, newest first.
    pub async fn list_orders(&self, filter: &OrderFilter) -> Result<Vec<OrderView>, StoreError> {
        let mut query = visible(super::row_models::view_select(), &filter.sees);
        if !filter.statuses.is_empty() {
            query = query
                .filter(orders::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
        }
        if let Some(provider) = filter.provider {
            query = query.filter(orders::Column::Provider.eq(provider.as_str()));
        }
        if let Some(reference) = &filter.merchant_reference {
            query = query.filter(orders::Column::MerchantReference.eq(reference.as_str()));
        }
        if let Some(after) = filter.created_after {
            query = query.filter(orders::Column::CreatedAt.gte(after));
        }
        if let Some(before) = filter.created_before {
            query = query.filter(orders::Column::CreatedAt.lt(before));
        }
        if filter.needs_review {
            query = query.filter(orders::Column::NeedsReview.eq(true));
        }
        if let Some(cursor) = &filter.before_id {
            query = query.filter(orders::Column::Id.lt(cursor.as_str()));
        }
        if let Some((at, id)) = &filter.after_expiry {
            use orders::Column::{ExpiresAt, Id};
            query = query.filter(match at {
                Some(at) => Condition::any()
                    .add(ExpiresAt.gt(*at))
                    .add(
                        Condition::all()
                            .add(ExpiresAt.eq(*at))
                            .add(Id.gt(id.as_str())),
                    )
                    .add(ExpiresAt.is_null()),
                None => Condition::all()
                    .add(ExpiresAt.is_null())
                    .add(Id.gt(id.as_str())),
            });
        }
        let (query, walks) = self.searched(query, &filter.search).await?;
        let query = match filter.order {
            ListOrder::Newest => query.order_by_desc(orders::Column::Id),
            ListOrder::SoonestExpiry => query
                .order_by_with_nulls(orders::Column::ExpiresAt, Order::Asc, NullOrdering::Last)
                .order_by_asc(orders::Column::Id),
        };
        let page = literal_limit(query.limit(filter.limit).build(self.backend()));
        let page = if walks && filter.walks_every_order() {
            super::search::through_walk_index(page)
        } else {
            page
        };
        let Some(rows) = answered(self.direct.as_deref(), |direct| direct.orders(&page)) else {
            let page = super::page_read::with_records(page, filter.order);
            return super::page_read::read(&self.read, page).await;
        };
        let orders = rows
            .into_iter()
            .map(order_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.attach(orders).await
    }

    /// Loads the captures and refunds of several orders in one statement.
    async fn attach(
        &self,
        orders: Vec<crate::domain::OrderRecord>,
    ) -> Result<Vec<OrderView>, StoreError> {
        let capture_orders: Vec<String> = orders.iter().map(|o| o.id.to_string()).collect();
        // A refund needs a captured amount, and what was captured is never
        // un-captured: orders that never captured have no refund to read.
        let refund_orders: Vec<String> = orders
            .iter()
            .filter(|o| o.state.captured > 0)
            .map(|o| o.id.to_string())
            .collect();
        let (mut captures_by_order, mut refunds_by_order) = super::attached::captures_and_refunds(
            &self.read,
            self.direct.as_deref(),
            capture_orders,
            refund_orders,
        )
        .await?;
        Ok(orders
            .into_iter()
            .map(|order| OrderView {
                captures: captures_by_order
                    .remove(order.id.as_str())
                    .unwrap_or_default(),
                refunds: refunds_by_order
                    .remove(order.id.as_str())
                    .unwrap_or_default(),
                order,
            })
            .collect())
    }

    pub async fn find_key(&self, scope: &str, key: &str) -> Result<Option<KeyRecord>, StoreError> {
        idempotency_keys::Entity::find_by_id((scope.to_owned(), key.to_owned()))
            .one(&self.read)
            .await?
            .map(key_from_row)
            .transpose()
    }

    /// The order's history, oldest first.
    pub async fn events(&self, order_id: &OrderId) -> Result<Vec<EventRecord>, StoreError> {
        order_events::Entity::find()
            .filter(order_events::Column::OrderId.eq(order_id.as_str()))
            .order_by_asc(order_events::Column::Id)
            .all(&self.read)
            .await?
            .into_iter()
            .map(|row| {
                Ok(EventRecord {
                    data: serde_json::from_str(&row.data)
                        .map_err(|_| StoreError::Corrupt(format!("event data {:?}", row.data)))?,
                    id: row.id,
                    order_id: row.order_id,
                    event_type: row.event_type,
                    actor: row.actor,
                    status: row.status,
                    created_at: row.created_at,
                })
            })
            .collect()
    }

    /// The order's provider calls, oldest first.
    pub async fn attempts(&self, order_id: &OrderId) -> Result<Vec<AttemptRecord>, StoreError> {
        provider_attempts::Entity::find()
            .filter(provider_attempts::Column::OrderId.eq(order_id.as_str()))
            .order_by_asc(provider_attempts::Column::Id)
            .all(&self.read)
            .await?
            .into_iter()
            .map(attempt_from_row)
            .collect()
    }
}

#[cfg(test)]
mod literal_limit_tests {
    use sea_orm::sqlx::sqlite::SqliteConnection;
    use sea_orm::sqlx::{Connection, Executor};

    use super::*;

    fn page(backend: DatabaseBackend) -> Statement {
        orders::Entity::find()
            .filter(orders::Column::Owner.eq("shop"))
            .order_by_desc(orders::Column::Id)
            .limit(51)
            .build(backend)
    }

    #[test]
    fn sqlite_pages_carry_their_limit_in_the_statement() {
        let bound = page(DatabaseBackend::Sqlite);
        let literal = literal_limit(bound.clone());
        assert!(bound.sql.ends_with(" LIMIT ?"), "{}", bound.sql);
        assert!(literal.sql.ends_with(" LIMIT 51"), "{}", literal.sql);
        let values = |s: &Statement| s.values.as_ref().map(|v| v.0.clone()).unwrap_or_default();
        assert_eq!(values(&literal), values(&bound)[..1].to_vec());

        let postgres = page(DatabaseBackend::Postgres);
        assert_eq!(literal_limit(postgres.clone()).sql, postgres.sql);
    }

    /// Statements re-prepared on `connection` so far.
    async fn reprepared(connection: &mut SqliteConnection) -> i32 {
        let mut handle = connection.lock_handle().await.unwrap();
        let db = handle.as_raw_handle().as_ptr();
        let mut total = 0;
        // SAFETY: the handle is locked for the loop; statements are only
        // read, not finalized.
        unsafe {
            let mut statement = libsqlite3_sys::sqlite3_next_stmt(db, std::ptr::null_mut());
            while !statement.is_null() {
                total += libsqlite3_sys::sqlite3_stmt_status(
                    statement,
                    libsqlite3_sys::SQLITE_STMTSTATUS_REPREPARE,
                    0,
                );
                statement = libsqlite3_sys::sqlite3_next_stmt(db, statement);
            }
        }
        total
    }

    /// Why the limit is written in: SQLite plans again each run whose
    /// limit is bound, and never one whose limit is written.
    #[tokio::test]
    async fn sqlite_plans_a_bound_limit_again_on_every_run() {
        let mut connection = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        connection
            .execute("CREATE TABLE t (id TEXT PRIMARY KEY, owner TEXT)")
            .await
            .unwrap();
        for (sql, expected) in [
            (
                "SELECT id FROM t WHERE owner = ? ORDER BY id DESC LIMIT ?",
                10,
            ),
            (
                "SELECT id FROM t WHERE owner = ? ORDER BY id DESC LIMIT 51",
                0,
            ),
        ] {
            let before = reprepared(&mut connection).await;
            for _ in 0..10 {
                let query = sea_orm::sqlx::query(sql).bind("shop");
                let query = if sql.ends_with('?') {
                    query.bind(51_i64)
                } else {
                    query
                };
                query.fetch_all(&mut connection).await.unwrap();
            }
            assert_eq!(
                reprepared(&mut connection).await - before,
                expected,
                "{sql}"
            );
        }
    }
}
