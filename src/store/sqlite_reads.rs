//! SQLite: one order with its captures and refunds (GetOrder, and the read a
//! Capture, Refund or Void decides on), a ListOrders page and a search's
//! candidate ids read on the calling thread, through read-only connections
//! of kessai's own, instead of through the driver.
//!
//! The driver runs each connection on a thread of its own: every statement
//! is a message to that thread and every row a message back, each a wake-up
//! of the other side, and every column is copied into an allocation of its
//! own before sea-orm reads it by name. For a read that SQLite answers from
//! its page cache in microseconds, those hops and copies were most of
//! GetOrder's cost (the wake-ups alone about a seventh of the machine's CPU
//! samples). Here the statement runs where the call runs, and the columns
//! are read by position straight into the row models.
//!
//! A read blocks its runtime thread while it runs: one indexed lookup of an
//! order and its few records. `busy_timeout` is 0, so it never waits for a
//! lock either: whatever keeps this path from answering at once (a busy
//! database, a connection that cannot open, a row it cannot read) sends the
//! call down the driver's path instead, which waits and reports as before.
//! Both read committed data only, so the answer is the same either way.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags, Row};
use sea_orm::Statement;
use sea_orm::prelude::DateTimeUtc;
use sea_orm::sea_query::Value;

use super::entities::orders;
use super::row_models::{
    AttachedRow, ColumnError, RowReader, attached_row, joined_row, order_model, reads_in_turn,
    stamp,
};
use super::statements::{self, StatementKind};
use super::view_cache::Stamp;

/// What keeps a direct read from answering; the caller falls back.
#[derive(Debug, thiserror::Error)]
pub(super) enum DirectError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Column(#[from] ColumnError),
    #[error("a value to bind: {0}")]
    Value(&'static str),
}

/// Read-only connections to one SQLite file, each used by one read at a
/// time and kept for the next.
pub(super) struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Reads answered here.
    answered: AtomicU64,
}

impl DirectReads {
    /// Reads of the file `path`; none for an in-memory database, which
    /// another connection cannot open.
    pub(super) fn of(url: &str, path: &Path) -> Option<Self> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return None;
        }
        Some(Self {
            path: path.to_owned(),
            idle: Mutex::default(),
            answered: AtomicU64::new(0),
        })
    }

    /// How many reads were answered here, not by the driver.
    pub(super) fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    fn open(&self) -> Result<Connection, DirectError> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(std::time::Duration::ZERO)?;
        // As many prepared statements as the driver keeps per connection: a
        // page's records are read by a statement with one placeholder per
        // order, so pages of different sizes are different statements.
        connection.set_prepared_statement_cache_capacity(100);
        Ok(connection)
    }

    /// Runs `read` on an idle connection (a new one if none is idle); the
    /// connection is kept only if the read succeeded.
    fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, DirectError>,
    ) -> Result<T, DirectError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.open()?,
        };
        let answer = read(&connection)?;
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(connection);
        Ok(answer)
    }

    /// The rows of `sql` with `params` bound, each read by `read`.
    fn rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        mut read: impl FnMut(&Row<'_>) -> Result<T, DirectError>,
    ) -> Result<Vec<T>, DirectError> {
        let answer = self.with(|connection| {
            let mut statement = connection.prepare_cached(sql)?;
            let mut rows = statement.query(params)?;
            let mut read_rows = Vec::new();
            while let Some(row) = rows.next()? {
                read_rows.push(read(row)?);
            }
            Ok(read_rows)
        })?;
        self.answered.fetch_add(1, Ordering::Relaxed);
        statements::count(StatementKind::Select);
        // The statement log every driver statement is in (`sqlx::query` at
        // DEBUG), so that counts of round trips see this one too.
        tracing::debug!(target: "sqlx::query", summary = summary(sql), db.statement = sql, "read on the calling thread");
        Ok(answer)
    }

    /// The rows of `sql` (the order joined to its records, as
    /// `attached::order_read` builds it for SQLite) with `params` bound in
    /// turn: the order's row model and each record.
    pub(super) fn order_with_attached(
        &self,
        sql: &str,
        params: &[&str],
    ) -> Result<Option<(orders::Model, Vec<AttachedRow>)>, DirectError> {
        let mut order = None;
        let attached = self.rows(sql, rusqlite::params_from_iter(params), |row| {
            Ok(joined_row(&mut SqliteRow { row, at: 0 }, &mut order)?)
        })?;
        Ok(order.map(|order| (order, attached.into_iter().flatten().collect())))
    }

    /// The orders of a page: `statement` selects the entity's columns.
    pub(super) fn orders(&self, statement: &Statement) -> Result<Vec<orders::Model>, DirectError> {
        self.rows(&statement.sql, bound(statement)?, |row| {
            Ok(order_model(&mut SqliteRow { row, at: 0 })?)
        })
    }

    /// The ids and versions `statement` selects (`row_models::stamp_select`).
    pub(super) fn stamps(&self, statement: &Statement) -> Result<Vec<Stamp>, DirectError> {
        self.rows(&statement.sql, bound(statement)?, |row| {
            Ok(stamp(&mut SqliteRow { row, at: 0 })?)
        })
    }

    /// The text of the one column `statement` selects, in each row.
    pub(super) fn ids(&self, statement: &Statement) -> Result<Vec<String>, DirectError> {
        self.rows(&statement.sql, bound(statement)?, |row| {
            Ok(SqliteRow { row, at: 0 }.next()?)
        })
    }

    /// The records `statement` selects, as `attached::branch`es do.
    pub(super) fn attached(&self, statement: &Statement) -> Result<Vec<AttachedRow>, DirectError> {
        let rows = self.rows(&statement.sql, bound(statement)?, |row| {
            Ok(attached_row(&mut SqliteRow { row, at: 0 })?)
        })?;
        Ok(rows.into_iter().flatten().collect())
    }
}

