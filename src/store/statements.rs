//! Every statement the store sends, counted by kind, so that what a call
//! costs the database can be read from `/metrics` (and by `kessai-bench`)
//! instead of from the driver's DEBUG log.
//!
//! Statements are counted where all of them pass: sea-orm's metric hook on
//! each connection, which every statement inside and outside a transaction
//! goes through. `BEGIN` is counted where the store opens a transaction.
//! Commits are counted on SQLite by its commit hook on the writer
//! connection (every durable commit, inside a transaction or not);
//! PostgreSQL's driver has no such hook, so there a commit is a `BEGIN`
//! that was not rolled back (`pg_stat_database.xact_rollback` counts
//! those). The counts are process-wide, like the metrics recorder that
//! exports them.

use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::DatabaseConnection;

/// What a statement does, by its leading keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
    /// Anything else sent as a statement (`SAVEPOINT`, `SHOW`, …).
    Other,
    /// A transaction opened.
    Begin,
    /// A transaction made durable (SQLite only; see the module's note).
    Commit,
}

impl StatementKind {
    pub const ALL: [Self; 7] = [
        Self::Select,
        Self::Insert,
        Self::Update,
        Self::Delete,
        Self::Other,
        Self::Begin,
        Self::Commit,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Select => "select",
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Other => "other",
            Self::Begin => "begin",
            Self::Commit => "commit",
        }
    }

    /// Whether the kind is a statement a call's work is made of (not a
    /// transaction's start or end).
    pub fn is_work(self) -> bool {
        !matches!(self, Self::Begin | Self::Commit)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The kind of `sql`: its first keyword's. A `WITH` statement that
    /// writes (a data-modifying common table expression) is the kind of
    /// its first write, any other `WITH` a select. sea-query writes
    /// keywords in capitals and quotes every identifier, so a capitalised
    /// bare word is a keyword; `FOR UPDATE` / `FOR NO KEY UPDATE` are
    /// locks, not writes.
    pub fn of_sql(sql: &str) -> Self {
        let mut words = sql
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| !w.is_empty());
        let Some(first) = words.next() else {
            return Self::Other;
        };
        let kind = |word: &str| match word {
            "SELECT" => Some(Self::Select),
            "INSERT" => Some(Self::Insert),
            "UPDATE" => Some(Self::Update),
            "DELETE" => Some(Self::Delete),
            _ => None,
        };
        if first.eq_ignore_ascii_case("WITH") {
            let mut previous = "";
            for word in words {
                if let Some(write) = kind(word).filter(|k| *k != Self::Select)
                    && !matches!(previous, "FOR" | "KEY")
                {
                    return write;
                }
                previous = word;
            }
            return Self::Select;
        }
        kind(&first.to_ascii_uppercase()).unwrap_or(Self::Other)
    }
}

static COUNTS: [AtomicU64; StatementKind::ALL.len()] =
    [const { AtomicU64::new(0) }; StatementKind::ALL.len()];

/// Counts one statement of `kind`.
pub(super) fn count(kind: StatementKind) {
    COUNTS[kind.index()].fetch_add(1, Ordering::Relaxed);
}

/// Statements every store of this process has sent so far, by kind.
pub fn statement_counts() -> [(StatementKind, u64); StatementKind::ALL.len()] {
    StatementKind::ALL.map(|kind| (kind, COUNTS[kind.index()].load(Ordering::Relaxed)))
}

/// Has every statement sent through `db` (and the transactions begun on
/// it) counted.
pub(super) fn count_statements_of(db: &mut DatabaseConnection) {
    db.set_metric_callback(|info| count(StatementKind::of_sql(&info.statement.sql)));
}

/// Counts every commit of a SQLite connection, from SQLite itself (for the
/// writer's `after_connect`).
pub(super) async fn count_commits_of(
    connection: &mut sea_orm::sqlx::SqliteConnection,
) -> Result<(), sea_orm::sqlx::Error> {
    connection.lock_handle().await?.set_commit_hook(|| {
        count(StatementKind::Commit);
        // sqlx's hook: false would turn the commit into a rollback.
        true
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::StatementKind::{self, *};

    #[test]
    fn a_statement_is_the_kind_of_its_first_keyword() {
        let cases: [(&str, StatementKind); 10] = [
            (
                r#"SELECT "orders"."id" FROM "orders" WHERE "id" = $1"#,
                Select,
            ),
            (r#"select 1"#, Select),
            (r#"INSERT INTO "orders" ("id") VALUES ($1)"#, Insert),
            (
                r#"UPDATE "orders" SET "updated_at" = $1 WHERE "id" = $2"#,
                Update,
            ),
            (
                r#"  DELETE FROM "idempotency_keys" WHERE "key" = $1"#,
                Delete,
            ),
            (
                r#"SELECT * FROM "orders" WHERE "id" = $1 FOR UPDATE"#,
                Select,
            ),
            (
                r#"WITH "a" AS (UPDATE "orders" SET "x" = 1 RETURNING 1), "b" AS (INSERT INTO "order_events" ("id") VALUES (1)) SELECT 1"#,
                Update,
            ),
            (
                r#"WITH "o" AS (SELECT * FROM "orders" WHERE "id" = $1 FOR NO KEY UPDATE) SELECT * FROM "o""#,
                Select,
            ),
            (r#"SAVEPOINT "sp""#, Other),
            ("", Other),
        ];
        for (sql, kind) in cases {
            assert_eq!(StatementKind::of_sql(sql), kind, "{sql}");
        }
    }

    #[test]
    fn counts_only_grow_and_each_kind_is_its_own() {
        let before = super::statement_counts();
        super::count(Insert);
        super::count(Insert);
        super::count(Begin);
        let after = super::statement_counts();
        for ((kind, was), (_, is)) in before.iter().zip(after.iter()) {
            let at_least = match kind {
                Insert => 2,
                Begin => 1,
                _ => 0,
            };
            assert!(is - was >= at_least, "{kind:?}: {was} → {is}");
        }
    }
}
