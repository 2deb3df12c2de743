//! `kessai-bench watchers`: what idle WatchOrderEvents streams cost everyone
//! else. GetOrder under load with no stream open, then with `--watchers`
//! streams open and idle (each watching one order, its history delivered);
//! kessai's CPU while nothing happens (from `/proc/<pid>/stat`) and, on
//! PostgreSQL, the transactions its database commits meanwhile; then how
//! long the events of a burst of captures take to reach their streams.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use futures::StreamExt;
use kessai::clock::SystemClock;
use kessai::proto::v1;
use kessai::sandbox::Sandbox;
use sea_orm::sqlx::{self, Connection, PgConnection, Row};

use crate::calls;
use crate::chaos::Databases;
use crate::load::{Client, Load, Stats, drive};
use crate::postgres::{Postgres, PostgresArg};
use crate::server::{Kind, Server, kessai_env};

#[derive(Debug, Clone, Args)]
pub struct WatchersArgs {
    /// Streams held open and idle.
    #[arg(long, default_value_t = 2_000)]
    watchers: usize,
    /// Concurrent GetOrder callers.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds of GetOrder measured, each way.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of CPU and database activity measured while nothing happens.
    #[arg(long, default_value_t = 10)]
    idle: u64,
    #[arg(long, value_enum, default_value_t = Databases::Postgres)]
    database: Databases,
    #[command(flatten)]
    postgres: PostgresArg,
    /// Serve with this build of kessai-bench instead of this one (an earlier
    /// commit's, for a before and after).
    #[arg(long)]
    server: Option<PathBuf>,
    /// kessai's database pool; default kessai's own.
    #[arg(long)]
    db_connections: Option<u32>,
}

/// Orders made, each watched by `watchers / ORDERS` streams.
const ORDERS: usize = 500;
/// Orders captured to see events reach their streams.
const CAPTURED: usize = 50;

struct Measured {
    database: &'static str,
    get: [Stats; 2],
    cpu: [f64; 2],
    /// PostgreSQL: transactions committed per second on kessai's database.
    commits: [Option<f64>; 2],
    /// From the captures' start until every stream watching a captured
    /// order had a new event, and how many streams those were.
    fan_out: (Duration, usize),
}

pub async fn run(args: WatchersArgs) -> anyhow::Result<()> {
    let sandbox = Sandbox::start("127.0.0.1:0".parse()?, Arc::new(SystemClock)).await?;
    let pg = Postgres::new(&args.postgres.url)?;
    let exe = match &args.server {
        Some(path) => path.clone(),
        None => std::env::current_exe()?,
    };
    let dir = std::env::temp_dir().join("kessai-bench");
    std::fs::create_dir_all(&dir)?;
    let mut measured = Vec::new();
    if matches!(args.database, Databases::Sqlite | Databases::Both) {
        let path = dir.join(format!("watchers-{}.sqlite", ulid::Ulid::new()));
        let url = format!("sqlite://{}", path.display());
        measured.push(one(&args, &exe, &sandbox, "SQLite", &url).await?);
        let _ = std::fs::remove_file(path);
    }
    if matches!(args.database, Databases::Postgres | Databases::Both) {
        let url = pg.fresh_database("kessai_bench_watchers").await?;
        measured.push(one(&args, &exe, &sandbox, "PostgreSQL", &url).await?);
        pg.drop_database("kessai_bench_watchers").await;
    }
    sandbox.stop().await;
    println!("{}", markdown(&args, &measured));
    Ok(())
}

async fn one(
    args: &WatchersArgs,
    exe: &std::path::Path,
    sandbox: &Sandbox,
    database: &'static str,
    url: &str,
) -> anyhow::Result<Measured> {
    let connections = args
        .db_connections
        .unwrap_or_else(crate::server::default_db_connections);
    let mut env = kessai_env(connections, url, sandbox);
    crate::server::allow_streams(&mut env, args.watchers + 1);
    let server = Server::start_exe(exe, Kind::Kessai, &env).await?;
    let clients = server.clients(args.concurrency.div_ceil(16)).await?;
    eprintln!("{database}: {ORDERS} orders");
    let orders =
        Arc::new(crate::authorize_many(&clients, ORDERS, &ulid::Ulid::new().to_string()).await?);
    let load = Load {
        concurrency: args.concurrency,
        warmup: Duration::from_secs(2),
        duration: Duration::from_secs(args.duration),
        pause: Duration::ZERO,
    };
    let get_orders = |orders: Arc<Vec<String>>| {
        move |client: Client, n: u64| {
            let id = orders[n as usize % orders.len()].clone();
            calls::get_order(client, id)
        }
    };
    let idle = Duration::from_secs(args.idle);

    eprintln!("{database}: no stream open");
    let quiet = (
        cpu_percent(server.pid(), idle).await?,
        commits_per_second(url, idle).await?,
    );
    let get_alone = drive(&clients, load, get_orders(orders.clone())).await;

    eprintln!("{database}: opening {} streams", args.watchers);
    let streams = open_streams(&server, &orders, args.watchers).await?;
    // Their histories are delivered; then nothing happens.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let busy = (
        cpu_percent(server.pid(), idle).await?,
        commits_per_second(url, idle).await?,
    );
    eprintln!("{database}: GetOrder beside them");
    let get_beside = drive(&clients, load, get_orders(orders.clone())).await;

    eprintln!("{database}: {CAPTURED} captures");
    let fan_out = captures_reach_their_streams(&clients, &orders, &streams).await?;
    drop(streams);
    Ok(Measured {
        database,
        get: [get_alone, get_beside],
        cpu: [quiet.0, busy.0],
        commits: [quiet.1, busy.1],
        fan_out,
    })
}

