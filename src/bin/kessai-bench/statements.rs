//! Database statements and commits per answered call, read around each
//! measured window like the CPU.
//!
//! Statements: from `pg_stat_statements` when the PostgreSQL server has it
//! loaded (every statement the server ran for kessai's database), otherwise
//! from kessai's own `kessai_db_statements_total` (every statement its
//! store sent; `pg_stat_database`'s tuple counts are rows, not statements).
//! Commits: `COMMIT`s in `pg_stat_statements`; without it, on PostgreSQL,
//! the transactions kessai began less those the database rolled back
//! (`pg_stat_database.xact_rollback`); on SQLite, SQLite's commit hook as
//! kessai counts it. A scrape's own two reads (the backlog gauge) are in the
//! window: two statements over thousands of calls.

use std::net::SocketAddr;

use sea_orm::sqlx::{self, Connection, PgConnection, Row};

/// What to read around a window.
#[derive(Debug, Clone)]
pub struct DbProbe {
    /// kessai's `/metrics`, when it serves them.
    pub metrics: Option<SocketAddr>,
    /// kessai's PostgreSQL database, when it is on one.
    pub postgres: Option<PgStats>,
}

#[derive(Debug, Clone)]
pub struct PgStats {
    /// Any database on the server, to read the statistics views from.
    pub admin: String,
    /// kessai's database.
    pub database: String,
    /// Whether the server has `pg_stat_statements` loaded (and the view
    /// exists in `admin`).
    pub statements_view: bool,
}

/// Counts so far; `None` where a source could not be read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DbCounts {
    /// kessai's counter: statements other than `BEGIN` / `COMMIT`.
    pub work: Option<u64>,
    pub begun: Option<u64>,
    /// kessai's counter of commits (SQLite's commit hook).
    pub committed: Option<u64>,
    /// `pg_stat_database.xact_rollback`.
    pub rolled_back: Option<u64>,
    /// `pg_stat_statements`: statements other than transaction control, and
    /// `COMMIT`s.
    pub server: Option<(u64, u64)>,
}

/// Per answered call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbPerCall {
    pub statements: f64,
    /// Transactions opened (`BEGIN`), where kessai counted them.
    pub begun: Option<f64>,
    pub commits: Option<f64>,
}

impl PgStats {
    /// kessai's `database` on the server at `admin`; looks once whether
    /// `pg_stat_statements` can be read.
    pub async fn new(admin: &str, database: &str) -> Self {
        let statements_view = match PgConnection::connect(admin).await {
            Ok(mut conn) => statements_view(&mut conn).await.unwrap_or(false),
            Err(_) => false,
        };
        Self {
            admin: admin.to_owned(),
            database: database.to_owned(),
            statements_view,
        }
    }
}

/// Whether the server loads `pg_stat_statements`; creates its view in the
/// connected database if so.
async fn statements_view(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    let libraries: String =
        sqlx::query_scalar("SELECT current_setting('shared_preload_libraries')")
            .fetch_one(&mut *conn)
            .await?;
    if !libraries
        .split(',')
        .any(|l| l.trim() == "pg_stat_statements")
    {
        return Ok(false);
    }
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

impl DbProbe {
    pub async fn read(&self) -> DbCounts {
        let mut counts = DbCounts::default();
        if let Some(addr) = self.metrics
            && let Some(kinds) = scrape(addr).await
        {
            let sum = |names: &[&str]| {
                kinds
                    .iter()
                    .filter(|(k, _)| names.contains(&k.as_str()))
                    .map(|(_, v)| *v)
                    .sum::<u64>()
            };
            // A kessai without the counter (an earlier build) has no series.
            if !kinds.is_empty() {
                counts.work = Some(sum(&["select", "insert", "update", "delete", "other"]));
                counts.begun = Some(sum(&["begin"]));
                counts.committed = Some(sum(&["commit"]));
            }
        }
        if let Some(pg) = &self.postgres
            && let Ok(mut conn) = PgConnection::connect(&pg.admin).await
        {
            counts.rolled_back = rolled_back(&mut conn, &pg.database).await.ok();
            if pg.statements_view {
                counts.server = server_statements(&mut conn, &pg.database).await.ok();
            }
            let _ = conn.close().await;
        }
        counts
    }
}

impl DbCounts {
    /// What was counted between `self` and `later`, per call.
    pub fn per_call(&self, later: &DbCounts, calls: u64) -> Option<DbPerCall> {
        if calls == 0 {
            return None;
        }
        let per = |n: u64| n as f64 / calls as f64;
        let delta = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?));
        let begun = delta(self.begun, later.begun);
        if let (Some((s0, c0)), Some((s1, c1))) = (self.server, later.server) {
            return Some(DbPerCall {
                statements: per(s1.saturating_sub(s0)),
                begun: begun.map(per),
                commits: Some(per(c1.saturating_sub(c0))),
            });
        }
        let statements = delta(self.work, later.work)?;
        let commits = match delta(self.rolled_back, later.rolled_back) {
            // PostgreSQL: every transaction begun ends in COMMIT or ROLLBACK.
            Some(rolled_back) => begun.map(|b| b.saturating_sub(rolled_back)),
            None => delta(self.committed, later.committed),
        };
        Some(DbPerCall {
            statements: per(statements),
            begun: begun.map(per),
            commits: commits.map(per),
        })
    }
}

