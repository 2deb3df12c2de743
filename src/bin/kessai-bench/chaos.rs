//! `kessai-bench chaos`: callers that give up on every RPC after a few
//! milliseconds, for minutes, while all three provider simulators act and
//! then answer late or lose the answer; beside them, callers that read and
//! must never fail. Then the books: every order settled or flagged for a
//! person, one charge per order at its provider, kessai's amounts equal to
//! the provider's (`chaos/audit.rs`). The long form of the cancellation
//! test in tests/it/cancel_safety.rs, against a release build.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use kessai::clock::SystemClock;
use kessai::proto::v1;
use kessai::sandbox::faults::{FaultKind, RandomFaults};
use kessai::sandbox::{
    PAYMENTOPTIONS_SANDBOX_API_KEY, PAYMENTOPTIONS_SANDBOX_MERCHANT_ID,
    SMARTPAY_SANDBOX_SECRET_KEY, Sandbox,
};

use crate::calls;
use crate::load::{Client, Load, Stats, drive};
use crate::postgres::{Postgres, stuck_in_transaction};
use crate::server::{Kind, Server};

pub mod audit;
pub mod callers;
pub mod report;

use callers::{Recent, storm};
use report::{Findings, Rss};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Databases {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, Clone, Args)]
pub struct ChaosArgs {
    /// Seconds of chaos per database.
    #[arg(long, default_value_t = 600)]
    duration: u64,
    /// Callers that give up on every call after 0.5–50 ms.
    #[arg(long, default_value_t = 16)]
    callers: usize,
    /// Callers that read (GetOrder, ListOrders) with no deadline on a
    /// connection of their own; every one of their calls must succeed.
    #[arg(long, default_value_t = 4)]
    healthy: usize,
    /// Which databases kessai runs on, one after the other.
    #[arg(long, value_enum, default_value_t = Databases::Both)]
    database: Databases,
    #[command(flatten)]
    run: RunArgs,
    /// 20 s of chaos per database and at most 8 cancelling callers: proves
    /// the command works, also on a debug build.
    #[arg(long)]
    smoke: bool,
}

impl ChaosArgs {
    fn chaos(&self) -> Duration {
        Duration::from_secs(if self.smoke { 20 } else { self.duration })
    }

    fn callers(&self) -> usize {
        if self.smoke {
            self.callers.min(8)
        } else {
            self.callers
        }
    }
}

/// What every run against the simulators takes.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub postgres: crate::postgres::PostgresArg,
    /// Seconds the orders may take to settle once the traffic stops.
    #[arg(long, default_value_t = 120)]
    pub settle_within: u64,
    /// kessai's database pool; default kessai's own.
    #[arg(long)]
    db_connections: Option<u32>,
    /// A line for the report's notes (say what else the machine ran).
    #[arg(long)]
    note: Vec<String>,
    /// Also write the report (markdown) here.
    #[arg(long)]
    report: Option<PathBuf>,
}

impl RunArgs {
    pub fn db_connections(&self) -> u32 {
        self.db_connections
            .unwrap_or_else(crate::server::default_db_connections)
    }

    pub fn settle_within(&self) -> Duration {
        Duration::from_secs(self.settle_within)
    }

    /// The notes, with how busy the machine was before and after.
    pub fn notes(&self, load_before: &str) -> Vec<String> {
        let mut notes = self.note.clone();
        notes.push(format!(
            "Load average (1, 5, 15 min) before the run: {load_before}; after it: {}.",
            report::load_average()
        ));
        notes
    }

    /// Prints the report and writes it where asked; fails naming the broken
    /// invariants.
    pub fn conclude(&self, markdown: &str, broken: Vec<String>) -> anyhow::Result<()> {
        println!("{markdown}");
        if let Some(path) = &self.report {
            std::fs::write(path, markdown)?;
        }
        if !broken.is_empty() {
            // The evidence stays: the database and kessai's log.
            anyhow::bail!("invariants broken:\n{}", broken.join("\n"));
        }
        Ok(())
    }
}

