//! Two builds of kessai measured in turns: one scenario's windows alternate
//! between them (A B, B A, A B, …), each build on a database of its own on
//! the same server, so that this shared machine's drift from one minute to
//! the next falls on both alike. A whole run measures each build minutes
//! apart, and its figures move by a fifth between runs of one build.
//!
//! `kessai-bench ab --a OLD --b NEW --scenario authorize` prints each
//! window and the medians of calls/s and of kessai's and PostgreSQL's CPU
//! per call.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use kessai::clock::SystemClock;
use kessai::sandbox::Sandbox;

use crate::load::{Client, Load, Stats};
use crate::postgres::{Postgres, PostgresArg};
use crate::server::{Kind, Server, default_db_connections, kessai_env};
use crate::statements::PgStats;
use crate::{RunArgs, Scenario, authorize_many, drive_scenario, flow_many, probe_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Database {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone, Args)]
pub struct AbArgs {
    /// Build A (`kessai-bench` of a commit); this binary when not given.
    #[arg(long)]
    a: Option<PathBuf>,
    /// Build B; this binary when not given.
    #[arg(long)]
    b: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Scenario::Authorize)]
    scenario: Scenario,
    #[arg(long, value_enum, default_value_t = Database::Postgres)]
    database: Database,
    /// Windows per build.
    #[arg(long, default_value_t = 6)]
    rounds: usize,
    /// Seconds measured per window.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Seconds of warm-up before each window.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long)]
    db_connections: Option<u32>,
    /// A variable set for build B alone, `NAME=VALUE` (repeatable): the
    /// same build with a setting changed.
    #[arg(long = "b-set", value_parser = setting)]
    b_set: Vec<(String, String)>,
    /// SQL run on build B's PostgreSQL database once its server has
    /// migrated it, before any order is made (repeatable): the same build
    /// on a changed schema.
    #[arg(long = "b-sql")]
    b_sql: Vec<String>,
    #[command(flatten)]
    postgres: PostgresArg,
}

fn setting(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// One build, served and ready.
struct Side {
    name: &'static str,
    server: Server,
    clients: Vec<Client>,
    pg_stats: Option<PgStats>,
    hot: Arc<Vec<String>>,
    windows: Vec<Stats>,
}

pub async fn run(args: AbArgs) -> anyhow::Result<()> {
    let sandbox = Sandbox::start("127.0.0.1:0".parse()?, Arc::new(SystemClock)).await?;
    let pg = Postgres::new(&args.postgres.url)?;
    let connections = args.db_connections.unwrap_or_else(default_db_connections);
    let dir = std::env::temp_dir().join("kessai-bench-ab");
    std::fs::create_dir_all(&dir)?;
    let mut sides = Vec::new();
    for (name, exe) in [("A", &args.a), ("B", &args.b)] {
        let database = format!("kessai_bench_ab_{}", name.to_lowercase());
        let url = match args.database {
            Database::Postgres => pg.fresh_database(&database).await?,
            Database::Sqlite => {
                let path = dir.join(format!("{database}.sqlite"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                format!("sqlite://{}", path.display())
            }
        };
        let mut env: HashMap<String, String> = kessai_env(connections, &url, &sandbox);
        if name == "B" {
            env.extend(args.b_set.iter().cloned());
        }
        let server = match exe {
            Some(exe) => Server::start_exe(exe, Kind::Kessai, &env).await?,
            None => Server::start(Kind::Kessai, &env).await?,
        };
        let clients = server
            .clients(RunArgs::connections(args.concurrency))
            .await?;
        let pg_stats = match args.database {
            Database::Postgres => Some(PgStats::new(&args.postgres.url, &database).await),
            Database::Sqlite => None,
        };
        if name == "B" && !args.b_sql.is_empty() {
            anyhow::ensure!(
                args.database == Database::Postgres,
                "--b-sql changes a PostgreSQL database"
            );
            crate::postgres::execute(&url, &args.b_sql).await?;
        }
        let hot = Arc::new(authorize_many(&clients, 1_000, &format!("ab-{name}-seed")).await?);
        if args.scenario == Scenario::List {
            // The main run lists after its flows: the first page's orders
            // each have a capture and a refund to attach.
            flow_many(&clients, 100, &format!("ab-{name}-flow")).await?;
        }
        sides.push(Side {
            name,
            server,
            clients,
            pg_stats,
            hot,
            windows: Vec::new(),
        });
    }

    let load = Load {
        concurrency: args.concurrency,
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs(args.duration),
        pause: Duration::ZERO,
    };
    println!(
        "window | build | calls/s | p50 ms | p99 ms | kessai CPU ms/call | PostgreSQL CPU ms/call | harness CPU ms/call"
    );
    for round in 0..args.rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for index in order {
            let side = &mut sides[index];
            let stats = window(side, args.scenario, load, round).await;
            if stats.errors > 0 {
                anyhow::bail!(
                    "{} calls of build {} failed: {:?}",
                    stats.errors,
                    side.name,
                    stats.first_error
                );
            }
            let (kessai, database, harness) = cpu(&stats);
            println!(
                "{round} | {} | {:.0} | {:.2} | {:.2} | {kessai:.3} | {database:.3} | {harness:.3}",
                side.name,
                stats.rate(),
                stats.p50(),
                stats.p99()
            );
            side.windows.push(stats);
        }
    }

    println!("\nmedians of {} windows each:", args.rounds);
    println!("build | calls/s | kessai CPU ms/call | PostgreSQL CPU ms/call | harness CPU ms/call");
    let mut medians = Vec::new();
    for side in &sides {
        let rate = median(side.windows.iter().map(Stats::rate).collect());
        let kessai = median(side.windows.iter().map(|s| cpu(s).0).collect());
        let database = median(side.windows.iter().map(|s| cpu(s).1).collect());
        let harness = median(side.windows.iter().map(|s| cpu(s).2).collect());
        println!(
            "{} | {rate:.0} | {kessai:.3} | {database:.3} | {harness:.3}",
            side.name
        );
        medians.push((rate, kessai, database));
    }
    let (a, b) = (medians[0], medians[1]);
    println!(
        "B / A | {:.3} | {:.3} | {:.3}",
        b.0 / a.0,
        b.1 / a.1,
        b.2 / a.2
    );
    // The servers stop before their databases are dropped.
    drop(sides);
    if args.database == Database::Postgres {
        pg.drop_database("kessai_bench_ab_a").await;
        pg.drop_database("kessai_bench_ab_b").await;
    }
    Ok(())
}

async fn window(side: &Side, scenario: Scenario, load: Load, round: usize) -> Stats {
    let probe = Some(probe_of(&side.server, side.pg_stats.as_ref()));
    let prefix = format!("ab-{}-{round}", side.name);
    drive_scenario(
        scenario,
        &side.clients,
        load,
        probe,
        prefix,
        side.hot.clone(),
    )
    .await
}

/// kessai's, the database server's and the harness's CPU per call, NaN
/// where unread.
fn cpu(stats: &Stats) -> (f64, f64, f64) {
    stats
        .cpu
        .as_ref()
        .map_or((f64::NAN, f64::NAN, f64::NAN), |cpu| {
            (
                cpu.server_ms,
                cpu.database_ms.unwrap_or(f64::NAN),
                cpu.harness_ms,
            )
        })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
