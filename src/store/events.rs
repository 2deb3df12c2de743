//! The order history read as a stream: every event after a cursor, in id
//! order. On PostgreSQL each read also says which transactions were in
//! progress when its snapshot was taken, so that [`super::Horizon`] can hold
//! back what one of them could still precede.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Statement,
};
use tokio::sync::SemaphorePermit;

use super::Store;
use super::entities::{order_events, orders};
use super::error::StoreError;
use super::horizon::Running;
use super::records::EventAmounts;
use crate::domain::{Currency, OrderId, OrderStatus, ProviderKind};

/// Which events a watcher wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub order_id: Option<OrderId>,
    pub provider: Option<ProviderKind>,
    /// Only orders of this owner (`Visibility`); `None`: every owner's.
    pub owner: Option<String>,
}

impl EventFilter {
    /// Whether `event` is one of those wanted (the database applies the same
    /// filter to reads).
    pub fn matches(&self, event: &StreamedEvent) -> bool {
        self.order_id
            .as_ref()
            .is_none_or(|id| *id == event.order_id)
            && self.provider.is_none_or(|p| p == event.provider)
            && self
                .owner
                .as_ref()
                .is_none_or(|owner| *owner == event.owner)
    }
}

/// One event of an order's history, with the order facts a watcher needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedEvent {
    /// Its position in the history: ids only grow.
    pub id: i64,
    pub order_id: OrderId,
    /// Who may see the order.
    pub owner: String,
    pub provider: ProviderKind,
    pub event_type: String,
    pub actor: String,
    /// The order's status right after the event.
    pub status: OrderStatus,
    pub currency: Currency,
    /// What the order asked for at Authorize.
    pub amount: i64,
    /// The order's amounts right after the event; absent on events recorded
    /// before kessai kept them.
    pub amounts: Option<EventAmounts>,
    pub created_at: DateTime<Utc>,
}

/// One read of the history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventBatch {
    /// The events after the cursor that match the filter, by id.
    pub events: Vec<StreamedEvent>,
    /// Whether the read stopped at its limit (more may be visible already).
    pub full: bool,
    /// PostgreSQL: the transactions in progress when the read's snapshot
    /// was taken. Empty on SQLite and for reads below a known horizon.
    pub in_progress: Running,
}

impl Store {
    /// Events with an id above `after`, oldest first, at most `limit`.
    ///
    /// No transaction: on PostgreSQL the rows and the list of transactions
    /// in progress come from one statement (so from one snapshot), and the
    /// order facts read beside them (provider, currency, amount) never
    /// change once the order exists. A reader that goes away drops a plain
    /// statement, which leaves nothing open on its connection. Reads take a
    /// permit first, so they never hold more than a quarter of the pool.
    pub async fn events_after(
        &self,
        after: i64,
        filter: &EventFilter,
        limit: u64,
    ) -> Result<EventBatch, StoreError> {
        self.read_events(after, None, filter, limit).await
    }

    /// Events with an id in `(after, until]`, oldest first, at most `limit`,
    /// where every event up to `until` is already known to be final (the
    /// event feed has passed it): no snapshot is needed, and `in_progress`
    /// is empty.
    pub async fn events_between(
        &self,
        after: i64,
        until: i64,
        filter: &EventFilter,
        limit: u64,
    ) -> Result<EventBatch, StoreError> {
        self.read_events(after, Some(until), filter, limit).await
    }

    /// How many reads of the event history this store has made (the feed's
    /// and the streams' catching up).
    pub fn event_reads_total(&self) -> u64 {
        self.event_reads_total.load(Ordering::Relaxed)
    }

    /// The newest visible event id, and (PostgreSQL) the transactions in
    /// progress beside it: one of those may still commit an event below it.
    pub(super) async fn latest_event(&self) -> Result<(i64, Running), StoreError> {
        let _permit = self.event_read_permit().await?;
        let sql = match self.backend() {
            DatabaseBackend::Postgres => format!(
                "SELECT COALESCE(MAX(id), 0) AS latest, {IN_PROGRESS} AS snapshot, \
                 {OWN_ID} AS own FROM order_events"
            ),
            _ => "SELECT COALESCE(MAX(id), 0) AS latest, '' AS snapshot, NULL AS own \
                  FROM order_events"
                .into(),
        };
        let row = self
            .read
            .query_one_raw(Statement::from_string(self.backend(), sql))
            .await?
            .ok_or_else(|| StoreError::Database("no latest event".into()))?;
        let latest: i64 = row.try_get("", "latest")?;
        let in_progress = match self.backend() {
            DatabaseBackend::Postgres => Running::parse(
                &row.try_get::<String>("", "snapshot")?,
                row.try_get::<Option<String>>("", "own")?.as_deref(),
            )?,
            _ => Running::default(),
        };
        Ok((latest, in_progress))
    }

