//! Reads, served from the read pool.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{NullOrdering, Value};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select, Statement,
};

use super::Store;
use super::attached::corrupt;
use super::convert::order_from_row;
use super::entities::{idempotency_keys, order_events, orders, provider_attempts};
use super::error::StoreError;
use super::records::{AttemptRecord, AttemptState, EventRecord, KeyRecord, KeyState, Operation};
use super::row_models::{self, DriverRow};
use super::sqlite_reads::answered;
use super::view_cache::{Stamp, ViewCache};
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

/// How many of `stamps` are not kept at their version.
fn missing(views: &ViewCache, stamps: &[Stamp]) -> usize {
    stamps.iter().filter(|stamp| !views.kept_at(stamp)).count()
}

/// The statement of an order's id and version, found by `id` as `sees`
/// allows.
fn version_of(backend: DatabaseBackend, id: &OrderId, sees: &Visibility) -> Statement {
    let select = row_models::stamp_select().filter(orders::Column::Id.eq(id.as_str()));
    visible(select, sees).build(backend)
}

impl Store {
    /// How many of this store's reads SQLite answered on the calling
    /// thread (`sqlite_reads.rs`), not through the driver.
    pub fn reads_on_calling_thread(&self) -> u64 {
        self.direct.as_ref().map_or(0, |direct| direct.answered())
    }

    /// One order with its captures and refunds, no write. Where a view of
    /// it is kept, the order's version first, and that view if it was read
    /// at that version (`view_cache.rs`); otherwise
    /// [`Store::order_view_whole`]. `None` also when `sees` does not allow
    /// the order.
    pub async fn order_view(
        &self,
        id: &OrderId,
        sees: &Visibility,
    ) -> Result<Option<OrderView>, StoreError> {
        if let Some(views) = self.views.as_ref().filter(|views| views.holds(id)) {
            let Some(stamp) = self
                .stamps(version_of(self.backend(), id, sees))
                .await?
                .pop()
            else {
                return Ok(None);
            };
            if let Some(view) = views.view(&stamp) {
                return Ok(Some(view));
            }
        }
        self.order_view_whole(id, sees).await
    }

    /// The view of order `id` this store keeps, if `sees` allows it,
    /// without asking the database: it may be older than the database's
    /// row, so it serves only a decision whose write is conditional on the
    /// view's version (`payments::unlocked`), which writes nothing if the
    /// row has moved since.
    pub fn order_view_kept(&self, id: &OrderId, sees: &Visibility) -> Option<OrderView> {
        let view = self.views.as_ref()?.latest(id)?;
        sees.allows(&view.order.owner).then_some(view)
    }

    /// Keeps `view`, built by its caller from the rows a step it committed
    /// wrote, for the reads and decisions after it. It must be what a read
    /// of the order at its version answers (`tests/it/kept_views.rs`
    /// compares them after every call that keeps one).
    pub fn keep_written(&self, view: &OrderView) {
        if let Some(views) = &self.views {
            views.keep(std::slice::from_ref(view));
        }
    }

    /// [`Store::order_view`] read whole in one statement, without asking
    /// for the version first: for a read that a write has most likely just
    /// made new (the one a Capture, Refund or Void decides on). The view is
    /// kept for the reads after it.
    pub async fn order_view_whole(
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
        let view = OrderView {
            order: order_from_row(row)?,
            captures,
            refunds,
        };
        if let Some(views) = &self.views {
            views.keep(std::slice::from_ref(&view));
        }
        Ok(Some(view))
    }

