//! The order history read as a stream: every event after a cursor, in id
//! order, and never one that an earlier, still uncommitted event could
//! precede.
//!
//! On PostgreSQL, event ids come from a sequence, and sequence numbers are
//! not committed in order: a reader that has seen id 10 may later find id 9
//! committed by a transaction that took its number first. Each read
//! therefore also takes the snapshot's list of transactions in progress
//! (`pg_current_snapshot()`), and [`Horizon`] holds back every event past a
//! read that had transactions in progress until all of them have finished;
//! by then whatever they wrote below that point is visible, or will never
//! be. (A transaction takes its id when it first writes, and every event is
//! appended after the order row is written, so a transaction that holds an
//! event number is always in that list. Transactions known not to hold one
//! are left out of it: see [`IN_PROGRESS`].) SQLite has one writer at a time, so
//! what a reader sees is always a prefix of the history.

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
    /// was taken. Empty on SQLite.
    pub in_progress: Vec<u64>,
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
    pub(super) async fn latest_event(&self) -> Result<(i64, Vec<u64>), StoreError> {
        let _permit = self.event_read_permit().await?;
        let sql = match self.backend() {
            DatabaseBackend::Postgres => format!(
                "SELECT COALESCE(MAX(id), 0) AS latest, {IN_PROGRESS} AS snapshot FROM order_events"
            ),
            _ => "SELECT COALESCE(MAX(id), 0) AS latest, '' AS snapshot FROM order_events".into(),
        };
        let row = self
            .read
            .query_one_raw(Statement::from_string(self.backend(), sql))
            .await?
            .ok_or_else(|| StoreError::Database("no latest event".into()))?;
        let latest: i64 = row.try_get("", "latest")?;
        let snapshot: String = row.try_get("", "snapshot")?;
        let in_progress = match self.backend() {
            DatabaseBackend::Postgres => in_progress(&snapshot)?,
            _ => Vec::new(),
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
                // needed either way (see [`Horizon::admit`]).
                let inner = query.build(DatabaseBackend::Postgres);
                let statement = Statement {
                    sql: format!(
                        "SELECT s.snapshot, e.* \
                         FROM (SELECT {IN_PROGRESS} AS snapshot) s \
                         LEFT JOIN LATERAL ({}) e ON true ORDER BY e.id",
                        inner.sql
                    ),
                    ..inner
                };
                let results = self.read.query_all_raw(statement).await?;
                let text: String = results
                    .first()
                    .ok_or_else(|| StoreError::Database("no snapshot".into()))?
                    .try_get("", "snapshot")?;
                let mut rows = Vec::with_capacity(results.len());
                for result in &results {
                    if result.try_get::<Option<i64>>("", "id")?.is_some() {
                        rows.push(order_events::Model::from_query_result(result, "")?);
                    }
                }
                (rows, in_progress(&text)?)
            }
            _ => (query.all(&self.read).await?, Vec::new()),
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

/// The transactions in progress that may hold an event number: the
/// statement snapshot's `xip` (in `pg_snapshot`'s text form), without the
/// transactions of sessions connected to another database of the same
/// server, which can never write this database's `order_events`. Leaving
/// those out keeps a long transaction elsewhere from holding back every
/// stream; one left open in kessai's own database still does, until it
/// ends. (Judging this database's transactions by the locks they held was
/// tried and dropped: `pg_locks` is not one consistent picture, and under
/// load streams skipped events.) A session whose transaction id this role
/// may not see is kept, which can only hold a stream back, never skip.
const IN_PROGRESS: &str = "(SELECT '0:0:' || coalesce(string_agg(x::text, ',' ORDER BY x), '') \
    FROM pg_snapshot_xip(pg_current_snapshot()) AS x \
    WHERE (x::text::bigint % 4294967296) NOT IN ( \
        SELECT backend_xid::text::bigint FROM pg_stat_activity \
        WHERE backend_xid IS NOT NULL AND datname <> current_database()))";

/// The in-progress transaction ids of a `pg_snapshot` (`xmin:xmax:xip,…`).
fn in_progress(snapshot: &str) -> Result<Vec<u64>, StoreError> {
    let list = snapshot
        .splitn(3, ':')
        .nth(2)
        .ok_or_else(|| corrupt("snapshot", snapshot))?;
    list.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().map_err(|_| corrupt("snapshot", snapshot)))
        .collect()
}

/// How far a watcher has read, and what it must wait for before reading on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Horizon {
    /// Every event up to here was delivered (or never committed).
    cursor: i64,
    barrier: Option<Barrier>,
}

/// Events up to `upto` were read while `waiting_on` were in progress: one of
/// them may still commit an event below `upto`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Barrier {
    upto: i64,
    waiting_on: Vec<u64>,
}

impl Horizon {
    pub fn after(cursor: i64) -> Self {
        Self {
            cursor,
            barrier: None,
        }
    }

    /// Where the next read starts.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Whether events already read are held back until transactions in
    /// progress finish (which may announce nothing: read again soon).
    pub fn held_back(&self) -> bool {
        self.barrier.is_some()
    }