async fn rolled_back(conn: &mut PgConnection, database: &str) -> Result<u64, sqlx::Error> {
    // A new snapshot of the statistics, not the one this connection took.
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *conn)
        .await?;
    let n: i64 = sqlx::query("SELECT xact_rollback FROM pg_stat_database WHERE datname = $1")
        .bind(database)
        .fetch_one(&mut *conn)
        .await?
        .get(0);
    Ok(n.max(0) as u64)
}

async fn server_statements(
    conn: &mut PgConnection,
    database: &str,
) -> Result<(u64, u64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT \
           coalesce(sum(calls) FILTER (WHERE upper(query) NOT IN ('BEGIN', 'COMMIT', 'ROLLBACK')), 0)::bigint, \
           coalesce(sum(calls) FILTER (WHERE upper(query) = 'COMMIT'), 0)::bigint \
         FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)",
    )
    .bind(database)
    .fetch_one(&mut *conn)
    .await?;
    let statements: i64 = row.get(0);
    let commits: i64 = row.get(1);
    Ok((statements.max(0) as u64, commits.max(0) as u64))
}

/// `kessai_db_statements_total` by kind, from one scrape; `None` if the
/// endpoint did not answer.
async fn scrape(addr: SocketAddr) -> Option<Vec<(String, u64)>> {
    kessai::startup::install_crypto_provider();
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(statement_counts(&text))
}

/// The series of `kessai_db_statements_total` in exposition text.
fn statement_counts(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("kessai_db_statements_total{kind=\""))
        .filter_map(|rest| {
            let (kind, rest) = rest.split_once('"')?;
            let value = rest.rsplit(' ').next()?.parse::<f64>().ok()?;
            Some((kind.to_owned(), value as u64))
        })
        .collect()
}

/// Where this run's statement and commit figures come from, for the report.
pub fn sources(postgres_view: bool) -> String {
    format!(
        "DB statements and commits per call: on SQLite from kessai's `kessai_db_statements_total` \
         (commits by SQLite's commit hook); on PostgreSQL {}. A statement is a round trip other \
         than BEGIN and COMMIT, and commits count transactions begun with BEGIN (a statement \
         sent alone commits itself); round trips per call ≈ statements + 2 × commits.",
        if postgres_view {
            "from `pg_stat_statements` (statements other than BEGIN/COMMIT/ROLLBACK, and COMMITs)"
        } else {
            "from kessai's counter (`pg_stat_statements` is not loaded), commits being the \
             transactions kessai began less `pg_stat_database.xact_rollback`"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_is_read_from_exposition_text() {
        let text = "# HELP kessai_db_statements_total Statements\n\
                    # TYPE kessai_db_statements_total counter\n\
                    kessai_db_statements_total{kind=\"select\"} 12\n\
                    kessai_db_statements_total{kind=\"begin\"} 3\n\
                    kessai_db_pool_connections{pool=\"main\"} 4\n";
        assert_eq!(
            statement_counts(text),
            vec![("select".to_owned(), 12), ("begin".to_owned(), 3)]
        );
    }

    #[test]
    fn per_call_prefers_the_server_view_then_kessai_counter() {
        let before = DbCounts {
            work: Some(100),
            begun: Some(10),
            committed: Some(0),
            rolled_back: Some(1),
            server: None,
        };
        let after = DbCounts {
            work: Some(190),
            begun: Some(30),
            committed: Some(0),
            rolled_back: Some(3),
            server: None,
        };
        // PostgreSQL without the view: commits are BEGINs not rolled back.
        let per = before.per_call(&after, 10).unwrap();
        assert_eq!(per.statements, 9.0);
        assert_eq!(per.begun, Some(2.0));
        assert_eq!(per.commits, Some(1.8));
        // With the view, its counts.
        let with_view = |c: DbCounts, s| DbCounts {
            server: Some(s),
            ..c
        };
        let per = with_view(before, (1_000, 50))
            .per_call(&with_view(after, (1_080, 70)), 10)
            .unwrap();
        assert_eq!(per.statements, 8.0);
        assert_eq!(per.commits, Some(2.0));
        // SQLite: the commit hook's count.
        let sqlite = |work, begun, committed| DbCounts {
            work: Some(work),
            begun: Some(begun),
            committed: Some(committed),
            ..DbCounts::default()
        };
        let per = sqlite(0, 0, 0).per_call(&sqlite(40, 10, 10), 5).unwrap();
        assert_eq!(per.commits, Some(2.0));
        assert!(sqlite(0, 0, 0).per_call(&sqlite(1, 1, 1), 0).is_none());
        // Nothing read: nothing said.
        assert!(
            DbCounts::default()
                .per_call(&DbCounts::default(), 5)
                .is_none()
        );
    }
}