/// The first words of `sql`, as the driver's log gives them.
fn summary(sql: &str) -> String {
    sql.split_whitespace().take(4).collect::<Vec<_>>().join(" ")
}

/// `statement`'s values as the driver binds them: a time as RFC 3339 text,
/// a truth as 0 or 1. Any other kind of value is left to the driver.
fn bound(statement: &Statement) -> Result<rusqlite::ParamsFromIter<Vec<SqlValue>>, DirectError> {
    let values = statement
        .values
        .as_ref()
        .map(|v| v.0.as_slice())
        .unwrap_or_default();
    let bound = values
        .iter()
        .map(|value| {
            Ok(match value {
                Value::Bool(b) => b.map_or(SqlValue::Null, |b| SqlValue::Integer(b.into())),
                Value::Int(i) => i.map_or(SqlValue::Null, |i| SqlValue::Integer(i.into())),
                Value::BigInt(i) => i.map_or(SqlValue::Null, SqlValue::Integer),
                Value::BigUnsigned(Some(i)) => SqlValue::Integer(
                    i64::try_from(*i).map_err(|_| DirectError::Value("an integer beyond i64"))?,
                ),
                Value::BigUnsigned(None) => SqlValue::Null,
                Value::String(s) => s.clone().map_or(SqlValue::Null, SqlValue::Text),
                Value::ChronoDateTimeUtc(t) => t.map_or(SqlValue::Null, |t| {
                    SqlValue::Text(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
                }),
                _ => return Err(DirectError::Value("a kind of value left to the driver")),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rusqlite::params_from_iter(bound))
}

/// What `read` answers through `direct`; `None` where there is no `direct`
/// or it did not answer, and the caller reads through the driver (said
/// once per process as a warning, then at DEBUG).
pub(super) fn answered<T>(
    direct: Option<&DirectReads>,
    read: impl FnOnce(&DirectReads) -> Result<T, DirectError>,
) -> Option<T> {
    match read(direct?) {
        Ok(answer) => Some(answer),
        Err(error) => {
            fell_back(&error);
            None
        }
    }
}

fn fell_back(error: &DirectError) {
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        tracing::warn!(%error, "an SQLite read fell back to the driver's connection");
    });
    tracing::debug!(%error, "an SQLite read fell back to the driver's connection");
}

/// A row of SQLite's, its columns read in turn.
struct SqliteRow<'r, 's> {
    row: &'r Row<'s>,
    at: usize,
}

impl SqliteRow<'_, '_> {
    fn take<T: rusqlite::types::FromSql>(&mut self) -> Result<Option<T>, ColumnError> {
        let at = self.at;
        self.at += 1;
        self.row.get(at).map_err(|e| ColumnError::at(at, e))
    }
}

impl RowReader for SqliteRow<'_, '_> {
    reads_in_turn!(text: String, int64: i64, int32: i32, boolean: bool);

    fn time(&mut self) -> Result<Option<DateTimeUtc>, ColumnError> {
        let at = self.at;
        self.at += 1;
        let value = self.row.get_ref(at).map_err(|e| ColumnError::at(at, e))?;
        time_of(value).map_err(|what| ColumnError::at(at, what))
    }
}

/// A stored time, read as the driver reads one: text in RFC 3339 or one of
/// SQLite's own date formats (UTC unless it says otherwise), seconds since
/// the epoch, or a Julian day number.
fn time_of(value: ValueRef<'_>) -> Result<Option<DateTimeUtc>, &'static str> {
    use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
    const FORMATS: [&str; 12] = [
        "%F %T%.f",
        "%F %R",
        "%F %RZ",
        "%F %R%:z",
        "%F %T%.fZ",
        "%F %T%.f%:z",
        "%FT%R",
        "%FT%RZ",
        "%FT%R%:z",
        "%FT%T%.f",
        "%FT%T%.fZ",
        "%FT%T%.f%:z",
    ];
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Text(bytes) => {
            let text = std::str::from_utf8(bytes).map_err(|_| "a time, not UTF-8")?;
            if let Ok(at) = DateTime::parse_from_rfc3339(text) {
                return Ok(Some(at.with_timezone(&Utc)));
            }
            for format in FORMATS {
                if let Ok(at) = DateTime::parse_from_str(text, format) {
                    return Ok(Some(at.with_timezone(&Utc)));
                }
                if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
                    return Ok(Some(Utc.from_utc_datetime(&at)));
                }
            }
            Err("a time in no format the driver reads")
        }
        ValueRef::Integer(seconds) => Utc
            .timestamp_opt(seconds, 0)
            .single()
            .map(Some)
            .ok_or("a time out of range"),
        ValueRef::Real(julian_day) => {
            const UNIX_EPOCH_JULIAN_DAY: f64 = 2_440_587.5;
            let seconds = (julian_day - UNIX_EPOCH_JULIAN_DAY) * 86_400.0;
            if !seconds.is_finite() {
                return Err("a time out of range");
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let (whole, nanos) = (seconds.trunc() as i64, (seconds.fract() * 1e9).abs() as u32);
            Utc.timestamp_opt(whole, nanos)
                .single()
                .map(Some)
                .ok_or("a time out of range")
        }
        ValueRef::Blob(_) => Err("a time, not a blob"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_the_driver_writes_and_reads_them() {
        use chrono::{TimeZone, Utc};
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 5, 43, 15).unwrap()
            + chrono::Duration::microseconds(603_309);
        for text in [
            "2026-12-07T05:43:15.603309+00:00",
            "2026-12-07T14:43:15.603309+09:00",
            "2026-12-07 05:43:15.603309",
            "2026-12-07T05:43:15.603309Z",
        ] {
            assert_eq!(
                time_of(ValueRef::Text(text.as_bytes())),
                Ok(Some(at)),
                "{text}"
            );
        }
        assert_eq!(time_of(ValueRef::Null), Ok(None));
        assert_eq!(
            time_of(ValueRef::Integer(1_796_622_195)),
            Ok(Some(Utc.timestamp_opt(1_796_622_195, 0).unwrap()))
        );
        assert!(time_of(ValueRef::Text(b"yesterday")).is_err());
        assert!(time_of(ValueRef::Blob(b"\x00")).is_err());
    }

    /// Every kind of value a page binds goes to SQLite as the driver sends
    /// it: SQLite compares stored text, so a time must be the same text.
    #[tokio::test]
    async fn values_are_bound_as_the_driver_binds_them() {
        use chrono::{TimeZone, Utc};
        use sea_orm::{ConnectionTrait, Database, DatabaseBackend};
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 5, 43, 15).unwrap()
            + chrono::Duration::microseconds(603_309);
        let values: Vec<Value> = vec![
            Value::ChronoDateTimeUtc(Some(at)),
            Value::ChronoDateTimeUtc(Some(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap())),
            Value::Bool(Some(true)),
            Value::Bool(Some(false)),
            Value::BigUnsigned(Some(51)),
            Value::BigInt(Some(-7)),
            Value::Int(Some(3)),
            Value::String(Some("ord_01".into())),
            Value::String(None),
        ];
        let sql = format!(
            "SELECT {}",
            (0..values.len())
                .map(|n| format!("quote(?) AS v{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let statement = Statement::from_sql_and_values(DatabaseBackend::Sqlite, &sql, values);
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let row = db.query_one_raw(statement.clone()).await.unwrap().unwrap();
        let by_driver: Vec<String> = (0..9)
            .map(|n| row.try_get("", &format!("v{n}")).unwrap())
            .collect();
        let connection = Connection::open_in_memory().unwrap();
        let mut prepared = connection.prepare(&sql).unwrap();
        let mut rows = prepared.query(bound(&statement).unwrap()).unwrap();
        let row = rows.next().unwrap().unwrap();
        let by_us: Vec<String> = (0..9).map(|n| row.get(n).unwrap()).collect();
        assert_eq!(by_us, by_driver);
        let unsupported = Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "SELECT ?",
            [Value::Double(Some(1.5))],
        );
        assert!(bound(&unsupported).is_err(), "left to the driver");
    }

    /// A read that cannot be answered here is answered by the driver.
    #[tokio::test]
    async fn a_read_that_fails_here_is_answered_by_the_driver() {
        use crate::domain::Visibility;
        let dir = std::env::temp_dir().join(format!("kessai-direct-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("direct.sqlite").display());
        let store = super::super::Store::connect(&url, &Default::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let broken = DirectReads::of(&url, &dir.join("absent").join("direct.sqlite")).unwrap();
        let id = "ord_01JZZZZZZZZZZZZZZZZZZZZZZZ";
        let read = super::super::attached::order_with_attached(
            &store.read,
            Some(&broken),
            id,
            &Visibility::All,
        )
        .await;
        assert!(
            matches!(read, Ok(None)),
            "the driver answered: no such order"
        );
        assert_eq!(broken.answered(), 0, "none answered here");
        let direct = store.direct.clone().expect("reads here on a file");
        let read = super::super::attached::order_with_attached(
            &store.read,
            Some(&direct),
            id,
            &Visibility::All,
        )
        .await;
        assert!(matches!(read, Ok(None)));
        assert_eq!(direct.answered(), 1, "answered here");
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
