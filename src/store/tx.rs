//! A write transaction and the statements that run inside it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict, SubQueryStatement, UpdateStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, TransactionTrait,
};

use super::batch::{Batch, Guard, Table};
use super::convert::{
    capture_from_row, capture_to_active, order_from_row, order_to_active, refund_from_row,
    refund_to_active,
};
use super::entities::{
    captures, idempotency_keys, order_events, orders, provider_attempts, refunds,
};
use super::error::StoreError;
use super::group_commit::Turn;
use super::observe::{MoneyBook, MoneyObserver};
use super::reads::key_from_row;
use super::records::{AttemptState, Claim, KeyState, NewAttempt, NewEvent, NewKey};
use super::statements::{self, StatementKind};
use crate::domain::{
    AttemptId, CaptureId, CaptureRecord, OrderId, OrderRecord, RefundId, RefundRecord, Visibility,
};

/// One write transaction. Dropping it without [`Tx::commit`] rolls back.
///
/// On PostgreSQL the transaction begins at its first statement that cannot
/// wait for the commit (a read, a lock, a claim whose answer is needed), so
/// a step made only of writes is sent as one statement that commits itself:
/// one round trip, no `BEGIN` or `COMMIT`. On SQLite it begins at once, with
/// the database's write lock (`BEGIN IMMEDIATE`).
pub struct Tx {
    txn: tokio::sync::OnceCell<DatabaseTransaction>,
    /// SQLite: this step's turn at the writer (`group_commit.rs`). After
    /// `txn`, so that a step dropped unfinished has queued its rollback
    /// before the next step's turn.
    turn: Option<Turn>,
    /// Where the transaction begins, or a step of writes alone is sent.
    pool: DatabaseConnection,
    money: Mutex<MoneyBook>,
    money_observer: Option<MoneyObserver>,
    /// This process's event feed, woken once events appended here are
    /// committed (on SQLite nothing else announces them).
    feed: Arc<Notify>,
    appended: AtomicBool,
    batch: Batch,
}

impl Tx {
    /// A transaction begun already (`txn`), or to begin on `pool` when first
    /// needed.
    pub(super) fn new(
        txn: Option<DatabaseTransaction>,
        turn: Option<Turn>,
        pool: DatabaseConnection,
        money_observer: Option<MoneyObserver>,
        feed: Arc<Notify>,
    ) -> Self {
        Self {
            batch: Batch::new(pool.get_database_backend()),
            txn: tokio::sync::OnceCell::new_with(txn),
            turn,
            pool,
            money: Mutex::default(),
            money_observer,
            feed,
            appended: AtomicBool::new(false),
        }
    }

    /// Commits, then tells the money observer what the transaction moved:
    /// once per durable change, never for a rolled-back one.
    pub async fn commit(self) -> Result<(), StoreError> {
        let Tx {
            txn,
            turn,
            pool,
            money,
            money_observer,
            feed,
            appended,
            batch,
        } = self;
        match txn.into_inner() {
            Some(txn) => {
                batch.flush(&txn).await?;
                txn.commit().await?;
                if let Some(turn) = turn {
                    turn.durable().await?;
                }
            }
            // Nothing was read: the writes go as one statement, which
            // commits on its own or not at all.
            None => batch.flush(&pool).await?,
        }
        if appended.into_inner() {
            feed.notify_one();
        }
        if let Some(observer) = money_observer {
            let book = money.into_inner().unwrap_or_else(|p| p.into_inner());
            for moved in &book.moved() {
                observer(moved);
            }
        }
        Ok(())
    }

    fn book(&self) -> std::sync::MutexGuard<'_, MoneyBook> {
        self.money
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Undoes the transaction. On SQLite it then waits for its epoch to
    /// end (`group_commit::Turn::settled`): what it read may be other
    /// steps' writes, not yet durable.
    pub async fn rollback(self) -> Result<(), StoreError> {
        if let Some(txn) = self.txn.into_inner() {
            txn.rollback().await?;
        }
        if let Some(turn) = self.turn {
            turn.settled().await?;
        }
        Ok(())
    }

