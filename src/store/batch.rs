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
//! A batch may carry guards, one of each kind: a write that must change
//! exactly one row (claiming a free idempotency key, updating an order still
//! at the version read). They are the statement's main query, so PostgreSQL
//! runs them first and the chained writes only after them (it runs
//! unreferenced data-modifying CTEs to completion after the main query);
//! `kessai_guard` raises its guard's code when it changed no row, and the
//! whole statement, chained writes included, is undone. Running first also
//! gives the transaction its id before any chained event takes its number
//! (see `store::events`). On SQLite each guard goes first in the call,
//! followed by the write that stores its row count (`changes()`) in its row
//! of `kessai_guards`, whose CHECK fails unless it is 1: the call stops
//! there, before the chained writes, and the step is rolled back.
//!
//! A batch that failed to send is spent: a later flush, and so the commit,
//! fails too, so nothing of a step can commit after one of its writes or
//! guards failed (PostgreSQL would answer a COMMIT after a failed statement
//! with a silent rollback; SQLite would commit the statements before it).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement, Values};

use super::error::{StoreError, check_failed, sqlstate};
use super::written::renumbered;

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

impl Guard {
    /// The SQLSTATE `kessai_guard` raises when this guard changed no row
    /// (migration `…_000008_guard_codes`).
    fn code(self) -> &'static str {
        match self {
            Guard::OrderUnmoved => "KG001",
            Guard::KeyFree => "KG002",
        }
    }

    /// The constraint of `kessai_guards` that fails on SQLite.
    fn constraint(self) -> &'static str {
        match self {
            Guard::OrderUnmoved => "kessai_guard_kg001",
            Guard::KeyFree => "kessai_guard_kg002",
        }
    }

    fn failed(self) -> StoreError {
        match self {
            Guard::KeyFree => StoreError::KeyTaken,
            Guard::OrderUnmoved => StoreError::Conflict,
        }
    }

    /// `e` as the failure of whichever of `guards` it says failed: by the
    /// SQLSTATE `kessai_guard` raised (PostgreSQL), or by the constraint of
    /// `kessai_guards` that refused (SQLite).
    fn failure_among(guards: &[Guard], e: DbErr) -> StoreError {
        let code = sqlstate(&e);
        let refused = check_failed(&e).unwrap_or_default();
        let failed = guards.iter().find(|guard| {
            code.as_deref() == Some(guard.code()) || refused.contains(guard.constraint())
        });
        match failed {
            Some(guard) => guard.failed(),
            None => e.into(),
        }
    }
}

pub(super) struct Batch {
    backend: DatabaseBackend,
    held: Mutex<Vec<(Table, Statement)>>,
    guards: Mutex<Vec<(Guard, Statement)>>,
    /// Whether the transaction has already written or row-locked through a
    /// statement of its own, and so holds a transaction id.
    has_xid: AtomicBool,
    /// Whether a flush failed: the step must not commit.
    spent: AtomicBool,
}

