//! `kessai-bench`: kessai over real gRPC under load, beside the ceilings
//! that bound it, measured in the same run: the null backend (the same
//! tonic stack answering a canned order) for the gRPC path and `pgbench`
//! for the database path. See BENCHMARKS.md.

mod ab;
mod books;
mod calls;
mod chaos;
mod cpu;
mod load;
mod postgres;
mod report;
mod search;
mod seed;
mod server;
mod soak;
mod statements;
mod targets;
mod watchers;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use futures::StreamExt;
use kessai::clock::SystemClock;
use kessai::sandbox::Sandbox;
use kessai::telemetry::LogTo;
use tokio_util::sync::CancellationToken;

use crate::load::{Client, Load, Probe, Stats, drive};
use crate::postgres::{Postgres, seeded_order_id};
use crate::report::Report;
use crate::seed::{Dialect, seed_orders};
use crate::server::{Kind, Server, kessai_env};
use crate::targets::{Judged, judge};

#[derive(Debug, Parser)]
#[command(
    name = "kessai-bench",
    about = "Benchmarks kessai against its ceilings"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve kessai from KESSAI_* settings (as `kessai serve`); the harness
    /// runs itself this way.
    #[command(hide = true)]
    Serve,
    /// Serve the null backend on KESSAI_LISTEN_ADDR.
    #[command(hide = true)]
    ServeNull,
    /// Callers that give up on every RPC while the providers answer late,
    /// then kessai's books against the providers'.
    Chaos(chaos::ChaosArgs),
    /// GetOrder, kessai's CPU and the database's commits with and without
    /// many idle WatchOrderEvents streams open.
    Watchers(watchers::WatchersArgs),
    /// What one request to the PAY.JP simulator costs as its books grow.
    Books(books::BooksArgs),
    /// Half an hour of a shop's traffic with provider faults and idle
    /// watchers: memory, descriptors and p99 stay flat, the books balance.
    Soak(soak::SoakArgs),
    /// Only ListOrders' customer and free-text searches over `--scale`
    /// seeded orders, against the plain first page.
    Search(search::SearchArgs),
    /// Two builds, one scenario, measured in alternating windows.
    Ab(ab::AbArgs),
}

#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// Concurrent callers.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds measured per scenario.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of warm-up before each measured window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    #[command(flatten)]
    postgres: postgres::PostgresArg,
    /// Orders for the scale figures (GetOrder p99 with this many orders
    /// against 10,000; ListOrders deep pages; searches, on both databases).
    #[arg(long, default_value_t = 1_000_000)]
    scale: u64,
    /// Concurrent Authorize callers while the provider answers slowly.
    #[arg(long, default_value_t = 1_000)]
    in_flight: usize,
    /// The provider's answer time for the latency-hiding figure, ms.
    #[arg(long, default_value_t = 200)]
    provider_latency_ms: u64,
    /// How deep the deep ListOrders page is (pages of 50).
    #[arg(long, default_value_t = 1_000)]
    deep_page: usize,
    /// kessai's database pool (KESSAI_DATABASE_MAX_CONNECTIONS); default
    /// kessai's own default.
    #[arg(long)]
    db_connections: Option<u32>,
    /// A short run that proves the harness works (CI): small sizes, no
    /// targets judged, fails on any failed call.
    #[arg(long)]
    smoke: bool,
    /// Also write the report (markdown) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Serve kessai with this build of `kessai-bench` instead of this one
    /// (an earlier commit's, to measure both with the same harness).
    #[arg(long)]
    kessai_exe: Option<PathBuf>,
}

impl RunArgs {
    /// A kessai server on `env`, from `--kessai-exe` when given.
    async fn kessai(&self, env: &HashMap<String, String>) -> anyhow::Result<Server> {
        match &self.kessai_exe {
            Some(exe) => Server::start_exe(exe, Kind::Kessai, env).await,
            None => Server::start(Kind::Kessai, env).await,
        }
    }

    fn smoke(mut self) -> Self {
        self.concurrency = self.concurrency.min(8);
        self.duration = 1;
        self.warmup = 0.2;
        self.scale = self.scale.min(20_000);
        self.in_flight = self.in_flight.min(100);
        self.provider_latency_ms = self.provider_latency_ms.min(50);
        self.deep_page = self.deep_page.min(20);
        self
    }

