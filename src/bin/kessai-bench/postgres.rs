//! PostgreSQL around the benchmark: scratch databases and `pgbench` (the
//! database-path ceiling, run on the same server in the same run); the
//! bulk seeding of orders for the scale figures is `seed.rs`.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use sea_orm::sqlx;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Row};

/// `--postgres`, for every command that needs the server.
#[derive(Debug, Clone, clap::Args)]
pub struct PostgresArg {
    /// A PostgreSQL server (any existing database on it); scratch databases
    /// kessai_bench_* are created there.
    #[arg(
        long = "postgres",
        env = "KESSAI_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub url: String,
}

/// A server reachable at `admin` (any existing database on it).
#[derive(Debug, Clone)]
pub struct Postgres {
    pub admin: url::Url,
}

impl Postgres {
    pub fn new(admin: &str) -> anyhow::Result<Self> {
        Ok(Self {
            admin: url::Url::parse(admin).context("--postgres must be a postgres:// URL")?,
        })
    }

    /// Creates (or re-creates) `name` and returns its URL.
    pub async fn fresh_database(&self, name: &str) -> anyhow::Result<String> {
        let mut conn = PgConnection::connect(self.admin.as_str()).await?;
        conn.execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await?;
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await?;
        let mut url = self.admin.clone();
        url.set_path(&format!("/{name}"));
        Ok(url.to_string())
    }

    pub async fn drop_database(&self, name: &str) {
        if let Ok(mut conn) = PgConnection::connect(self.admin.as_str()).await {
            let _ = conn
                .execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await;
        }
    }

    fn pgbench_command(&self) -> Command {
        let binary = ["pgbench"]
            .into_iter()
            .map(str::to_owned)
            .chain(
                std::fs::read_dir("/usr/lib/postgresql")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path().join("bin/pgbench").display().to_string()),
            )
            .find(|p| Command::new(p).arg("--version").output().is_ok())
            .unwrap_or_else(|| "pgbench".into());
        let mut command = Command::new(binary);
        command
            .env("PGHOST", self.admin.host_str().unwrap_or("127.0.0.1"))
            .env("PGPORT", self.admin.port().unwrap_or(5432).to_string())
            .env(
                "PGUSER",
                match self.admin.username() {
                    "" => "postgres",
                    user => user,
                },
            );
        if let Some(password) = self.admin.password() {
            command.env("PGPASSWORD", password);
        }
        command
    }

    /// `pgbench -i -s scale` into a fresh database.
    pub async fn pgbench_init(&self, database: &str, scale: u32) -> anyhow::Result<()> {
        self.fresh_database(database).await?;
        let output = self
            .pgbench_command()
            .args(["-i", "-q", "-s", &scale.to_string(), database])
            .output()
            .context("running pgbench (PostgreSQL's client tools)")?;
        if !output.status.success() {
            bail!(
                "pgbench -i failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// TPS of `pgbench <mode> -c clients -j 2 -T seconds`, without the
    /// initial connection time.
    pub fn pgbench(
        &self,
        database: &str,
        mode: &str,
        clients: usize,
        duration: Duration,
    ) -> anyhow::Result<f64> {
        let output = self
            .pgbench_command()
            .args([
                mode,
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &duration.as_secs().max(1).to_string(),
                database,
            ])
            .output()
            .context("running pgbench")?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "pgbench {mode} failed: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        parse_tps(&text).with_context(|| format!("no tps in pgbench's output: {text}"))
    }
}

/// Connections to `database_url`'s database that have sat inside a
/// transaction for over a second. Between two statements of a live
/// transaction a connection is briefly idle in it too; one handed back to
/// the pool mid-transaction stays so until it is reused.
pub async fn stuck_in_transaction(database_url: &str) -> anyhow::Result<i64> {
    let mut conn = PgConnection::connect(database_url).await?;
    let stuck = sqlx::query(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND state LIKE 'idle in transaction%' \
         AND state_change < now() - interval '1 second'",
    )
    .fetch_one(&mut conn)
    .await?
    .get::<i64, _>(0);
    Ok(stuck)
}

/// Runs each of `statements` on `database_url`'s database, in order.
pub async fn execute(database_url: &str, statements: &[String]) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(database_url).await?;
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut conn)
            .await
            .map_err(|e| anyhow::anyhow!("{statement}: {e}"))?;
    }
    Ok(())
}

/// Whether the server runs autovacuum, which also keeps the planner's
/// statistics current. Without it a fresh database is never analyzed, and
/// the planner, guessing, scans whole tables for a page of orders.
pub async fn autovacuum_on(database_url: &str) -> anyhow::Result<bool> {
    let mut conn = PgConnection::connect(database_url).await?;
    let setting: String = sqlx::query_scalar("SHOW autovacuum")
        .fetch_one(&mut conn)
        .await?;
    Ok(setting == "on")
}

/// Stands in for autovacuum's analyze: `ANALYZE` on `database_url` every
/// `period` until `stop`. Counts the passes done.
pub async fn analyze_every(
    database_url: String,
    period: Duration,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<u32> {
    let mut conn = PgConnection::connect(&database_url).await?;
    let mut passes = 0;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(passes),
            () = tokio::time::sleep(period) => {}
        }
        conn.execute("ANALYZE").await?;
        passes += 1;
    }
}

fn parse_tps(output: &str) -> Option<f64> {
    output
        .lines()
        .find(|l| l.starts_with("tps = ") && l.contains("without initial connection time"))
        .or_else(|| output.lines().find(|l| l.starts_with("tps = ")))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The id of the `n`-th seeded order: "ord_" and a valid ULID that sorts
/// below every id made since 1970 + a few years, so seeded orders list
/// after the real ones.
pub fn seeded_order_id(n: u64) -> String {
    format!("ord_01{n:024X}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_is_read_from_pgbench_output() {
        let output = "latency average = 9.1 ms\ninitial connection time = 30.1 ms\ntps = 7012.345678 (without initial connection time)\n";
        assert_eq!(parse_tps(output), Some(7012.345678));
    }

    #[test]
    fn seeded_ids_are_order_ids() {
        let id = seeded_order_id(1_000_000);
        assert!(
            kessai::domain::OrderId::parse(&id, "order_id").is_ok(),
            "{id}"
        );
        assert_eq!(id.len(), "ord_".len() + 26);
        assert!(id.ends_with("F4240"));
    }
}