/// Open streams, each counting the events it receives; the counts stop
/// (the streams close) when this drops.
struct Streams {
    seen: Vec<Arc<AtomicU64>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Streams {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn open_streams(server: &Server, orders: &[String], n: usize) -> anyhow::Result<Streams> {
    // Fewer than the 256 streams a connection may carry.
    let clients = server.clients(n.div_ceil(200)).await?;
    let mut streams = Streams {
        seen: Vec::with_capacity(n),
        tasks: Vec::with_capacity(n),
    };
    for i in 0..n {
        let request = v1::WatchOrderEventsRequest {
            order_id: orders[i % orders.len()].clone(),
            ..Default::default()
        };
        let mut client = clients[i % clients.len()].clone();
        let mut stream = client.watch_order_events(request).await?.into_inner();
        let seen = Arc::new(AtomicU64::new(0));
        streams.seen.push(seen.clone());
        streams.tasks.push(tokio::spawn(async move {
            while let Ok(Some(_)) = stream.message().await {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    Ok(streams)
}

async fn captures_reach_their_streams(
    clients: &[Client],
    orders: &[String],
    streams: &Streams,
) -> anyhow::Result<(Duration, usize)> {
    let watching = |order: usize| (order..streams.seen.len()).step_by(orders.len());
    let before: Vec<u64> = (0..CAPTURED)
        .flat_map(watching)
        .map(|s| streams.seen[s].load(Ordering::Relaxed))
        .collect();
    let began = Instant::now();
    let captured: Vec<Result<(), tonic::Status>> = futures::stream::iter(0..CAPTURED)
        .map(|i| {
            let mut client = clients[i % clients.len()].clone();
            let request = v1::CaptureRequest {
                idempotency_key: format!("watchers-capture-{}", ulid::Ulid::new()),
                order_id: orders[i].clone(),
                ..Default::default()
            };
            async move { client.capture(request).await.map(|_| ()) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    captured.into_iter().collect::<Result<Vec<_>, _>>()?;
    loop {
        let now = (0..CAPTURED)
            .flat_map(watching)
            .map(|s| streams.seen[s].load(Ordering::Relaxed));
        if now.zip(&before).all(|(now, before)| now > *before) {
            return Ok((began.elapsed(), before.len()));
        }
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(30),
            "the captures' events did not reach every stream within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The CPU `pid` used over `window`, in percent of one core.
async fn cpu_percent(pid: u32, window: Duration) -> anyhow::Result<f64> {
    let before = cpu_ticks(pid)?;
    tokio::time::sleep(window).await;
    let ticks = cpu_ticks(pid)? - before;
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(100.0 * ticks as f64 / per_second / window.as_secs_f64())
}

/// User and system time of `pid`'s threads, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name, which may hold spaces: state is
    // the 3rd field of the line, utime the 14th, stime the 15th.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        let value = fields
            .get(n - 3)
            .ok_or_else(|| anyhow::anyhow!("short /proc stat"))?;
        Ok(value.parse()?)
    };
    Ok(field(14)? + field(15)?)
}

/// PostgreSQL: transactions kessai's database committed per second over
/// `window` (each statement outside a transaction is one).
async fn commits_per_second(url: &str, window: Duration) -> anyhow::Result<Option<f64>> {
    if !url.starts_with("postgres") {
        return Ok(None);
    }
    let mut conn = PgConnection::connect(url).await?;
    let sql = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()";
    // Statistics reach the view within a second of a transaction's end.
    let read = async |conn: &mut PgConnection| -> anyhow::Result<i64> {
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut *conn)
            .await?;
        Ok(sqlx::query(sql).fetch_one(&mut *conn).await?.get(0))
    };
    let before = read(&mut conn).await?;
    tokio::time::sleep(window).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = read(&mut conn).await?;
    // The two reads' own transactions are not kessai's.
    let kessai = (after - before - 2).max(0);
    Ok(Some(kessai as f64 / (window.as_secs_f64() + 1.0)))
}

fn markdown(args: &WatchersArgs, measured: &[Measured]) -> String {
    let mut out = format!(
        "{} streams, each watching one of {ORDERS} orders, idle once its history is delivered; \
         GetOrder from {} callers for {} s after 2 s of warm-up, on one of the same orders each \
         call; CPU and commits over {} s with nothing happening.\n\n\
         | database | streams | GetOrder calls/s | p50 ms | p99 ms | max ms | errors | kessai CPU idle | database commits/s idle |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        args.watchers, args.concurrency, args.duration, args.idle
    );
    for m in measured {
        for (i, streams) in [0, args.watchers].into_iter().enumerate() {
            let get = &m.get[i];
            let commits = m.commits[i].map_or("—".into(), |c| format!("{c:.1}"));
            out.push_str(&format!(
                "| {} | {streams} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.1} % | {commits} |\n",
                m.database,
                get.rate(),
                get.p50(),
                get.p99(),
                get.quantile_ms(1.0),
                get.errors,
                m.cpu[i],
            ));
        }
    }
    for m in measured {
        out.push_str(&format!(
            "\n{}: the events of {CAPTURED} captures reached all {} streams watching those orders in {} ms.",
            m.database,
            m.fan_out.1,
            m.fan_out.0.as_millis()
        ));
    }
    out
}