    /// The events of `batch` (a read after [`Horizon::cursor`]) that can be
    /// delivered now, in order. The rest are read again later.
    pub fn admit(&mut self, batch: EventBatch) -> Vec<StreamedEvent> {
        if let Some(barrier) = &mut self.barrier {
            // Transactions that have finished are no longer in the list.
            barrier
                .waiting_on
                .retain(|xid| batch.in_progress.contains(xid));
        }
        let last = batch.events.last().map(|e| e.id);
        let mut admitted = Vec::new();
        for event in batch.events {
            if let Some(barrier) = &self.barrier {
                if !barrier.waiting_on.is_empty() {
                    break;
                }
                if event.id > barrier.upto {
                    self.cursor = std::cmp::max(self.cursor, barrier.upto);
                    self.barrier = None;
                }
            }
            if self.barrier.is_none() && !batch.in_progress.is_empty() {
                self.barrier = Some(Barrier {
                    upto: last.unwrap_or(event.id),
                    waiting_on: batch.in_progress.clone(),
                });
                break;
            }
            self.cursor = event.id;
            admitted.push(event);
        }
        // Everything up to a cleared barrier was read: nothing more can
        // appear below it.
        if let Some(barrier) = &self.barrier
            && barrier.waiting_on.is_empty()
            && !batch.full
        {
            self.cursor = std::cmp::max(self.cursor, barrier.upto);
            self.barrier = None;
        }
        admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64) -> StreamedEvent {
        StreamedEvent {
            id,
            order_id: OrderId::from_trusted(format!("ord_{id}")),
            owner: "shop".into(),
            provider: ProviderKind::Payjp,
            event_type: "capture.succeeded".into(),
            actor: "test".into(),
            status: OrderStatus::Captured,
            currency: Currency::parse("JPY").unwrap(),
            amount: 100,
            amounts: None,
            created_at: Utc::now(),
        }
    }

    fn batch(ids: &[i64], in_progress: &[u64]) -> EventBatch {
        EventBatch {
            events: ids.iter().copied().map(event).collect(),
            full: false,
            in_progress: in_progress.to_vec(),
        }
    }

    fn ids(events: &[StreamedEvent]) -> Vec<i64> {
        events.iter().map(|e| e.id).collect()
    }

    #[test]
    fn with_nothing_in_progress_every_visible_event_is_final() {
        let mut h = Horizon::after(0);
        assert_eq!(ids(&h.admit(batch(&[1, 2, 4], &[]))), [1, 2, 4]);
        assert_eq!(h.cursor(), 4);
    }

    #[test]
    fn an_event_committed_late_below_one_already_seen_is_not_skipped() {
        // 10 commits while the transaction holding 9 (xid 77) is open.
        let mut h = Horizon::after(8);
        assert!(h.admit(batch(&[10], &[77])).is_empty());
        assert_eq!(h.cursor(), 8, "nothing past 8 is final yet");
        // Still open: still nothing.
        assert!(h.admit(batch(&[10], &[77, 80])).is_empty());
        // 77 committed 9; a newer transaction (80) does not hold anything
        // below 10, so 9 and 10 go out, in order.
        assert_eq!(ids(&h.admit(batch(&[9, 10], &[80]))), [9, 10]);
        assert_eq!(h.cursor(), 10);
    }

    #[test]
    fn a_gap_left_by_a_rolled_back_transaction_is_passed_once_it_has_finished() {
        let mut h = Horizon::after(0);
        assert!(h.admit(batch(&[2, 3], &[5])).is_empty());
        // 5 rolled back: id 1 never appears.
        assert_eq!(ids(&h.admit(batch(&[2, 3], &[]))), [2, 3]);
        assert_eq!(h.cursor(), 3);
    }

    #[test]
    fn events_past_a_cleared_barrier_wait_for_the_transactions_of_their_own_read() {
        let mut h = Horizon::after(0);
        assert!(h.admit(batch(&[2], &[5])).is_empty());
        // 5 finished, but 6 started and 7 is visible beyond the barrier.
        assert_eq!(ids(&h.admit(batch(&[1, 2, 7], &[6]))), [1, 2]);
        assert_eq!(h.cursor(), 2);
        assert_eq!(ids(&h.admit(batch(&[5, 7], &[]))), [5, 7]);
    }

    #[test]
    fn a_full_read_keeps_the_cleared_barrier_for_the_rest() {
        let mut h = Horizon::after(0);
        assert!(h.admit(batch(&[1, 2, 3, 4], &[9])).is_empty());
        let mut first = batch(&[1, 2], &[]);
        first.full = true;
        assert_eq!(ids(&h.admit(first)), [1, 2]);
        assert_eq!(h.cursor(), 2);
        // Nothing is in progress any more, yet the barrier still covers up
        // to 4 until the read reaches it.
        assert_eq!(ids(&h.admit(batch(&[3, 4, 5], &[11]))), [3, 4]);
        assert_eq!(h.cursor(), 4);
        assert!(h.admit(batch(&[5], &[11])).is_empty());
    }

    #[test]
    fn a_filtered_read_with_nothing_new_leaves_the_cursor() {
        let mut h = Horizon::after(3);
        assert!(h.admit(batch(&[], &[4])).is_empty());
        assert_eq!(h.cursor(), 3);
    }

    #[test]
    fn snapshots_list_their_transactions_in_progress() {
        assert_eq!(in_progress("10:20:").unwrap(), Vec::<u64>::new());
        assert_eq!(in_progress("10:20:10,14,15").unwrap(), [10, 14, 15]);
        assert!(in_progress("garbage").is_err());
    }
}