    /// The transaction, begun now if it was not.
    async fn begun(&self) -> Result<&DatabaseTransaction, StoreError> {
        self.txn
            .get_or_try_init(|| async {
                let txn = self.pool.begin().await?;
                statements::count(StatementKind::Begin);
                Ok::<_, StoreError>(txn)
            })
            .await
    }

    /// The transaction, with every held write sent: for a statement that
    /// must see them.
    async fn sent(&self) -> Result<&DatabaseTransaction, StoreError> {
        let txn = self.begun().await?;
        self.batch.flush(txn).await?;
        Ok(txn)
    }

    /// Holds a write for the next batch, or sends it (see `store::batch`).
    async fn write(
        &self,
        table: Table,
        statement: impl Into<SubQueryStatement>,
    ) -> Result<(), StoreError> {
        if self.batch.can_hold(table) {
            self.batch.hold(table, statement);
            return Ok(());
        }
        self.batch
            .write(self.begun().await?, table, statement)
            .await
    }

    /// [`Tx::claim_key`], decided at the commit where it can be: in a step
    /// that has held no write yet, the claim is held as a guard of the
    /// writes that follow (`store::batch`) and the answer is `Claimed`;
    /// [`Tx::commit`] then fails with [`StoreError::KeyTaken`], having
    /// written nothing, if someone holds the key. A read before the commit
    /// sends the claim first and fails the same way.
    pub async fn claim_key_at_commit(&self, key: &NewKey) -> Result<Claim, StoreError> {
        if !self.batch.can_guard(Guard::KeyFree) {
            return self.claim_key(key).await;
        }
        let mut insert = Self::key_insert(key);
        insert.returning_col(idempotency_keys::Column::Key);
        self.batch.hold_guard(Guard::KeyFree, insert);
        Ok(Claim::Claimed)
    }

