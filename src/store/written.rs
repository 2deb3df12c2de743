//! The writes of a payment's steps, written as SQL text and values
//! directly: the same statements sea-query builds (the tests below hold
//! them to its output, text and values, on both databases), without its
//! statement tree. Building and walking that tree, then dropping it, was
//! a tenth of kessai's CPU per Authorize on PostgreSQL.
//!
//! Every statement is numbered from its first parameter (`$1` on
//! PostgreSQL, `?` on SQLite); `store::batch` renumbers a statement it
//! chains after others.

use std::fmt::Write;

use sea_orm::sea_query::Value;
use sea_orm::{ActiveModelTrait, ActiveValue, DatabaseBackend, EntityName, Iterable, Statement};

/// SQL text and the values of its parameters, in order.
struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DatabaseBackend, capacity: usize) -> Self {
        Self {
            backend,
            text: String::with_capacity(capacity),
            values: Vec::new(),
        }
    }

    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// `"name"`: kessai's table and column names hold no quote.
    fn name(&mut self, name: &str) {
        self.text.push('"');
        self.text.push_str(name);
        self.text.push('"');
    }

    fn param(&mut self, value: Value) {
        self.values.push(value);
        match self.backend {
            DatabaseBackend::Postgres => {
                let _ = write!(self.text, "${}", self.values.len());
            }
            _ => self.text.push('?'),
        }
    }

    fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// The columns of `row` that are set, in the entity's column order, with
/// their values.
fn set_columns<A: ActiveModelTrait>(mut row: A) -> Vec<(&'static str, Value)> {
    use sea_orm::IdenStatic;
    let mut set = Vec::new();
    for column in <A::Entity as sea_orm::EntityTrait>::Column::iter() {
        match row.take(column) {
            ActiveValue::Set(value) | ActiveValue::Unchanged(value) => {
                set.push((column.as_str(), value));
            }
            ActiveValue::NotSet => {}
        }
    }
    set
}

fn table_of<A: ActiveModelTrait>() -> &'static str {
    <A::Entity as Default>::default().table_name()
}

/// `INSERT INTO table (columns set) VALUES (…)`, then `tail` as written
/// (`ON CONFLICT …`, `RETURNING …`).
pub(super) fn insert<A: ActiveModelTrait>(
    backend: DatabaseBackend,
    row: A,
    tail: &str,
) -> Statement {
    let columns = set_columns(row);
    let mut sql = Sql::new(backend, 64 + 24 * columns.len() + tail.len());
    sql.push("INSERT INTO ");
    sql.name(table_of::<A>());
    sql.push(" (");
    for (n, (column, _)) in columns.iter().enumerate() {
        if n > 0 {
            sql.push(", ");
        }
        sql.name(column);
    }
    sql.push(") VALUES (");
    for (n, (_, value)) in columns.into_iter().enumerate() {
        if n > 0 {
            sql.push(", ");
        }
        sql.param(value);
    }
    sql.push(")");
    sql.push(tail);
    sql.statement()
}

/// An `UPDATE` of `table`: `SET` each column given, `WHERE` each filter
/// column equals its value, then `returning`'s `RETURNING` if any.
pub(super) struct Update {
    table: &'static str,
    set: Vec<(&'static str, Value)>,
    filters: Vec<(&'static str, Value)>,
    returning: Option<&'static str>,
}

impl Update {
    pub(super) fn table(table: &'static str) -> Self {
        Self {
            table,
            set: Vec::new(),
            filters: Vec::new(),
            returning: None,
        }
    }

    /// Every column set in `row`.
    pub(super) fn row<A: ActiveModelTrait>(row: A) -> Self {
        let mut update = Self::table(table_of::<A>());
        update.set = set_columns(row);
        update
    }

    pub(super) fn set(mut self, column: &'static str, value: impl Into<Value>) -> Self {
        self.set.push((column, value.into()));
        self
    }

    pub(super) fn filter(mut self, column: &'static str, value: impl Into<Value>) -> Self {
        self.filters.push((column, value.into()));
        self
    }

    pub(super) fn returning(mut self, column: &'static str) -> Self {
        self.returning = Some(column);
        self
    }

    pub(super) fn build(self, backend: DatabaseBackend) -> Statement {
        let mut sql = Sql::new(backend, 64 + 24 * (self.set.len() + self.filters.len()));
        sql.push("UPDATE ");
        sql.name(self.table);
        sql.push(" SET ");
        for (n, (column, value)) in self.set.into_iter().enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            sql.name(column);
            sql.push(" = ");
            sql.param(value);
        }
        where_equal(&mut sql, self.table, self.filters);
        if let Some(column) = self.returning {
            sql.push(" RETURNING ");
            sql.name(column);
        }
        sql.statement()
    }
}

/// `DELETE FROM table WHERE` each filter column equals its value.
pub(super) fn delete(
    backend: DatabaseBackend,
    table: &'static str,
    filters: Vec<(&'static str, Value)>,
) -> Statement {
    let mut sql = Sql::new(backend, 96);
    sql.push("DELETE FROM ");
    sql.name(table);
    where_equal(&mut sql, table, filters);
    sql.statement()
}

fn where_equal(sql: &mut Sql, table: &str, filters: Vec<(&'static str, Value)>) {
    for (n, (column, value)) in filters.into_iter().enumerate() {
        sql.push(if n == 0 { " WHERE " } else { " AND " });
        sql.name(table);
        sql.push(".");
        sql.name(column);
        sql.push(" = ");
        sql.param(value);
    }
}

/// Appends `sql` to `out` with each `$n` outside quotes as `$(n + offset)`:
/// a statement numbered from `$1` chained after statements holding
/// `offset` parameters.
pub(super) fn renumbered(sql: &str, offset: usize, out: &mut String) {
    if offset == 0 {
        out.push_str(sql);
        return;
    }
    let bytes = sql.as_bytes();
    let mut quote: Option<u8> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'$' => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|d| d.is_ascii_digit())
                    .count();
                if digits > 0 {
                    let end = i + 1 + digits;
                    let n: usize = sql[i + 1..end].parse().unwrap_or(0);
                    out.push_str(&sql[copied..=i]);
                    let _ = write!(out, "{}", n + offset);
                    copied = end;
                    i = end;
                    continue;
                }
            }
            None => {}
        }
        i += 1;
    }
    out.push_str(&sql[copied..]);
}

#[cfg(test)]
#[path = "written_tests.rs"]
mod tests;
