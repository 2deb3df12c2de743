//! On PostgreSQL, a transaction's writes whose result nobody waits for are
//! held back and sent together as one statement (data-modifying CTEs) just
//! before the next statement that must see them or the commit: one round
//! trip instead of one per row. Each statement's text depends only on which
//! writes it chains, so PostgreSQL prepares each shape once per connection.
//! SQLite writes at once (it runs in the process: no round trip to save).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::sea_query::{Alias, CommonTableExpression, SubQueryStatement, WithClause, WithQuery};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, ExecResult};

use super::error::StoreError;

/// The table a held-back write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Table {
    Orders,
    Captures,
    Refunds,
    Attempts,
    Keys,
    Events,
}

pub(super) struct Batch {
    holds: bool,
    held: Mutex<Vec<(Table, SubQueryStatement)>>,
    /// Whether the transaction has already written or row-locked through a
    /// statement of its own, and so holds a transaction id.
    has_xid: AtomicBool,
}

impl Batch {
    pub(super) fn new(backend: DatabaseBackend) -> Self {
        Self {
            holds: backend == DatabaseBackend::Postgres,
            held: Mutex::default(),
            has_xid: AtomicBool::new(false),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<(Table, SubQueryStatement)>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that a statement that writes or locks a row ran.
    pub(super) fn wrote(&self) {
        self.has_xid.store(true, Ordering::Relaxed);
    }

    /// Writes `statement` now (SQLite) or with the next batch.
    ///
    /// Chained statements all see the snapshot from before the batch and
    /// run in no set order, so a write to a table already written in the
    /// batch goes in the next one: every row is written once per batch,
    /// and events keep the order they were appended in. An event is never
    /// held before the transaction has a transaction id: the event stream
    /// relies on an event's transaction holding one before the event takes
    /// its number (see `store::events`).
    pub(super) async fn write<S>(
        &self,
        txn: &DatabaseTransaction,
        table: Table,
        statement: S,
    ) -> Result<(), StoreError>
    where
        S: Into<SubQueryStatement>,
    {
        let statement = statement.into();
        if !self.holds {
            execute(txn, statement).await?;
            return Ok(());
        }
        let clash = self.held().iter().any(|(t, _)| *t == table);
        if clash {
            self.flush(txn).await?;
        }
        if table == Table::Events && !self.has_xid.load(Ordering::Relaxed) {
            self.flush(txn).await?;
            if !self.has_xid.load(Ordering::Relaxed) {
                txn.execute_unprepared("SELECT pg_current_xact_id()")
                    .await?;
                self.wrote();
            }
        }
        self.held().push((table, statement));
        Ok(())
    }

    /// Sends what is held back, as one statement.
    pub(super) async fn flush(&self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        let held = std::mem::take(&mut *self.held());
        let mut statements: Vec<SubQueryStatement> = held.into_iter().map(|(_, s)| s).collect();
        let Some(last) = statements.pop() else {
            return Ok(());
        };
        if statements.is_empty() {
            execute(txn, last).await?;
        } else {
            let mut with = WithClause::new();
            for (n, statement) in statements.into_iter().enumerate() {
                with.cte(
                    CommonTableExpression::new()
                        .query(statement)
                        .table_name(Alias::new(format!("w{n}")))
                        .to_owned(),
                );
            }
            let chained: WithQuery = with.query(last);
            txn.execute(&chained).await?;
        }
        self.wrote();
        Ok(())
    }
}

async fn execute(
    txn: &DatabaseTransaction,
    statement: SubQueryStatement,
) -> Result<ExecResult, DbErr> {
    match statement {
        SubQueryStatement::InsertStatement(s) => txn.execute(&s).await,
        SubQueryStatement::UpdateStatement(s) => txn.execute(&s).await,
        SubQueryStatement::DeleteStatement(s) => txn.execute(&s).await,
        SubQueryStatement::SelectStatement(s) => txn.execute(&s).await,
        SubQueryStatement::WithStatement(s) => txn.execute(&s).await,
    }
}