impl Batch {
    pub(super) fn new(backend: DatabaseBackend) -> Self {
        Self {
            backend,
            held: Mutex::default(),
            guards: Mutex::default(),
            has_xid: AtomicBool::new(false),
            spent: AtomicBool::new(false),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<(Table, Statement)>> {
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
    pub(super) fn hold(&self, table: Table, statement: Statement) {
        self.held().push((table, statement));
    }

    fn held_guards(&self) -> std::sync::MutexGuard<'_, Vec<(Guard, Statement)>> {
        self.guards.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a guard of `kind` can be held: with no write held yet and no
    /// guard of the same kind (two guards of one kind would write one table
    /// twice in a statement).
    pub(super) fn can_guard(&self, kind: Guard) -> bool {
        self.held().is_empty() && !self.held_guards().iter().any(|(k, _)| *k == kind)
    }

    fn guarded(&self) -> bool {
        !self.held_guards().is_empty()
    }

    /// Makes `statement` one of the next batch's guards; it must return a
    /// row for each row it changes. Only a batch that no write was held in
    /// before takes one (see [`Batch::can_guard`]).
    pub(super) fn hold_guard(&self, guard: Guard, statement: Statement) {
        debug_assert!(self.can_guard(guard));
        self.held_guards().push((guard, statement));
    }

    /// Holds `statement` for the next batch, after sending what keeps it
    /// from being held.
    pub(super) async fn write<C: ConnectionTrait>(
        &self,
        conn: &C,
        table: Table,
        statement: Statement,
    ) -> Result<(), StoreError> {
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
        if self.spent.load(Ordering::Relaxed) {
            return Err(StoreError::Database(
                "a write of this step failed before; it cannot commit".into(),
            ));
        }
        let sent = match self.backend {
            DatabaseBackend::Sqlite => self.flush_in_turn(conn).await,
            _ => self.flush_chained(conn).await,
        };
        if sent.is_err() {
            self.spent.store(true, Ordering::Relaxed);
        }
        sent
    }

    /// PostgreSQL: the held writes as one statement of data-modifying CTEs.
    async fn flush_chained<C: ConnectionTrait>(&self, conn: &C) -> Result<(), StoreError> {
        let held = std::mem::take(&mut *self.held());
        let guards = std::mem::take(&mut *self.held_guards());
        let kinds: Vec<Guard> = guards.iter().map(|(kind, _)| *kind).collect();
        if guards.is_empty() && held.len() <= 1 {
            return match held.into_iter().next() {
                Some((_, statement)) => {
                    conn.execute_raw(statement).await?;
                    self.wrote();
                    Ok(())
                }
                None => Ok(()),
            };
        }
        let mut chain = Chain::default();
        let mut checks = Vec::with_capacity(guards.len());
        for (n, (kind, guard)) in guards.into_iter().enumerate() {
            let name = format!("g{n}");
            checks.push(format!(
                r#"kessai_guard((SELECT count(*) FROM "{name}"), '{}')"#,
                kind.code()
            ));
            chain.cte(&name, guard);
        }
        let mut statements: Vec<Statement> = held.into_iter().map(|(_, s)| s).collect();
        // Without guards the last write is the main query.
        let main = if checks.is_empty() {
            statements.pop()
        } else {
            None
        };
        for (n, statement) in statements.into_iter().enumerate() {
            chain.cte(&format!("w{n}"), statement);
        }
        let statement = match main {
            Some(main) => chain.then(main),
            None => chain.then_select(&checks.join(" + ")),
        };
        conn.execute_raw(statement)
            .await
            .map_err(|e| Guard::failure_among(&kinds, e))?;
        self.wrote();
        Ok(())
    }
}

/// A PostgreSQL statement of common table expressions being written: each
/// statement's parameters numbered after the ones before it.
#[derive(Default)]
struct Chain {
    sql: String,
    values: Vec<sea_orm::Value>,
}

impl Chain {
    fn cte(&mut self, name: &str, statement: Statement) {
        self.sql
            .push_str(if self.sql.is_empty() { "WITH " } else { ", " });
        self.sql.push('"');
        self.sql.push_str(name);
        self.sql.push_str("\" AS (");
        self.append(statement);
        self.sql.push(')');
    }

    fn append(&mut self, statement: Statement) {
        renumbered(&statement.sql, self.values.len(), &mut self.sql);
        if let Some(Values(values)) = statement.values {
            self.values.extend(values);
        }
    }

    fn then(mut self, main: Statement) -> Statement {
        self.sql.push(' ');
        self.append(main);
        self.statement()
    }

    fn then_select(mut self, expression: &str) -> Statement {
        self.sql.push_str(" SELECT ");
        self.sql.push_str(expression);
        self.statement()
    }

    fn statement(self) -> Statement {
        Statement::from_sql_and_values(DatabaseBackend::Postgres, self.sql, self.values)
    }
}

impl Batch {
    /// SQLite: the guards, each followed by the check of its row count, then
    /// the held writes, as one call, statement after statement.
    async fn flush_in_turn<C: ConnectionTrait>(&self, conn: &C) -> Result<(), StoreError> {
        let guards = std::mem::take(&mut *self.held_guards());
        let kinds: Vec<Guard> = guards.iter().map(|(kind, _)| *kind).collect();
        let held = std::mem::take(&mut *self.held());
        let mut statements = Vec::with_capacity(2 * guards.len() + held.len());
        for (kind, guard) in guards {
            statements.push(guard);
            statements.push(Statement::from_string(
                self.backend,
                // An upsert, so that the CHECK is met even if the guard's
                // row were missing.
                format!(
                    "INSERT INTO kessai_guards (code, changed) VALUES ('{}', changes()) \
                     ON CONFLICT (code) DO UPDATE SET changed = excluded.changed",
                    kind.code()
                ),
            ));
        }
        statements.extend(held.into_iter().map(|(_, s)| s));
        let mut statements = statements.into_iter();
        let Some(mut call) = statements.next() else {
            return Ok(());
        };
        for next in statements {
            call.sql.push_str(";\n");
            call.sql.push_str(&next.sql);
            match (call.values.as_mut(), next.values) {
                (Some(values), Some(more)) => values.0.extend(more.0),
                (None, more) => call.values = more,
                (Some(_), None) => {}
            }
        }
        conn.execute_raw(call)
            .await
            .map_err(|e| Guard::failure_among(&kinds, e))?;
        Ok(())
    }
}
