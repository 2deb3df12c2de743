//! ListOrders' searches at scale: by a customer's whole e-mail, by a family
//! name (one customer in 40 has it), by a free query (a merchant reference)
//! and by a provider order id, over `--scale` seeded orders (`seed.rs`),
//! each against the plain first page measured on the same server in the
//! same run. The target: a search page within 3 × a plain page's p50.
//!
//! The main run measures them on PostgreSQL (on its scale database) and on
//! a SQLite file seeded the same way; `kessai-bench search` measures only
//! these.

use std::collections::HashMap;
use std::sync::Arc;

use clap::Args;
use kessai::clock::SystemClock;
use kessai::proto::v1;
use kessai::sandbox::Sandbox;

use crate::chaos::Databases;
use crate::cpu::CpuProbe;
use crate::load::Probe;
use crate::load::{Client, Load, Stats, drive, drive_counted};
use crate::postgres::Postgres;
use crate::report::Report;
use crate::seed::{Customers, Dialect, seed_orders};
use crate::server::{Kind, Server, kessai_env};
use crate::{RunArgs, calls, spread};

/// The main run's options (those of the searches count: `--concurrency`,
/// `--duration`, `--warmup`, `--scale`, `--postgres`, `--db-connections`,
/// `--report`, `--kessai-exe`), and on which database.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    run: RunArgs,
    #[arg(long, value_enum, default_value_t = Databases::Both)]
    database: Databases,
}

/// The ratio to a plain first page a search page may take (p50).
const TARGET: f64 = 3.0;

type Request = Arc<dyn Fn(u64) -> v1::ListOrdersRequest + Send + Sync>;

/// The searches, each a request for a call's sequence number, spread over
/// the seeded customers and orders.
fn searches(scale: u64) -> Vec<(&'static str, Request)> {
    let customers = Customers::of(scale);
    vec![
        (
            "by a customer's e-mail",
            Arc::new(move |n| v1::ListOrdersRequest {
                customer_email: Customers::email(spread(n, customers.count)),
                ..Default::default()
            }),
        ),
        (
            "by a family name",
            Arc::new(move |n| v1::ListOrdersRequest {
                customer_name: Customers::family_name(spread(n, customers.count)).into(),
                ..Default::default()
            }),
        ),
        (
            "free query, a merchant reference",
            Arc::new(move |n| v1::ListOrdersRequest {
                query: format!("seeded-{}", 1 + spread(n, scale)),
                ..Default::default()
            }),
        ),
        (
            "free query, a provider order id",
            Arc::new(move |n| v1::ListOrdersRequest {
                query: format!("pi_seeded_{}", 1 + spread(n, scale)),
                ..Default::default()
            }),
        ),
    ]
}

/// Each search on `clients` (a kessai holding `scale` seeded orders),
/// beside `plain`, its first page measured just before: a row each and a
/// check each.
pub async fn measure(
    clients: &[Client],
    load: Load,
    probe: Option<Probe>,
    database: &str,
    scale: u64,
    plain: &Stats,
    report: &mut Report,
) {
    for (what, request) in searches(scale) {
        eprintln!("{database}: search {what}");
        let stats = drive_counted(clients, load, probe.clone(), move |client, n| {
            calls::search_page(client, request(n))
        })
        .await;
        report.row(
            format!("ListOrders search {what}, {database}, {scale} orders"),
            &stats,
            None,
        );
        report.check(
            format!("search page {what} ≤ {TARGET} × plain page p50 ({database}, {scale} orders)"),
            format!(
                "{:.2} ms = {:.2} × {:.2} ms",
                stats.p50(),
                stats.p50() / plain.p50(),
                plain.p50()
            ),
            stats.p50() <= TARGET * plain.p50(),
        );
    }
}

/// The plain first page on `clients`, as a row.
pub async fn plain_page(
    clients: &[Client],
    load: Load,
    probe: Option<Probe>,
    database: &str,
    scale: u64,
    report: &mut Report,
) -> Stats {
    eprintln!("{database}: ListOrders page 1");
    let plain = drive_counted(clients, load, probe, |client, _| async move {
        calls::list_page(client, String::new()).await.map(|_| ())
    })
    .await;
    report.row(
        format!("ListOrders page 1, {database}, {scale} orders"),
        &plain,
        None,
    );
    plain
}

