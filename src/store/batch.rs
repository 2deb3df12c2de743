//! On PostgreSQL, a transaction's writes whose result nobody waits for are
//! held back and sent together as one statement (data-modifying CTEs) just
//! before the next statement that must see them or the commit: one round
//! trip instead of one per row. Each statement's text depends only on which
//! writes it chains, so PostgreSQL prepares each shape once per connection.
//! On SQLite the held writes go as one call of several statements, run in
//! the order they were held (sqlx binds each statement's arguments from one
//! list, in turn): SQLite runs in the process, but each call is a hop to
//! the connection's worker thread, and those hops were most of the CPU of a
//! step of writes.
//!
//! A batch may carry a guard: a write that must change exactly one row
//! (claiming a free idempotency key, updating an order still at the version
//! read). It is the statement's main query, so PostgreSQL runs it first and
//! the chained writes only after it (it runs unreferenced data-modifying
//! CTEs to completion after the main query); `kessai_guard` raises when it
//! changed no row, and the whole statement, chained writes included, is
//! undone. Running first also gives the transaction its id before any
//! chained event takes its number (see `store::events`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, Query, SubQueryStatement, WithClause, WithQuery,
};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use super::error::{StoreError, sqlstate};

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

/// What a guard protects, and so what its failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Guard {
    /// An idempotency key's insert: fails when someone holds the key.
    KeyFree,
    /// An order's conditional update: fails when someone wrote it since.
    OrderUnmoved,
}

/// The SQLSTATE `kessai_guard` raises (migration `…_000006_guarded_writes`).
const GUARD_FAILED: &str = "KG001";

pub(super) struct Batch {
    backend: DatabaseBackend,
    held: Mutex<Vec<(Table, SubQueryStatement)>>,
    guard: Mutex<Option<(Guard, SubQueryStatement)>>,
    /// Whether the transaction has already written or row-locked through a
    /// statement of its own, and so holds a transaction id.
    has_xid: AtomicBool,
}