    fn load(&self, concurrency: usize) -> Load {
        Load {
            concurrency,
            warmup: Duration::from_secs_f64(self.warmup),
            duration: Duration::from_secs(self.duration),
            pause: Duration::ZERO,
        }
    }

    fn db_connections(&self) -> u32 {
        self.db_connections
            .unwrap_or_else(server::default_db_connections)
    }

    /// Callers share HTTP/2 connections, 16 to a connection, as a caller's
    /// pool of channels would.
    fn connections(concurrency: usize) -> usize {
        concurrency.div_ceil(16).clamp(1, 64)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Some(Command::Serve) => runtime.block_on(serve()),
        Some(Command::ServeNull) => runtime.block_on(serve_null()),
        Some(Command::Chaos(args)) => runtime.block_on(chaos::run(args)),
        Some(Command::Watchers(args)) => runtime.block_on(watchers::run(args)),
        Some(Command::Soak(args)) => runtime.block_on(soak::run(args)),
        Some(Command::Search(args)) => runtime.block_on(search::run(args)),
        Some(Command::Books(args)) => runtime.block_on(books::run(args)),
        Some(Command::Ab(args)) => runtime.block_on(ab::run(args)),
        None => {
            let smoke = cli.run.smoke;
            let args = if smoke { cli.run.smoke() } else { cli.run };
            let report = runtime.block_on(run(&args))?;
            let errors = report.errors();
            let empty = report.empty_rows();
            if errors > 0 || !empty.is_empty() {
                anyhow::bail!("{errors} calls failed; scenarios with no call: {empty:?}");
            }
            Ok(())
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    kessai::telemetry::init_from_env(LogTo::Stdout);
    let config = kessai::config::Config::from_env()?;
    let app = kessai::startup::Application::build(config, Arc::new(SystemClock)).await?;
    app.run_until_stopped(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

async fn serve_null() -> anyhow::Result<()> {
    kessai::telemetry::init_from_env(LogTo::Stdout);
    let addr = std::env::var("KESSAI_LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        }
    });
    kessai::grpc::null_backend::serve(listener, stop).await
}

/// Makes `n` orders through the API; their ids.
async fn authorize_many(clients: &[Client], n: usize, prefix: &str) -> anyhow::Result<Vec<String>> {
    seed(clients, n, prefix, calls::authorize).await
}

/// `n` orders authorized, captured and partly refunded.
async fn flow_many(clients: &[Client], n: usize, prefix: &str) -> anyhow::Result<()> {
    seed(clients, n, prefix, calls::flow).await.map(drop)
}

/// `call` made `n` times, 64 at a time over `clients`, each with the key
/// `{prefix}-{i}`; every answer, or the first failure.
async fn seed<T, F, Fut>(
    clients: &[Client],
    n: usize,
    prefix: &str,
    call: F,
) -> anyhow::Result<Vec<T>>
where
    F: Fn(Client, String) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let results: Vec<Result<T, String>> = futures::stream::iter(0..n)
        .map(|i| call(clients[i % clients.len()].clone(), format!("{prefix}-{i}")))
        .buffer_unordered(64)
        .collect()
        .await;
    results
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("seeding orders: {e}"))
}

/// A number spread over 0..n from a call's sequence number (splitmix64),
/// so that callers ask for ids all over the table.
fn spread(sequence: u64, n: u64) -> u64 {
    let mut z = sequence.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % n.max(1)
}

/// The scenarios every database runs: GetOrder on hot ids, Authorize, the
/// full flow, ListOrders' first page.
struct PerDatabase {
    get: Stats,
    authorize: Stats,
    flow: Stats,
    list: Stats,
    idle_rss: f64,
}

/// A scenario every database runs (`per_database`; `kessai-bench ab`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Authorize,
    Flow,
    List,
    Get,
}

