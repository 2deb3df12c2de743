//! A write transaction and the statements that run inside it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};

use super::announce::Announce;
use super::batch::{Batch, Guard, Table};
use super::convert::{capture_from_row, order_from_row, refund_from_row};
use super::entities::{captures, idempotency_keys, orders, provider_attempts, refunds};
use super::error::StoreError;
use super::group_commit::Turn;
use super::observe::{MoneyBook, MoneyObserver};
use super::reads::key_from_row;
use super::records::{AttemptState, Claim, KeyState, NewAttempt, NewEvent, NewKey};
use super::statements::{self, StatementKind};
use super::step_writes;
use super::view_cache::RecordsWritten;
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
    /// Where events appended here are announced once committed.
    announce: Announce,
    appended: AtomicBool,
    batch: Batch,
    /// Orders written, and orders whose records were: a record is written
    /// only with its order's next version (`view_cache.rs`).
    written: Mutex<RecordsWritten>,
}

impl Tx {
    /// A transaction begun already (`txn`), or to begin on `pool` when first
    /// needed.
    pub(super) fn new(
        txn: Option<DatabaseTransaction>,
        turn: Option<Turn>,
        pool: DatabaseConnection,
        money_observer: Option<MoneyObserver>,
        announce: Announce,
    ) -> Self {
        Self {
            batch: Batch::new(pool.get_database_backend()),
            txn: tokio::sync::OnceCell::new_with(txn),
            turn,
            pool,
            money: Mutex::default(),
            money_observer,
            announce,
            appended: AtomicBool::new(false),
            written: Mutex::default(),
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
            announce,
            appended,
            batch,
            written,
        } = self;
        let written = written.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(order) = written.unversioned() {
            let refused = StoreError::Database(format!(
                "the records of order {order} were written without a new version of the order"
            ));
            // Nothing held is sent. Rolled back as `Tx::rollback` does, not
            // dropped: on SQLite a step's transaction shares its connection
            // with the other steps of its epoch (`group_commit.rs`).
            if let Some(txn) = txn.into_inner() {
                txn.rollback().await?;
            }
            if let Some(turn) = turn {
                turn.settled().await?;
            }
            return Err(refused);
        }
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
            announce.committed();
        }
        if let Some(observer) = money_observer {
            let book = money.into_inner().unwrap_or_else(|p| p.into_inner());
            for moved in &book.moved() {
                observer(moved);
            }
        }
        Ok(())
    }

    fn written(&self) -> std::sync::MutexGuard<'_, RecordsWritten> {
        self.written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
    async fn write(&self, table: Table, statement: Statement) -> Result<(), StoreError> {
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
        let insert = step_writes::key_insert(self.backend(), key, true);
        self.batch.hold_guard(Guard::KeyFree, insert);
        Ok(Claim::Claimed)
    }

    fn backend(&self) -> DatabaseBackend {
        self.pool.get_database_backend()
    }

    /// Claims an idempotency key, or returns whoever holds it. On PostgreSQL
    /// a concurrent claim of the same key waits here until the first commits.
    pub async fn claim_key(&self, key: &NewKey) -> Result<Claim, StoreError> {
        let txn = self.sent().await?;
        self.batch.wrote();
        let insert = step_writes::key_insert(self.backend(), key, false);
        let rows = txn.execute_raw(insert).await?.rows_affected();
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
        let update =
            step_writes::key_completion(self.backend(), (scope, key), order_id, outcome, now);
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
        let update = step_writes::key_reopening(self.backend(), (scope, key), now);
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
        let delete = step_writes::key_deletion(self.backend(), (scope, key));
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
        let insert = step_writes::order_insert(self.backend(), order);
        self.write(Table::Orders, insert).await?;
        self.written().order(&order.id);
        self.book().inserted(order);
        Ok(())
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
        let mut next = order.clone();
        next.version = order.version + 1;
        next.updated_at = now;
        let update = step_writes::order_update(self.backend(), &next, order.version);
        if !self.batch.can_guard(Guard::OrderUnmoved) {
            self.sent().await?;
        }
        self.batch.hold_guard(Guard::OrderUnmoved, update);
        self.written().order(&next.id);
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
        let insert = step_writes::capture_insert(self.backend(), capture);
        self.written().record_of(&capture.order_id);
        self.write(Table::Captures, insert).await
    }

    pub async fn save_capture(&self, capture: &CaptureRecord) -> Result<(), StoreError> {
        let update = step_writes::capture_update(self.backend(), capture);
        self.written().record_of(&capture.order_id);
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
        let insert = step_writes::refund_insert(self.backend(), refund);
        self.written().record_of(&refund.order_id);
        self.write(Table::Refunds, insert).await
    }

    pub async fn save_refund(&self, refund: &RefundRecord) -> Result<(), StoreError> {
        let update = step_writes::refund_update(self.backend(), refund);
        self.written().record_of(&refund.order_id);
        self.write(Table::Refunds, update).await
    }

    /// Records the intent to call a provider (write-ahead).
    pub async fn insert_attempt(
        &self,
        attempt: &NewAttempt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let insert = step_writes::attempt_insert(self.backend(), attempt, now);
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
        let keeps_backoff = state == AttemptState::Unknown && next_check_at.is_none();
        let next_check_at = (!keeps_backoff).then_some(next_check_at);
        let update =
            step_writes::attempt_finish(self.backend(), id, (state, error), now, next_check_at);
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
        let insert = step_writes::event_insert(self.backend(), event, now);
        self.write(Table::Events, insert).await?;
        self.appended.store(true, Ordering::Relaxed);
        Ok(())
    }
}