pub async fn run(args: ChaosArgs) -> anyhow::Result<()> {
    let run_id = ulid::Ulid::new().to_string().to_lowercase();
    let load_before = report::load_average();
    let mut all = Vec::new();
    let mut scratch = Vec::new();
    if args.database != Databases::Postgres {
        let dir = std::env::temp_dir().join("kessai-bench");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{run_id}-chaos.sqlite"));
        let url = format!("sqlite://{}", path.display());
        all.push(one_database(&args, "SQLite", &url, None, &run_id).await?);
        scratch.push(path);
    }
    let pg = Postgres::new(&args.run.postgres.url)?;
    if args.database != Databases::Sqlite {
        let url = pg.fresh_database("kessai_bench_chaos").await?;
        all.push(one_database(&args, "PostgreSQL", &url, Some(&url), &run_id).await?);
    }
    let settings = format!(
        "{} build, {} s of chaos per database, {} cancelling callers over {} HTTP/2 connection(s), \
         {} healthy readers on one more, KESSAI_DATABASE_MAX_CONNECTIONS={}, provider timeout 1 s, \
         1 attempt, in-flight lease 2 s, reconciler every 1 s; simulators in the harness's process, \
         2 ms latency, half the calls acting then answering after 20, 300 or 1,500 ms{}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        args.chaos().as_secs(),
        args.callers(),
        args.callers().div_ceil(16),
        args.healthy,
        args.run.db_connections(),
        if args.smoke { " (smoke run)" } else { "" }
    );
    let markdown = report::markdown(&settings, &all, &args.run.notes(&load_before));
    let broken: Vec<String> = all
        .iter()
        .flat_map(|f| {
            f.checks()
                .into_iter()
                .filter(|c| !c.met)
                .map(move |c| format!("{}: {} ({})", f.database, c.target, c.measured))
        })
        .collect();
    args.run.conclude(&markdown, broken)?;
    for path in scratch {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    pg.drop_database("kessai_bench_chaos").await;
    Ok(())
}

/// kessai with all three providers, tuned so that lost answers and
/// abandoned calls are resolved within seconds: one attempt with a 1 s
/// timeout (a 1.5 s late answer is lost), a 2 s lease on a call in flight,
/// the reconciler every second.
pub fn chaos_env(
    db_connections: u32,
    database_url: &str,
    sandbox: &Sandbox,
) -> HashMap<String, String> {
    let mut env = crate::server::kessai_env(db_connections, database_url, sandbox);
    let smartpay = [
        (
            "SMARTPAY_SECRET_KEY",
            SMARTPAY_SANDBOX_SECRET_KEY.to_owned(),
        ),
        ("SMARTPAY_BASE_URL", sandbox.smartpay_base_url()),
    ];
    let paymentoptions = [
        (
            "PAYMENTOPTIONS_API_KEY",
            PAYMENTOPTIONS_SANDBOX_API_KEY.to_owned(),
        ),
        (
            "PAYMENTOPTIONS_MERCHANT_ID",
            PAYMENTOPTIONS_SANDBOX_MERCHANT_ID.to_owned(),
        ),
        ("PAYMENTOPTIONS_BASE_URL", sandbox.paymentoptions_base_url()),
    ];
    let tuning = [
        ("PROVIDER_TIMEOUT_MS", 1_000),
        ("PROVIDER_MAX_ATTEMPTS", 1),
        ("IN_FLIGHT_LEASE_SECS", 2),
        ("RECONCILE_INTERVAL_SECS", 1),
    ]
    .map(|(name, value)| (name, value.to_string()));
    for (name, value) in smartpay.into_iter().chain(paymentoptions).chain(tuning) {
        env.insert(format!("KESSAI_{name}"), value);
    }
    env
}

/// Sets (or clears) the chaos on every simulator: a 2 ms latency, and half
/// the calls acting first and answering 20 ms, 300 ms or 1.5 s later (past
/// kessai's 1 s timeout: the answer is lost).
fn unsettle(sandbox: &Sandbox, on: bool) {
    let late = RandomFaults {
        rate: 0.5,
        kinds: [20, 300, 1_500]
            .map(|ms| FaultKind::DelayAfterActing { ms })
            .to_vec(),
        method: None,
    };
    set_faults(sandbox, on.then_some(&late), Duration::from_millis(2));
}

/// The same faults and latency on every simulator; none clears them all.
pub fn set_faults(sandbox: &Sandbox, random: Option<&RandomFaults>, latency: Duration) {
    for faults in [
        sandbox.payjp.faults(),
        sandbox.smartpay.faults(),
        sandbox.paymentoptions.faults(),
    ] {
        match random {
            Some(random) => {
                faults.set_random(Some(random.clone()));
                faults.set_latency(latency);
            }
            None => faults.clear(),
        }
    }
}

async fn one_database(
    args: &ChaosArgs,
    database: &str,
    database_url: &str,
    postgres_url: Option<&str>,
    run_id: &str,
) -> anyhow::Result<Findings> {
    // A simulator of its own per database: the audit reads its whole ledger.
    let sandbox = Sandbox::start("127.0.0.1:0".parse()?, Arc::new(SystemClock)).await?;
    let server = Server::start(
        Kind::Kessai,
        &chaos_env(args.run.db_connections(), database_url, &sandbox),
    )
    .await?;
    let cancelling = server.clients(args.callers().div_ceil(16)).await?;
    let reader = server.clients(1).await?;
    let recent = Arc::new(Recent::default());
    recent.add(seed(&reader[0], &format!("{run_id}-{database}-seed")).await?);
    let rss_start = server.rss_mib().unwrap_or(f64::NAN);

    eprintln!("{database}: {} s of chaos", args.chaos().as_secs());
    unsettle(&sandbox, true);
    let sampler = server.sample_rss();
    let calls = Arc::new(AtomicU64::new(0));
    let prefix = format!("{run_id}-{database}");
    let (tally, (healthy_get, healthy_list), stuck_during) = tokio::join!(
        storm(
            &cancelling,
            args.callers(),
            args.chaos(),
            recent.clone(),
            &prefix,
            calls.clone(),
        ),
        healthy_reads(&reader, args.healthy, args.chaos(), recent.clone()),
        look_in(database, args.chaos(), &calls, &server, postgres_url),
    );
    unsettle(&sandbox, false);

    eprintln!("{database}: settling");
    let audit = audit::audit(
        &reader[0],
        &sandbox,
        &server,
        postgres_url,
        args.run.settle_within(),
    )
    .await?;
    let rss = Rss {
        start: rss_start,
        max: sampler.max_mib(),
        end: server.rss_mib().unwrap_or(f64::NAN),
    };
    let log = server.log.clone();
    drop(server);
    sandbox.stop().await;
    let findings = Findings {
        database: database.to_owned(),
        chaos: args.chaos(),
        settle_within: args.run.settle_within(),
        tally,
        healthy_get,
        healthy_list,
        audit,
        rss,
        stuck_during,
        log,
    };
    for check in findings.checks() {
        let verdict = if check.met { "held" } else { "BROKEN" };
        eprintln!("  [{verdict}] {} — {}", check.target, check.measured);
    }
    Ok(findings)
}

/// Authorized orders at every provider (20,000 yen, manual capture), for
/// the first captures, refunds and voids.
pub async fn seed(client: &Client, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for n in 0..24 {
        let key = format!("{prefix}-{n}");
        let request = match n % 3 {
            0 => calls::authorize_request(key, 20_000),
            1 => calls::smartpay_request(key, 20_000),
            _ => calls::paymentoptions_request(key, 20_000, v1::CaptureMethod::Manual),
        };
        let order = client
            .clone()
            .authorize(request)
            .await
            .map_err(|s| anyhow::anyhow!("seeding: {}", calls::failed(s)))?
            .into_inner()
            .order
            .ok_or_else(|| anyhow::anyhow!("seeding: no order in the answer"))?;
        anyhow::ensure!(
            order.status() == v1::OrderStatus::Authorized,
            "seeding: {} authorized as {:?}",
            order.id,
            order.status()
        );
        ids.push(order.id);
    }
    Ok(ids)
}

/// Other services: GetOrder (half the readers) and ListOrders (the other
/// half), no deadline, a 20 ms pause between calls, on their own
/// connection.
async fn healthy_reads(
    clients: &[Client],
    readers: usize,
    duration: Duration,
    recent: Arc<Recent>,
) -> (Stats, Stats) {
    let load = |concurrency| Load {
        concurrency,
        warmup: Duration::ZERO,
        duration,
        pause: Duration::from_millis(20),
    };
    let gets = drive(clients, load(readers.div_ceil(2)), move |client, _| {
        calls::get_order(client, recent.pick())
    });
    let lists = drive(clients, load(readers / 2), |mut client, _| async move {
        let page = v1::ListOrdersRequest {
            page_size: 20,
            ..Default::default()
        };
        client
            .list_orders(page)
            .await
            .map(drop)
            .map_err(calls::failed)
    });
    tokio::join!(gets, lists)
}

/// Every 5 s of the chaos: on PostgreSQL, the connections stuck inside a
/// transaction (the most seen is reported); every 30 s, progress.
async fn look_in(
    database: &str,
    duration: Duration,
    calls: &AtomicU64,
    server: &Server,
    postgres_url: Option<&str>,
) -> Option<i64> {
    let began = Instant::now();
    let mut most = postgres_url.map(|_| 0);
    let mut looks = 0;
    while began.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(5).min(duration.saturating_sub(began.elapsed())))
            .await;
        looks += 1;
        if let (Some(url), Some(most)) = (postgres_url, most.as_mut()) {
            match stuck_in_transaction(url).await {
                Ok(stuck) => *most = (*most).max(stuck),
                Err(e) => eprintln!("  reading pg_stat_activity: {e}"),
            }
        }
        if looks % 6 == 0 {
            eprintln!(
                "  {database}: {:.0} s, {} calls of callers done, kessai RSS {:.1} MiB",
                began.elapsed().as_secs_f64(),
                calls.load(Ordering::Relaxed),
                server.rss_mib().unwrap_or(f64::NAN)
            );
        }
    }
    most
}
