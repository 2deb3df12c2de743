//! A transaction's writes, held until they must be sent and then sent in
//! one statement (`kessai_apply`, migration `m20261212_000004`) on
//! PostgreSQL. A write whose result nothing reads (an insert, an update by
//! key, a guarded update whose only result is "it changed concurrently")
//! waits in the batch; a read, a write whose result is read (claiming a key,
//! taking a lock) or the commit sends the batch first, so the transaction
//! sees its own writes in order. SQLite runs in process, where a statement
//! costs no round trip: there each write goes out at once.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait,
    IdenStatic, Iterable, Statement,
};
use serde_json::{Map, Value, json};

use super::error::StoreError;

/// One write.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Insert {
        table: &'static str,
        row: Map<String, Value>,
    },
    /// `guard`: exactly one row must match `filter`, or the batch fails
    /// with [`StoreError::Conflict`].
    Update {
        table: &'static str,
        set: Map<String, Value>,
        filter: Map<String, Value>,
        guard: bool,
    },
    Delete {
        table: &'static str,
        filter: Map<String, Value>,
    },
}

impl Write {
    fn to_json(&self) -> Value {
        match self {
            Write::Insert { table, row } => json!({ "insert": table, "row": row }),
            Write::Update {
                table,
                set,
                filter,
                guard,
            } => json!({ "update": table, "set": set, "where": filter, "guard": guard }),
            Write::Delete { table, filter } => json!({ "delete": table, "where": filter }),
        }
    }
}

/// A timestamp as stored: microseconds, as the drivers store one.
pub fn timestamp(at: DateTime<Utc>) -> Value {
    Value::String(at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// The columns an active model sets, as JSON (unset columns left out, so
/// the database's defaults apply).
pub fn row_of<A>(active: &A) -> Result<Map<String, Value>, StoreError>
where
    A: ActiveModelTrait,
{
    let mut row = Map::new();
    for column in <A::Entity as EntityTrait>::Column::iter() {
        let value = active.get(column);
        let Some(value) = value.into_value() else {
            continue;
        };
        row.insert(column.as_str().to_owned(), json_of(value)?);
    }
    Ok(row)
}

fn json_of(value: sea_orm::Value) -> Result<Value, StoreError> {
    use sea_orm::Value as V;
    Ok(match value {
        V::String(v) => v.map_or(Value::Null, Value::String),
        V::BigInt(v) => v.map_or(Value::Null, Value::from),
        V::Int(v) => v.map_or(Value::Null, Value::from),
        V::Bool(v) => v.map_or(Value::Null, Value::Bool),
        V::ChronoDateTimeUtc(v) => v.map_or(Value::Null, timestamp),
        other => {
            return Err(StoreError::Database(format!(
                "a column of type {other:?} cannot be batched"
            )));
        }
    })
}

/// The writes waiting in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    pending: Vec<Write>,
}

impl Batch {
    pub fn push(&mut self, write: Write) {
        self.pending.push(write);
    }

    pub fn take(&mut self) -> Vec<Write> {
        std::mem::take(&mut self.pending)
    }
}

/// Sends `writes` in one statement.
pub async fn send(txn: &DatabaseTransaction, writes: Vec<Write>) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Ok(());
    }
    let ops = Value::Array(writes.iter().map(Write::to_json).collect());
    let statement = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT kessai_apply($1::jsonb)",
        [ops.to_string().into()],
    );
    match txn.execute_raw(statement).await {
        Ok(_) => Ok(()),
        Err(error) if conflict(&error) => Err(StoreError::Conflict),
        Err(error) => Err(error.into()),
    }
}

fn conflict(error: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    let (DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner))) =
        error
    else {
        return false;
    };
    match inner.as_ref() {
        sea_orm::sqlx::Error::Database(db) => {
            db.code().as_deref() == Some(kessai_migrations::CONFLICT_SQLSTATE)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::entities::provider_attempts;
    use sea_orm::ActiveValue::{NotSet, Set};

    #[test]
    fn an_active_model_becomes_the_columns_it_sets() {
        let at = DateTime::parse_from_rfc3339("2026-12-06T09:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let active = provider_attempts::ActiveModel {
            id: Set("att_1".into()),
            amount: Set(None),
            checks: Set(2),
            created_at: Set(at),
            next_check_at: NotSet,
            ..Default::default()
        };
        let row = row_of(&active).unwrap();
        assert_eq!(row["id"], "att_1");
        assert_eq!(row["amount"], Value::Null);
        assert_eq!(row["checks"], 2);
        assert_eq!(
            row["created_at"], "2026-12-06T09:00:00.123456Z",
            "microseconds, as the drivers store a timestamp"
        );
        assert!(
            !row.contains_key("next_check_at"),
            "unset columns are left out"
        );
    }

    #[test]
    fn writes_take_the_shape_kessai_apply_reads() {
        let mut filter = Map::new();
        filter.insert("id".into(), "ord_1".into());
        let write = Write::Update {
            table: "orders",
            set: Map::new(),
            filter,
            guard: true,
        };
        assert_eq!(
            write.to_json(),
            json!({"update": "orders", "set": {}, "where": {"id": "ord_1"}, "guard": true})
        );
    }
}