    async fn event_read_permit(&self) -> Result<SemaphorePermit<'_>, StoreError> {
        self.event_reads_total.fetch_add(1, Ordering::Relaxed);
        self.event_reads
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closing".into()))
    }

    async fn read_events(
        &self,
        after: i64,
        until: Option<i64>,
        filter: &EventFilter,
        limit: u64,
    ) -> Result<EventBatch, StoreError> {
        let _permit = self.event_read_permit().await?;
        let mut query = order_events::Entity::find()
            .filter(order_events::Column::Id.gt(after))
            .order_by_asc(order_events::Column::Id)
            .limit(limit);
        if let Some(until) = until {
            query = query.filter(order_events::Column::Id.lte(until));
        }
        if let Some(order_id) = &filter.order_id {
            query = query.filter(order_events::Column::OrderId.eq(order_id.as_str()));
        }
        let of_orders = |condition| {
            Expr::col(order_events::Column::OrderId).in_subquery(
                Query::select()
                    .column(orders::Column::Id)
                    .from(orders::Entity)
                    .and_where(condition)
                    .to_owned(),
            )
        };
        if let Some(provider) = filter.provider {
            query = query.filter(of_orders(orders::Column::Provider.eq(provider.as_str())));
        }
        if let Some(owner) = &filter.owner {
            query = query.filter(of_orders(orders::Column::Owner.eq(owner.as_str())));
        }
        let (rows, in_progress) = match (self.backend(), until) {
            (DatabaseBackend::Postgres, None) => {
                // One row even when no event matches: the snapshot is
                // needed either way (see [`super::Horizon::admit`]). The
                // read takes an id of its own only when it found events.
                let inner = query.build(DatabaseBackend::Postgres);
                let statement = Statement {
                    sql: format!(
                        "WITH e AS ({}) \
                         SELECT s.snapshot, s.own, e.* FROM (SELECT {IN_PROGRESS} AS snapshot, \
                         CASE WHEN EXISTS (SELECT 1 FROM e) THEN {OWN_ID} END AS own) s \
                         LEFT JOIN e ON true ORDER BY e.id",
                        inner.sql
                    ),
                    ..inner
                };
                let results = self.read.query_all_raw(statement).await?;
                let first = results
                    .first()
                    .ok_or_else(|| StoreError::Database("no snapshot".into()))?;
                let running = Running::parse(
                    &first.try_get::<String>("", "snapshot")?,
                    first.try_get::<Option<String>>("", "own")?.as_deref(),
                )?;
                let mut rows = Vec::with_capacity(results.len());
                for result in &results {
                    if result.try_get::<Option<i64>>("", "id")?.is_some() {
                        rows.push(order_events::Model::from_query_result(result, "")?);
                    }
                }
                (rows, running)
            }
            _ => (query.all(&self.read).await?, Running::default()),
        };
        let mut order_ids: Vec<&str> = rows.iter().map(|r| r.order_id.as_str()).collect();
        order_ids.sort_unstable();
        order_ids.dedup();
        let orders = if order_ids.is_empty() {
            Vec::new()
        } else {
            orders::Entity::find()
                .filter(orders::Column::Id.is_in(order_ids))
                .all(&self.read)
                .await?
        };
        let full = rows.len() as u64 >= limit;
        let events = rows
            .into_iter()
            .map(|row| {
                let order = orders
                    .iter()
                    .find(|o| o.id == row.order_id)
                    .ok_or_else(|| corrupt("event of an unknown order", &row.order_id))?;
                streamed(row, order)
            })
            .collect::<Result<_, _>>()?;
        Ok(EventBatch {
            events,
            full,
            in_progress,
        })
    }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

fn streamed(row: order_events::Model, order: &orders::Model) -> Result<StreamedEvent, StoreError> {
    let amounts = match (
        row.amount_authorized,
        row.amount_captured,
        row.amount_refunded,
        row.amount_capturable,
    ) {
        (Some(authorized), Some(captured), Some(refunded), Some(capturable)) => {
            Some(EventAmounts {
                authorized,
                captured,
                refunded,
                capturable,
            })
        }
        _ => None,
    };
    Ok(StreamedEvent {
        id: row.id,
        order_id: OrderId::from_trusted(row.order_id),
        owner: order.owner.clone(),
        provider: ProviderKind::parse(&order.provider)
            .ok_or_else(|| corrupt("provider", &order.provider))?,
        status: OrderStatus::parse(&row.status).ok_or_else(|| corrupt("status", &row.status))?,
        event_type: row.event_type,
        actor: row.actor,
        currency: Currency::parse(&order.currency)
            .map_err(|_| corrupt("currency", &order.currency))?,
        amount: order.amount,
        amounts,
        created_at: row.created_at,
    })
}

/// The transactions in progress that may hold an event number, as
/// `xmin:xmax:xip` (`pg_snapshot`'s text form): the statement snapshot's
/// `xip` without the
/// transactions of sessions connected to another database of the same
/// server, which can never write this database's `order_events`. Leaving
/// those out keeps a long transaction elsewhere from holding back every
/// stream; one left open in kessai's own database still does, until it
/// ends. (Judging this database's transactions by the locks they held was
/// tried and dropped: `pg_locks` is not one consistent picture, and under
/// load streams skipped events.) A session whose transaction id this role
/// may not see is kept, which can only hold a stream back, never skip.
const IN_PROGRESS: &str = "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text || ':' || \
    pg_snapshot_xmax(pg_current_snapshot())::text || ':' || coalesce(string_agg(x::text, ',' ORDER BY x), '') \
    FROM pg_snapshot_xip(pg_current_snapshot()) AS x \
    WHERE (x::text::bigint % 4294967296) NOT IN ( \
        SELECT backend_xid::text::bigint FROM pg_stat_activity \
        WHERE backend_xid IS NOT NULL AND datname <> current_database()))";

/// An id taken by the reading statement after its snapshot: past every id
/// handed out before it (see `Running`). Nothing is written under it, so
/// its commit need not wait for the disk.
const OWN_ID: &str = "(pg_current_xact_id()::text \
    || substr(set_config('synchronous_commit', 'off', true), 1, 0))";