/// One window of `scenario`: Authorize and the flow with idempotency keys
/// `{prefix}-{n}`, GetOrder on ids spread over `hot`, the first page of
/// ListOrders.
async fn drive_scenario(
    scenario: Scenario,
    clients: &[Client],
    load: Load,
    probe: Option<Probe>,
    prefix: String,
    hot: Arc<Vec<String>>,
) -> Stats {
    match scenario {
        Scenario::Authorize => {
            load::drive_counted(clients, load, probe, move |client, n| {
                let key = format!("{prefix}-{n}");
                async move { calls::authorize(client, key).await.map(|_| ()) }
            })
            .await
        }
        Scenario::Flow => {
            load::drive_counted(clients, load, probe, move |client, n| {
                calls::flow(client, format!("{prefix}-{n}"))
            })
            .await
        }
        Scenario::List => {
            load::drive_counted(clients, load, probe, |client, _| async move {
                calls::list_page(client, String::new()).await.map(|_| ())
            })
            .await
        }
        Scenario::Get => {
            load::drive_counted(clients, load, probe, move |client, n| {
                let id = hot[spread(n, hot.len() as u64) as usize].clone();
                calls::get_order(client, id)
            })
            .await
        }
    }
}

/// What to read around each window of `server`: its CPU, the local
/// PostgreSQL's when `postgres` names kessai's database there, and the
/// statements and commits.
fn probe_of(server: &Server, postgres: Option<&statements::PgStats>) -> Probe {
    Probe {
        cpu: cpu::CpuProbe {
            server: server.pid(),
            database: postgres.is_some(),
        },
        db: Some(statements::DbProbe {
            metrics: server.metrics_addr,
            postgres: postgres.cloned(),
        }),
    }
}

async fn per_database(
    args: &RunArgs,
    report: &mut Report,
    name: &str,
    server: &Server,
    postgres: Option<&statements::PgStats>,
    run_id: &str,
) -> anyhow::Result<PerDatabase> {
    let idle_rss = server.rss_mib().unwrap_or(f64::NAN);
    let load = args.load(args.concurrency);
    let clients = server
        .clients(RunArgs::connections(args.concurrency))
        .await?;
    let hot = Arc::new(authorize_many(&clients, 1_000, &format!("{run_id}-{name}-seed")).await?);
    // SQLite runs inside kessai; PostgreSQL is a server of its own here.
    let probe = Some(probe_of(server, postgres));

    eprintln!("{name}: GetOrder");
    let sampler = server.sample_rss();
    let get = drive_scenario(
        Scenario::Get,
        &clients,
        load,
        probe.clone(),
        String::new(),
        hot,
    )
    .await;
    report.row(format!("GetOrder, {name}"), &get, Some(sampler.max_mib()));

    eprintln!("{name}: Authorize");
    let sampler = server.sample_rss();
    let prefix = format!("{run_id}-{name}-auth");
    let authorize = drive_scenario(
        Scenario::Authorize,
        &clients,
        load,
        probe.clone(),
        prefix,
        Arc::default(),
    )
    .await;
    report.row(
        format!("Authorize, {name}"),
        &authorize,
        Some(sampler.max_mib()),
    );

    eprintln!("{name}: Authorize → Capture → Refund");
    let sampler = server.sample_rss();
    let prefix = format!("{run_id}-{name}-flow");
    let flow = drive_scenario(
        Scenario::Flow,
        &clients,
        load,
        probe.clone(),
        prefix,
        Arc::default(),
    )
    .await;
    report.row(
        format!("flow Authorize → Capture → Refund (flows/s), {name}"),
        &flow,
        Some(sampler.max_mib()),
    );

    eprintln!("{name}: ListOrders");
    let list = drive_scenario(
        Scenario::List,
        &clients,
        load,
        probe,
        String::new(),
        Arc::default(),
    )
    .await;
    report.row(format!("ListOrders first page of 50, {name}"), &list, None);
    Ok(PerDatabase {
        get,
        authorize,
        flow,
        list,
        idle_rss,
    })
}