impl Batch {
    pub(super) fn new(backend: DatabaseBackend) -> Self {
        Self {
            backend,
            held: Mutex::default(),
            guard: Mutex::default(),
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

    /// Whether `statement` for `table` can be held without a statement
    /// first: on PostgreSQL, unless the batch already writes the table (a
    /// write to a table already in the batch goes in the next one: chained
    /// statements all see the snapshot from before the batch and run in no
    /// set order, so every row is written once per batch and events keep
    /// the order they were appended in), and an event only once the
    /// transaction holds an id or a guard will give it one first.
    pub(super) fn can_hold(&self, table: Table) -> bool {
        if self.backend == DatabaseBackend::Sqlite {
            // Run one after another: any write, in the order held.
            return true;
        }
        !self.held().iter().any(|(t, _)| *t == table)
            && (table != Table::Events || self.has_xid.load(Ordering::Relaxed) || self.guarded())
    }

    /// Holds `statement` for the next batch (see [`Batch::can_hold`]).
    pub(super) fn hold(&self, table: Table, statement: impl Into<SubQueryStatement>) {
        self.held().push((table, statement.into()));
    }

    /// Whether anything waits to be sent.
    pub(super) fn is_empty(&self) -> bool {
        self.held().is_empty() && !self.guarded()
    }

    /// Whether a write's guard goes with the batch (PostgreSQL); on SQLite
    /// a guarded write runs alone, for its row count.
    pub(super) fn guards(&self) -> bool {
        self.backend == DatabaseBackend::Postgres
    }

    /// Whether a guard can be held: on PostgreSQL, with nothing held yet.
    pub(super) fn can_guard(&self) -> bool {
        self.backend == DatabaseBackend::Postgres && self.is_empty()
    }

    fn guarded(&self) -> bool {
        self.guard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Makes `statement` the next batch's guard; it must return a row for
    /// each row it changes. Only a batch that nothing was held in before
    /// takes one (PostgreSQL only).
    pub(super) fn hold_guard(&self, guard: Guard, statement: impl Into<SubQueryStatement>) {
        debug_assert!(self.can_guard());
        *self.guard.lock().unwrap_or_else(|p| p.into_inner()) = Some((guard, statement.into()));
    }

    /// Holds `statement` for the next batch, after sending what keeps it
    /// from being held.
    pub(super) async fn write<C: ConnectionTrait>(
        &self,
        conn: &C,
        table: Table,
        statement: impl Into<SubQueryStatement>,
    ) -> Result<(), StoreError> {
        let statement = statement.into();
        if !self.can_hold(table) {
            self.flush(conn).await?;
        }
        if self.backend == DatabaseBackend::Postgres
            && table == Table::Events
            && !self.has_xid.load(Ordering::Relaxed)
            && !self.guarded()
        {
            conn.execute_unprepared("SELECT pg_current_xact_id()")
                .await?;
            self.wrote();
        }
        self.hold(table, statement);
        Ok(())
    }

    /// Sends what is held back, as one statement (on SQLite, one call).
    pub(super) async fn flush<C: ConnectionTrait>(&self, conn: &C) -> Result<(), StoreError> {
        if self.backend == DatabaseBackend::Sqlite {
            return self.flush_in_turn(conn).await;
        }
        let held = std::mem::take(&mut *self.held());
        let guard = self.guard.lock().unwrap_or_else(|p| p.into_inner()).take();
        let guard_kind = guard.as_ref().map(|(kind, _)| *kind);
        let mut statements: Vec<SubQueryStatement> = held.into_iter().map(|(_, s)| s).collect();
        let mut with = WithClause::new();
        let main = match guard {
            Some((_, guard)) => {
                with.cte(
                    CommonTableExpression::new()
                        .query(guard)
                        .table_name(Alias::new("g"))
                        .to_owned(),
                );
                SubQueryStatement::SelectStatement(
                    Query::select()
                        .expr(Expr::cust(r#"kessai_guard((SELECT count(*) FROM "g"))"#))
                        .to_owned(),
                )
            }
            None => match statements.pop() {
                Some(last) => last,
                None => return Ok(()),
            },
        };
        let sent = if statements.is_empty() && guard_kind.is_none() {
            conn.execute_raw(built(self.backend, main)).await
        } else {
            for (n, statement) in statements.into_iter().enumerate() {
                with.cte(
                    CommonTableExpression::new()
                        .query(statement)
                        .table_name(Alias::new(format!("w{n}")))
                        .to_owned(),
                );
            }
            let chained: WithQuery = with.query(main);
            conn.execute(&chained).await
        };
        sent.map_err(|e| match guard_kind {
            Some(failed) if sqlstate(&e).as_deref() == Some(GUARD_FAILED) => match failed {
                Guard::KeyFree => StoreError::KeyTaken,
                Guard::OrderUnmoved => StoreError::Conflict,
            },
            _ => e.into(),
        })?;
        self.wrote();
        Ok(())
    }
}

impl Batch {
    /// SQLite: the held writes as one call, statement after statement.
    async fn flush_in_turn<C: ConnectionTrait>(&self, conn: &C) -> Result<(), StoreError> {
        let held = std::mem::take(&mut *self.held());
        let mut held = held.into_iter().map(|(_, s)| s);
        let Some(first) = held.next() else {
            return Ok(());
        };
        let mut call = built(self.backend, first);
        for statement in held {
            let next = built(self.backend, statement);
            call.sql.push_str(";\n");
            call.sql.push_str(&next.sql);
            if let (Some(values), Some(more)) = (call.values.as_mut(), next.values) {
                values.0.extend(more.0);
            }
        }
        conn.execute_raw(call).await?;
        Ok(())
    }
}

/// `statement` as SQL and values for `backend`.
fn built(backend: DatabaseBackend, statement: SubQueryStatement) -> Statement {
    match statement {
        SubQueryStatement::InsertStatement(s) => backend.build(&s),
        SubQueryStatement::UpdateStatement(s) => backend.build(&s),
        SubQueryStatement::DeleteStatement(s) => backend.build(&s),
        SubQueryStatement::SelectStatement(s) => backend.build(&s),
        SubQueryStatement::WithStatement(s) => backend.build(&s),
    }
}