    /// A page of orders, newest first. A page read before asks for its
    /// orders' ids and versions first and reads whole only the orders not
    /// kept at their version (`view_cache.rs`); any other is read whole,
    /// and kept, as is one read before that last asked in vain. A search's
    /// page is read whole and not kept.
    pub async fn list_orders(&self, filter: &OrderFilter) -> Result<Vec<OrderView>, StoreError> {
        let page = self.page_select(filter).await?;
        // A search's page is read as before, whole and not kept: searches
        // are mostly asked once, and where they spread over many
        // customers their kept views were pushed out before they were
        // asked for again, so asking for versions first cost them a fifth
        // of their rate (BENCHMARKS.md).
        let views = self.views.as_ref().filter(|_| filter.search.is_empty());
        let mut ask_next_time = None;
        if let Some(views) = views {
            let versions = self.page_statement(&page, row_models::stamp_columns());
            let key = ViewCache::page_key(&versions);
            if views.ask(key) {
                let stamps = self.stamps(versions).await?;
                // Most of the page changed: the page's own statement reads
                // it as cheaply as the orders by id, and PostgreSQL plans
                // a list of ids anew on every read.
                if missing(views, &stamps) * 2 <= stamps.len() {
                    return self.kept_or_read(views, &stamps, &filter.sees).await;
                }
                views.next_time(key, false);
            } else {
                ask_next_time = Some(key);
            }
        }
        let statement = self.page_statement(&page, row_models::view_columns());
        let read = self.read_page(statement, filter.order).await?;
        if let Some(views) = views {
            views.keep(&read);
            if let Some(key) = ask_next_time {
                views.next_time(key, true);
            }
        }
        Ok(read)
    }

    /// The views of `stamps`, in their order: those kept at their version,
    /// and the others read whole in one statement, and kept. An order gone
    /// since its stamp was read is left out.
    async fn kept_or_read(
        &self,
        views: &ViewCache,
        stamps: &[Stamp],
        sees: &Visibility,
    ) -> Result<Vec<OrderView>, StoreError> {
        let mut page = views.page(stamps);
        let missing: Vec<&str> = stamps
            .iter()
            .zip(&page)
            .filter(|(_, kept)| kept.is_none())
            .map(|(stamp, _)| stamp.id.as_str())
            .collect();
        if !missing.is_empty() {
            let by_id = row_models::view_select()
                .filter(orders::Column::Id.is_in(missing))
                .order_by_desc(orders::Column::Id);
            let statement = visible(by_id, sees).build(self.backend());
            let read = self.read_page(statement, ListOrder::Newest).await?;
            views.keep(&read);
            let mut read: HashMap<String, OrderView> = read
                .into_iter()
                .map(|view| (view.order.id.to_string(), view))
                .collect();
            for (kept, stamp) in page.iter_mut().zip(stamps) {
                if kept.is_none() {
                    *kept = read.remove(&stamp.id);
                }
            }
        }
        Ok(page.into_iter().flatten().collect())
    }

    /// The orders `statement` (of [`row_models::view_columns`], in
    /// `order`) selects, each with its records: through the driver in one
    /// statement (`page_read.rs`).
    async fn read_page(
        &self,
        statement: Statement,
        order: ListOrder,
    ) -> Result<Vec<OrderView>, StoreError> {
        // SQLite on the calling thread: the orders, then their records. In
        // one statement SQLite sorted the joined rows, every column of
        // each, and the page cost a half more (BENCHMARKS.md).
        if let Some(rows) = answered(self.direct.as_deref(), |direct| direct.orders(&statement)) {
            let orders = rows
                .into_iter()
                .map(order_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            return self.attach(orders).await;
        }
        let statement = super::page_read::with_records(statement, order);
        super::page_read::read(&self.read, statement).await
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

    /// The ids and versions `statement` (of [`row_models::stamp_columns`])
    /// selects.
    async fn stamps(&self, statement: Statement) -> Result<Vec<Stamp>, StoreError> {
        if let Some(stamps) = answered(self.direct.as_deref(), |direct| direct.stamps(&statement)) {
            return Ok(stamps);
        }
        self.read
            .query_all_raw(statement)
            .await?
            .iter()
            .map(|row| row_models::stamp(&mut DriverRow::new(row)).map_err(corrupt))
            .collect()
    }

    /// The page `filter` asks for, with no column selected yet, and whether
    /// it walks every order for a search (`search::through_walk_index`).
    async fn page_select(
        &self,
        filter: &OrderFilter,
    ) -> Result<(Select<orders::Entity>, bool), StoreError> {
        let mut query = visible(orders::Entity::find().select_only(), &filter.sees);
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
        Ok((
            query.limit(filter.limit),
            walks && filter.walks_every_order(),
        ))
    }

    /// [`Store::page_select`]'s page selecting `columns`.
    fn page_statement(
        &self,
        (page, walks): &(Select<orders::Entity>, bool),
        columns: impl IntoIterator<Item = orders::Column>,
    ) -> Statement {
        let statement = literal_limit(page.clone().columns(columns).build(self.backend()));
        if *walks {
            super::search::through_walk_index(statement)
        } else {
            statement
        }
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