async fn run(args: &RunArgs) -> anyhow::Result<Report> {
    let run_id = ulid::Ulid::new().to_string().to_lowercase();
    let mut report = Report {
        machine: report::machine(),
        settings: format!(
            "release build, {} callers over {} HTTP/2 connections, {} s measured after {} s warm-up per scenario, provider simulators in the harness's process at 0 ms, KESSAI_DATABASE_MAX_CONNECTIONS={}{}",
            args.concurrency,
            RunArgs::connections(args.concurrency),
            args.duration,
            args.warmup,
            args.db_connections(),
            if args.smoke { " (smoke run)" } else { "" }
        ),
        ..Report::default()
    };
    let sandbox = Sandbox::start("127.0.0.1:0".parse()?, Arc::new(SystemClock)).await?;
    let pg = Postgres::new(&args.postgres.url)?;
    let load = args.load(args.concurrency);

    // The database ceiling: pgbench on the same server, now.
    eprintln!("pgbench");
    let pgbench_db = "kessai_bench_pgbench";
    pg.pgbench_init(pgbench_db, if args.smoke { 1 } else { 10 })
        .await?;
    let pgbench_duration = Duration::from_secs(args.duration.max(1));
    let tps_s = pg.pgbench(pgbench_db, "-S", args.concurrency, pgbench_duration)?;
    let tps_n = pg.pgbench(pgbench_db, "-N", args.concurrency, pgbench_duration)?;
    pg.drop_database(pgbench_db).await;
    report.ceilings.push((
        format!("`pgbench -S -c {} -j 2` (reads)", args.concurrency),
        format!("{tps_s:.0} TPS"),
    ));
    report.ceilings.push((
        format!("`pgbench -N -c {} -j 2` (writes)", args.concurrency),
        format!("{tps_n:.0} TPS"),
    ));
    eprintln!("  pgbench -S {tps_s:.0} TPS, -N {tps_n:.0} TPS");

    // The gRPC ceiling: the null backend.
    eprintln!("null backend");
    let null = Server::start(Kind::Null, &HashMap::new()).await?;
    let clients = null.clients(RunArgs::connections(args.concurrency)).await?;
    let canned = kessai::grpc::null_backend::canned_order().id;
    let null_probe = Some(Probe {
        cpu: cpu::CpuProbe {
            server: null.pid(),
            database: false,
        },
        db: None,
    });
    let null_get = load::drive_counted(&clients, load, null_probe, move |client, _| {
        calls::get_order(client, canned.clone())
    })
    .await;
    report.row("GetOrder, null backend", &null_get, None);
    let null_list = drive(&clients, load, |client, _| async move {
        calls::list_page(client, String::new()).await.map(|_| ())
    })
    .await;
    report.row("ListOrders page of 50, null backend", &null_list, None);
    report.ceilings.push((
        "null backend GetOrder".into(),
        format!(
            "{:.0} calls/s, p99 {:.2} ms",
            null_get.rate(),
            null_get.p99()
        ),
    ));
    drop(clients);
    drop(null);

    // SQLite.
    let dir = std::env::temp_dir().join("kessai-bench");
    std::fs::create_dir_all(&dir)?;
    let sqlite_path = dir.join(format!("{run_id}.sqlite"));
    let sqlite_url = format!("sqlite://{}", sqlite_path.display());
    let sqlite_env = kessai_env(args.db_connections(), &sqlite_url, &sandbox);
    let sqlite = args.kessai(&sqlite_env).await?;
    let on_sqlite = per_database(args, &mut report, "SQLite", &sqlite, None, &run_id).await?;
    drop(sqlite);

    // Start-up on the SQLite database just used.
    let mut startups = Vec::new();
    for _ in 0..if args.smoke { 2 } else { 5 } {
        let server = args.kessai(&sqlite_env).await?;
        startups.push(server.ready_after);
    }
    let slowest_start = startups.iter().max().copied().unwrap_or_default();

    // PostgreSQL.
    let pg_url = pg.fresh_database("kessai_bench").await?;
    let postgres = args
        .kessai(&kessai_env(args.db_connections(), &pg_url, &sandbox))
        .await?;
    let pg_stats = statements::PgStats::new(&args.postgres.url, "kessai_bench").await;
    let on_pg = per_database(
        args,
        &mut report,
        "PostgreSQL",
        &postgres,
        Some(&pg_stats),
        &run_id,
    )
    .await?;

    // Latency hiding: a slow provider, many callers.
    eprintln!(
        "PostgreSQL: Authorize, provider at {} ms",
        args.provider_latency_ms
    );
    sandbox
        .payjp
        .faults()
        .set_latency(Duration::from_millis(args.provider_latency_ms));
    let clients = postgres
        .clients(RunArgs::connections(args.in_flight))
        .await?;
    let sampler = postgres.sample_rss();
    let prefix = format!("{run_id}-slow");
    let slow_probe = Some(probe_of(&postgres, Some(&pg_stats)));
    let slow = load::drive_counted(
        &clients,
        args.load(args.in_flight),
        slow_probe,
        move |client, n| {
            let key = format!("{prefix}-{n}");
            async move { calls::authorize(client, key).await.map(|_| ()) }
        },
    )
    .await;
    let in_flight_rss = sampler.max_mib();
    sandbox.payjp.faults().set_latency(Duration::ZERO);
    report.row(
        format!(
            "Authorize, PostgreSQL, provider at {} ms, {} callers",
            args.provider_latency_ms, args.in_flight
        ),
        &slow,
        Some(in_flight_rss),
    );
    drop(clients);
    drop(postgres);

    // Scale: GetOrder over 10,000 orders, then over `scale`; ListOrders deep.
    let scale_db = "kessai_bench_scale";
    let scale_url = pg.fresh_database(scale_db).await?;
    let server = args
        .kessai(&kessai_env(args.db_connections(), &scale_url, &sandbox))
        .await?;
    let clients = server
        .clients(RunArgs::connections(args.concurrency))
        .await?;
    let template = calls::authorize(clients[0].clone(), format!("{run_id}-template"))
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let small = 10_000.min(args.scale / 2).max(1);
    eprintln!("PostgreSQL: seeding {small} orders");
    seed_orders(
        Dialect::Postgres,
        &scale_url,
        &template,
        (1, small),
        args.scale,
    )
    .await?;
    let get_small = drive(&clients, load, move |client, n| {
        calls::get_order(client, seeded_order_id(1 + spread(n, small)))
    })
    .await;
    report.row(
        format!("GetOrder, PostgreSQL, random over {small} orders"),
        &get_small,
        None,
    );
    eprintln!("PostgreSQL: seeding up to {} orders", args.scale);
    seed_orders(
        Dialect::Postgres,
        &scale_url,
        &template,
        (small + 1, args.scale),
        args.scale,
    )
    .await?;
    let scale = args.scale;
    let get_large = drive(&clients, load, move |client, n| {
        calls::get_order(client, seeded_order_id(1 + spread(n, scale)))
    })
    .await;
    report.row(
        format!("GetOrder, PostgreSQL, random over {} orders", args.scale),
        &get_large,
        None,
    );
    let first_page = drive(&clients, load, |client, _| async move {
        calls::list_page(client, String::new()).await.map(|_| ())
    })
    .await;
    report.row(
        format!("ListOrders page 1, PostgreSQL, {} orders", args.scale),
        &first_page,
        None,
    );
    let mut token = String::new();
    for _ in 1..args.deep_page {
        token = calls::list_page(clients[0].clone(), token)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
    }
    let deep = Arc::new(token);
    let deep_page = drive(&clients, load, move |client, _| {
        let token = deep.as_ref().clone();
        async move { calls::list_page(client, token).await.map(|_| ()) }
    })
    .await;
    report.row(
        format!(
            "ListOrders page {}, PostgreSQL, {} orders",
            args.deep_page, args.scale
        ),
        &deep_page,
        None,
    );
    let scale_probe = Some(Probe {
        cpu: cpu::CpuProbe {
            server: server.pid(),
            database: true,
        },
        db: None,
    });
    search::measure(
        &clients,
        load,
        scale_probe,
        "PostgreSQL",
        args.scale,
        &first_page,
        &mut report,
    )
    .await;
    drop(clients);
    drop(server);
    pg.drop_database(scale_db).await;

    // The same searches on a SQLite file of as many orders.
    search::sqlite_at_scale(
        |url| kessai_env(args.db_connections(), url, &sandbox),
        args.kessai_exe.as_deref(),
        load,
        args.scale,
        &mut report,
    )
    .await?;
    pg.drop_database("kessai_bench").await;
    let _ = std::fs::remove_file(&sqlite_path);
    sandbox.stop().await;

    report
        .notes
        .push(statements::sources(pg_stats.statements_view));
    judge(
        args,
        &mut report,
        Judged {
            tps_s,
            tps_n,
            null_get: &null_get,
            null_list: &null_list,
            on_sqlite: &on_sqlite,
            on_pg: &on_pg,
            slow: &slow,
            in_flight_rss,
            get_small: &get_small,
            get_large: &get_large,
            first_page: &first_page,
            deep_page: &deep_page,
            slowest_start,
        },
    );
    let markdown = report.markdown(null_get.rate());
    println!("{markdown}");
    if let Some(path) = &args.report {
        std::fs::write(path, &markdown)?;
    }
    Ok(report)
}