/// A kessai on a SQLite file seeded with `scale` orders: its first page
/// and its searches.
pub async fn sqlite_at_scale(
    env_for: impl Fn(&str) -> HashMap<String, String>,
    exe: Option<&std::path::Path>,
    load: Load,
    scale: u64,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join("kessai-bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("search-{}.sqlite", ulid::Ulid::new()));
    let url = format!("sqlite://{}", path.display());
    let result = at_scale(
        &env_for(&url),
        exe,
        load,
        scale,
        "SQLite",
        report,
        |template| {
            let url = url.clone();
            async move {
                eprintln!("SQLite: seeding {scale} orders");
                seed_orders(Dialect::Sqlite, &url, &template, (1, scale), scale).await
            }
        },
    )
    .await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result
}

/// A kessai on `env`'s database, seeded by `seed` from a template order
/// made through the API: its first page and its searches.
async fn at_scale<S, F>(
    env: &HashMap<String, String>,
    exe: Option<&std::path::Path>,
    load: Load,
    scale: u64,
    database: &str,
    report: &mut Report,
    seed: S,
) -> anyhow::Result<()>
where
    S: FnOnce(String) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    let server = match exe {
        Some(exe) => Server::start_exe(exe, Kind::Kessai, env).await?,
        None => Server::start(Kind::Kessai, env).await?,
    };
    let clients = server
        .clients(RunArgs::connections(load.concurrency))
        .await?;
    let template = calls::authorize(clients[0].clone(), ulid::Ulid::new().to_string())
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    seed(template).await?;
    let probe = Some(Probe {
        cpu: CpuProbe {
            server: server.pid(),
            database: database == "PostgreSQL",
        },
        db: None,
    });
    let plain = plain_page(&clients, load, probe.clone(), database, scale, report).await;
    measure(&clients, load, probe, database, scale, &plain, report).await;
    Ok(())
}

/// `kessai-bench search`: only the searches, on either database or both.
pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    let SearchArgs {
        run: args,
        database,
    } = args;
    let args = if args.smoke { args.smoke() } else { args };
    let sandbox = Sandbox::start("127.0.0.1:0".parse()?, Arc::new(SystemClock)).await?;
    let connections = args.db_connections();
    let load = args.load(args.concurrency);
    let mut report = Report {
        machine: crate::report::machine(),
        settings: format!(
            "release build, {} callers over {} HTTP/2 connections, {} s measured after {} s \
             warm-up per scenario, {} orders seeded ({} customers), \
             KESSAI_DATABASE_MAX_CONNECTIONS={connections}; × null: against the null \
             backend's page of 50",
            args.concurrency,
            RunArgs::connections(args.concurrency),
            args.duration,
            args.warmup,
            args.scale,
            Customers::of(args.scale).count,
        ),
        ..Report::default()
    };
    let exe = args.kessai_exe.as_deref();
    let null_rate = null_page(load, &mut report).await?;
    let env_for = |url: &str| kessai_env(connections, url, &sandbox);
    if matches!(database, Databases::Postgres | Databases::Both) {
        let pg = Postgres::new(&args.postgres.url)?;
        let name = "kessai_bench_search";
        let url = pg.fresh_database(name).await?;
        let scale = args.scale;
        let result = at_scale(
            &env_for(&url),
            exe,
            load,
            scale,
            "PostgreSQL",
            &mut report,
            {
                let url = url.clone();
                |template| async move {
                    eprintln!("PostgreSQL: seeding {scale} orders");
                    seed_orders(Dialect::Postgres, &url, &template, (1, scale), scale).await
                }
            },
        )
        .await;
        pg.drop_database(name).await;
        result?;
    }
    if matches!(database, Databases::Sqlite | Databases::Both) {
        sqlite_at_scale(env_for, exe, load, args.scale, &mut report).await?;
    }
    sandbox.stop().await;
    let markdown = report.markdown(null_rate);
    println!("{markdown}");
    if let Some(path) = &args.report {
        std::fs::write(path, &markdown)?;
    }
    let errors = report.errors();
    if errors > 0 || !report.empty_rows().is_empty() {
        anyhow::bail!(
            "{errors} calls failed; scenarios with no call: {:?}",
            report.empty_rows()
        );
    }
    Ok(())
}

/// The null backend's page of 50, the gRPC ceiling of every row.
async fn null_page(load: Load, report: &mut Report) -> anyhow::Result<f64> {
    let null = Server::start(Kind::Null, &HashMap::new()).await?;
    let clients = null.clients(RunArgs::connections(load.concurrency)).await?;
    let stats = drive(&clients, load, |client, _| async move {
        calls::list_page(client, String::new()).await.map(|_| ())
    })
    .await;
    report.row("ListOrders page of 50, null backend", &stats, None);
    Ok(stats.rate())
}