    fn key_insert(key: &NewKey) -> sea_orm::sea_query::InsertStatement {
        let row = idempotency_keys::ActiveModel {
            scope: Set(key.scope.clone()),
            key: Set(key.key.clone()),
            rpc: Set(key.rpc.to_owned()),
            request_hash: Set(key.request_hash.clone()),
            order_id: Set(key.order_id.clone()),
            attempt_id: Set(key.attempt_id.clone()),
            state: Set(KeyState::InFlight.as_str().to_owned()),
            outcome: Set(None),
            created_at: Set(key.now),
            updated_at: Set(key.now),
            expires_at: Set(key.expires_at),
        };
        idempotency_keys::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    idempotency_keys::Column::Scope,
                    idempotency_keys::Column::Key,
                ])
                .do_nothing()
                .to_owned(),
            )
            .into_query()
    }

    /// Claims an idempotency key, or returns whoever holds it. On PostgreSQL
    /// a concurrent claim of the same key waits here until the first commits.
    pub async fn claim_key(&self, key: &NewKey) -> Result<Claim, StoreError> {
        let txn = self.sent().await?;
        self.batch.wrote();
        let rows = txn.execute(&Self::key_insert(key)).await?.rows_affected();
        if rows == 1 {
            return Ok(Claim::Claimed);
        }
        let existing = idempotency_keys::Entity::find_by_id((key.scope.clone(), key.key.clone()))
            .one(txn)
            .await?
            .ok_or_else(|| {
                StoreError::Database("idempotency key vanished after a conflict".into())
            })?;
        Ok(Claim::Existing(Box::new(key_from_row(existing)?)))
    }

    /// Stores the outcome to replay for a key.
    pub async fn complete_key(
        &self,
        scope: &str,
        key: &str,
        order_id: Option<&OrderId>,
        outcome: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut update = idempotency_keys::Entity::update_many()
            .col_expr(
                idempotency_keys::Column::State,
                Expr::value(KeyState::Completed.as_str()),
            )
            .col_expr(idempotency_keys::Column::Outcome, Expr::value(outcome))
            .col_expr(idempotency_keys::Column::UpdatedAt, Expr::value(now));
        if let Some(order_id) = order_id {
            update = update.col_expr(
                idempotency_keys::Column::OrderId,
                Expr::value(order_id.to_string()),
            );
        }
        let update = update
            .filter(idempotency_keys::Column::Scope.eq(scope))
            .filter(idempotency_keys::Column::Key.eq(key))
            .into_query();
        self.write(Table::Keys, update).await
    }

    /// Leaves a key without an outcome and without a driver, so that a retry
    /// of the same request resumes the call.
    pub async fn open_key(
        &self,
        scope: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let update = idempotency_keys::Entity::update_many()
            .col_expr(
                idempotency_keys::Column::State,
                Expr::value(KeyState::Open.as_str()),
            )
            .col_expr(idempotency_keys::Column::UpdatedAt, Expr::value(now))
            .filter(idempotency_keys::Column::Scope.eq(scope))
            .filter(idempotency_keys::Column::Key.eq(key))
            .into_query();
        self.write(Table::Keys, update).await
    }

    /// Takes over a key that nobody drives (open, or in flight since
    /// `seen_updated_at` by a holder presumed dead). Only one taker wins.
    pub async fn take_over_key(
        &self,
        record: &super::records::KeyRecord,
        attempt_id: Option<&AttemptId>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.sent().await?;
        self.batch.wrote();
        let mut update = idempotency_keys::Entity::update_many()
            .col_expr(
                idempotency_keys::Column::State,
                Expr::value(KeyState::InFlight.as_str()),
            )
            .col_expr(idempotency_keys::Column::UpdatedAt, Expr::value(now));
        if let Some(attempt_id) = attempt_id {
            update = update.col_expr(
                idempotency_keys::Column::AttemptId,
                Expr::value(attempt_id.to_string()),
            );
        }
        let result = update
            .filter(idempotency_keys::Column::Scope.eq(record.scope.as_str()))
            .filter(idempotency_keys::Column::Key.eq(record.key.as_str()))
            .filter(idempotency_keys::Column::State.eq(record.state.as_str()))
            .filter(idempotency_keys::Column::UpdatedAt.eq(record.updated_at))
            .exec(txn)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Forgets a key whose call must be retryable (nothing reached the provider).
    pub async fn delete_key(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        let delete = idempotency_keys::Entity::delete_many()
            .filter(idempotency_keys::Column::Scope.eq(scope))
            .filter(idempotency_keys::Column::Key.eq(key))
            .into_query();
        self.write(Table::Keys, delete).await
    }

    /// Takes the order's row lock and returns the locked row. On
    /// PostgreSQL `SELECT … FOR UPDATE` (a lock, no new row version); on
    /// SQLite the transaction already holds the database's write lock
    /// (`BEGIN IMMEDIATE`), so a read is enough. Either way the row cannot
    /// change until this transaction ends, and `save_order`'s version check
    /// still refuses a write from a stale read.
    pub async fn lock_order(&self, id: &OrderId) -> Result<Option<OrderRecord>, StoreError> {
        self.lock_order_as(id, &Visibility::All).await
    }

    /// [`Tx::lock_order`], `None` also when `sees` does not allow the order
    /// (nothing is locked then).
    pub async fn lock_order_as(
        &self,
        id: &OrderId,
        sees: &Visibility,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let txn = self.sent().await?;
        self.batch.wrote();
        let select = orders::Entity::find()
            .filter(orders::Column::Id.eq(id.as_str()))
            .lock_exclusive();
        let row = super::reads::visible(select, sees).one(txn).await?;
        let order = row.map(order_from_row).transpose()?;
        if let Some(order) = &order {
            self.book().locked(order);
        }
        Ok(order)
    }

    /// Starts from `order` as this process last wrote it, without reading
    /// it again: the round trip a call's outcome step would spend to lock
    /// an order nobody else touched since its intent. The step's first
    /// write must then be [`Tx::save_order_unless_moved`]: its version check
    /// takes the row lock and finds whether anyone wrote the order since,
    /// and if so the caller starts again from [`Tx::lock_order`].
    pub fn assume_unchanged(&self, order: &OrderRecord) {
        self.book().locked(order);
    }

    /// [`Tx::save_order`], `None` when the order is known to have moved
    /// before anything of the step is sent (a write held before it found
    /// so); otherwise a move found when the step is sent fails the read
    /// that sends it, or [`Tx::commit`], with [`StoreError::Conflict`].
    pub async fn save_order_unless_moved(
        &self,
        order: &OrderRecord,
        now: DateTime<Utc>,
    ) -> Result<Option<OrderRecord>, StoreError> {
        match self.save_order(order, now).await {
            Ok(saved) => Ok(Some(saved)),
            Err(StoreError::Conflict) => Ok(None),
            Err(other) => Err(other),
        }
    }

    pub async fn insert_order(&self, order: &OrderRecord) -> Result<(), StoreError> {
        let insert = orders::Entity::insert(order_to_active(order)).into_query();
        self.write(Table::Orders, insert).await?;
        self.book().inserted(order);
        Ok(())
    }

    /// The order's next version, and the update that writes it if the row
    /// is still at `order.version`.
    fn order_update(order: &OrderRecord, now: DateTime<Utc>) -> (OrderRecord, UpdateStatement) {
        let mut next = order.clone();
        next.version = order.version + 1;
        next.updated_at = now;
        let update = orders::Entity::update_many()
            .set(order_to_active(&next))
            .filter(orders::Column::Id.eq(order.id.as_str()))
            .filter(orders::Column::LockVersion.eq(order.version))
            .into_query();
        (next, update)
    }

    /// Writes the whole order if nobody wrote it since `order.version` was
    /// read. The CHECK constraints refuse a state that breaks an invariant.
    ///
    /// The update is held as a guard of the writes that follow and goes
    /// with them (`store::batch`): a moved order then fails the statement
    /// (on SQLite, the call) that sends them, a read or [`Tx::commit`], with
    /// [`StoreError::Conflict`], and nothing of the step is written.
    pub async fn save_order(
        &self,
        order: &OrderRecord,
        now: DateTime<Utc>,
    ) -> Result<OrderRecord, StoreError> {
        let (next, mut update) = Self::order_update(order, now);
        if !self.batch.can_guard(Guard::OrderUnmoved) {
            self.sent().await?;
        }
        update.returning_col(orders::Column::Id);
        self.batch.hold_guard(Guard::OrderUnmoved, update);
        self.book().saved(&next);
        Ok(next)
    }

    /// The order's captures, oldest first (read under the order's lock).
    pub async fn captures(&self, order_id: &OrderId) -> Result<Vec<CaptureRecord>, StoreError> {
        let txn = self.sent().await?;
        captures::Entity::find()
            .filter(captures::Column::OrderId.eq(order_id.as_str()))
            .order_by_asc(captures::Column::Id)
            .all(txn)
            .await?
            .into_iter()
            .map(capture_from_row)
            .collect()
    }

    pub async fn capture(&self, id: &CaptureId) -> Result<Option<CaptureRecord>, StoreError> {
        let txn = self.sent().await?;
        captures::Entity::find_by_id(id.as_str())
            .one(txn)
            .await?
            .map(capture_from_row)
            .transpose()
    }

    pub async fn insert_capture(&self, capture: &CaptureRecord) -> Result<(), StoreError> {
        let insert = captures::Entity::insert(capture_to_active(capture)).into_query();
        self.write(Table::Captures, insert).await
    }

    pub async fn save_capture(&self, capture: &CaptureRecord) -> Result<(), StoreError> {
        let update = captures::Entity::update_many()
            .set(capture_to_active(capture))
            .filter(captures::Column::Id.eq(capture.id.as_str()))
            .into_query();
        self.write(Table::Captures, update).await
    }

    pub async fn refund(&self, id: &RefundId) -> Result<Option<RefundRecord>, StoreError> {
        let txn = self.sent().await?;
        refunds::Entity::find_by_id(id.as_str())
            .one(txn)
            .await?
            .map(refund_from_row)
            .transpose()
    }

    pub async fn insert_refund(&self, refund: &RefundRecord) -> Result<(), StoreError> {
        let insert = refunds::Entity::insert(refund_to_active(refund)).into_query();
        self.write(Table::Refunds, insert).await
    }

    pub async fn save_refund(&self, refund: &RefundRecord) -> Result<(), StoreError> {
        let update = refunds::Entity::update_many()
            .set(refund_to_active(refund))
            .filter(refunds::Column::Id.eq(refund.id.as_str()))
            .into_query();
        self.write(Table::Refunds, update).await
    }

    /// Records the intent to call a provider (write-ahead).
    pub async fn insert_attempt(
        &self,
        attempt: &NewAttempt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let insert = provider_attempts::Entity::insert(provider_attempts::ActiveModel {
            id: Set(attempt.id.to_string()),
            order_id: Set(attempt.order_id.to_string()),
            operation: Set(attempt.operation.as_str().to_owned()),
            target_id: Set(attempt.target_id.clone()),
            provider_key: Set(attempt.provider_key.clone()),
            amount: Set(attempt.amount),
            request: Set(attempt.request.to_string()),
            state: Set(AttemptState::InFlight.as_str().to_owned()),
            error: Set(None),
            checks: Set(0),
            next_check_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .into_query();
        self.write(Table::Attempts, insert).await
    }

    pub async fn attempt(
        &self,
        id: &AttemptId,
    ) -> Result<Option<super::records::AttemptRecord>, StoreError> {
        let txn = self.sent().await?;
        provider_attempts::Entity::find_by_id(id.as_str())
            .one(txn)
            .await?
            .map(super::reads::attempt_from_row)
            .transpose()
    }

    /// Records a provider call's outcome.
    ///
    /// An outcome still unknown keeps the next check the reconciler set
    /// when it claimed the attempt (its backoff) unless `next_check_at` says
    /// otherwise: clearing it would make the attempt due on every pass, and
    /// a few such attempts would fill every pass and starve the rest.
    pub async fn finish_attempt(
        &self,
        id: &AttemptId,
        state: AttemptState,
        error: Option<&str>,
        now: DateTime<Utc>,
        next_check_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut update = provider_attempts::Entity::update_many()
            .col_expr(
                provider_attempts::Column::State,
                Expr::value(state.as_str()),
            )
            .col_expr(
                provider_attempts::Column::Error,
                Expr::value(error.map(str::to_owned)),
            )
            .col_expr(provider_attempts::Column::UpdatedAt, Expr::value(now));
        let keeps_backoff = state == AttemptState::Unknown && next_check_at.is_none();
        if !keeps_backoff {
            update = update.col_expr(
                provider_attempts::Column::NextCheckAt,
                Expr::value(next_check_at),
            );
        }
        let update = update
            .filter(provider_attempts::Column::Id.eq(id.as_str()))
            .into_query();
        self.write(Table::Attempts, update).await
    }

    /// Appends a line to the order's history.
    ///
    /// On PostgreSQL the transaction must already have written (every caller
    /// locks or inserts the order first), so it holds a transaction id before
    /// the event takes its sequence number: the event stream relies on that
    /// to know which ids may still commit (see `store::events`).
    pub async fn append_event(
        &self,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let insert = order_events::Entity::insert(order_events::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            order_id: Set(event.order_id.to_string()),
            event_type: Set(event.event_type.to_owned()),
            actor: Set(event.actor.clone()),
            status: Set(event.status.as_str().to_owned()),
            data: Set(event.data.to_string()),
            created_at: Set(now),
            amount_authorized: Set(Some(event.amounts.authorized)),
            amount_captured: Set(Some(event.amounts.captured)),
            amount_refunded: Set(Some(event.amounts.refunded)),
            amount_capturable: Set(Some(event.amounts.capturable)),
        })
        .into_query();
        self.write(Table::Events, insert).await?;
        self.appended.store(true, Ordering::Relaxed);
        Ok(())
    }
}
