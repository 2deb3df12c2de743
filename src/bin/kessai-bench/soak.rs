//! `kessai-bench soak`: half an hour of a shop's traffic against kessai on
//! PostgreSQL (or SQLite) while the provider simulators now and then answer
//! slowly, too late or with a 5xx, and hundreds of WatchOrderEvents streams
//! sit open. Every interval: kessai's memory, descriptors, calls and
//! latencies. Then "flat" as numbers (the last third against the middle
//! third) and the books against the simulators' ledgers, with the audit
//! `chaos` uses.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use kessai::clock::SystemClock;
use kessai::sandbox::Sandbox;
use kessai::sandbox::faults::{FaultKind, RandomFaults};
use tokio_util::sync::CancellationToken;

use crate::chaos::report::{audit_checks, load_average, with_first};
use crate::chaos::{RunArgs, audit, chaos_env, seed, set_faults};
use crate::postgres::Postgres;
use crate::report::Check;
use crate::server::{Kind, Server};

mod callers;
mod report;
mod samples;
mod watchers;

use samples::{Counts, Interval, Sample};
use watchers::Watchers;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Database {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// Seconds of traffic.
    #[arg(long, default_value_t = 1_800)]
    duration: u64,
    #[arg(long, value_enum, default_value_t = Database::Postgres)]
    database: Database,
    /// Callers living through checkouts, 16 to an HTTP/2 connection.
    #[arg(long, default_value_t = 8)]
    callers: usize,
    /// Idle WatchOrderEvents streams, 100 to a connection of their own.
    #[arg(long, default_value_t = 500)]
    watchers: usize,
    /// Streams watching every order (the events the callers cause).
    #[arg(long, default_value_t = 4)]
    active_watchers: usize,
    /// The share of provider calls that meet a fault: 200 ms late, 1.5 s
    /// late (past kessai's 1 s timeout: the answer is lost), 500 or 503.
    #[arg(long, default_value_t = 0.05)]
    faults: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 60)]
    sample_every: u64,
    /// On a PostgreSQL running without autovacuum, the seconds between the
    /// `ANALYZE` passes the soak runs in its place (0: none, and the planner
    /// guesses without statistics as the soak's tables grow).
    #[arg(long, default_value_t = 60)]
    analyze_every: u64,
    #[command(flatten)]
    run: RunArgs,
    /// 60 s, a sample every 5 s, at most 20 idle watchers: proves the
    /// command works, also on a debug build.
    #[arg(long)]
    smoke: bool,
}

impl SoakArgs {
    fn settled(mut self) -> Self {
        if self.smoke {
            self.duration = 60;
            self.sample_every = 5;
            self.watchers = self.watchers.min(20);
        }
        self
    }
}

/// What a soak found.
pub struct Soak {
    pub database: &'static str,
    pub samples: Vec<Sample>,
    pub total: Counts,
    pub rss_start: f64,
    pub fds_start: u64,
    pub idle_ended: std::collections::BTreeMap<String, u64>,
    pub active_ended: std::collections::BTreeMap<String, u64>,
    pub audit: audit::Audit,
    pub log: PathBuf,
    /// `ANALYZE` passes run in autovacuum's place, if it is off.
    pub analyzed: Option<u32>,
}

pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    let args = args.settled();
    let load_before = load_average();
    let run_id = ulid::Ulid::new().to_string().to_lowercase();
    let pg = Postgres::new(&args.run.postgres.url)?;
    let (database, url, scratch) = match args.database {
        Database::Postgres => {
            let url = pg.fresh_database("kessai_bench_soak").await?;
            ("PostgreSQL", url, None)
        }
        Database::Sqlite => {
            let dir = std::env::temp_dir().join("kessai-bench");
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(format!("{run_id}-soak.sqlite"));
            ("SQLite", format!("sqlite://{}", path.display()), Some(path))
        }
    };
    let soak = soak(&args, database, &url, &run_id).await?;
    let checks = checks(&args, &soak);
    let mut notes = args.run.notes(&load_before);
    if let Some(passes) = soak.analyzed {
        notes.push(format!(
            "autovacuum is off on this PostgreSQL: the soak ran ANALYZE in its place, \
             {passes} times, every {} s",
            args.analyze_every
        ));
    }
    let markdown = report::markdown(&settings(&args), &soak, &checks, &notes);
    let broken: Vec<String> = checks
        .iter()
        .filter(|c| !c.met)
        .map(|c| format!("{} ({})", c.target, c.measured))
        .collect();
    args.run.conclude(&markdown, broken)?;
    match scratch {
        Some(path) => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        None => pg.drop_database("kessai_bench_soak").await,
    }
    Ok(())
}

fn settings(args: &SoakArgs) -> String {
    format!(
        "{} build, {} s of traffic sampled every {} s, {} callers over {} HTTP/2 connection(s), \
         {} idle WatchOrderEvents streams and {} on every order over {} more, \
         KESSAI_DATABASE_MAX_CONNECTIONS={}, provider timeout 1 s, 1 attempt, in-flight lease 2 s, \
         reconciler every 1 s; simulators in the harness's process, 5 ms latency, {:.0} % of \
         provider calls answered 200 ms late, 1.5 s late (lost), 500 or 503{}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        args.duration,
        args.sample_every,
        args.callers,
        args.callers.div_ceil(16),
        args.watchers,
        args.active_watchers,
        watcher_connections(args),
        args.run.db_connections(),
        args.faults * 100.0,
        if args.smoke { " (smoke run)" } else { "" }
    )
}

/// 100 streams to a connection, under kessai's 256 a connection.
fn watcher_connections(args: &SoakArgs) -> usize {
    (args.watchers + args.active_watchers).div_ceil(100)
}

fn faults(rate: f64) -> RandomFaults {
    let status = |status| FaultKind::Status {
        status,
        body: serde_json::json!({ "error": { "message": "simulated outage" } }),
    };
    RandomFaults {
        rate,
        kinds: vec![
            FaultKind::DelayAfterActing { ms: 200 },
            FaultKind::DelayAfterActing { ms: 1_500 },
            status(500),
            status(503),
        ],
        method: None,
    }
}

async fn soak(
    args: &SoakArgs,
    database: &'static str,
    database_url: &str,
    run_id: &str,
) -> anyhow::Result<Soak> {
    let sandbox = Sandbox::start("127.0.0.1:0".parse()?, Arc::new(SystemClock)).await?;
    let mut env = chaos_env(args.run.db_connections(), database_url, &sandbox);
    crate::server::allow_streams(&mut env, args.watchers + args.active_watchers);
    let server = Server::start(Kind::Kessai, &env).await?;
    let clients = server.clients(args.callers.div_ceil(16)).await?;
    let watching = server.clients(watcher_connections(args)).await?;
    // Orders nobody touches: what the idle watchers watch.
    let quiet = seed(&clients[0], &format!("{run_id}-quiet")).await?;
    let quiet = (0..args.watchers)
        .map(|n| quiet[n % quiet.len()].clone())
        .collect();
    let interval = Arc::new(Interval::default());
    let watchers = Arc::new(Watchers::default());
    let stop = CancellationToken::new();
    let watch = tokio::spawn({
        let (interval, watchers, stop) = (interval.clone(), watchers.clone(), stop.clone());
        let active = args.active_watchers;
        async move { watchers::watch(&watching, quiet, active, interval, watchers, stop).await }
    });
    eprintln!("{database}: opening {} idle watchers", args.watchers);
    let opening = std::time::Instant::now();
    while (watchers
        .idle_open
        .load(std::sync::atomic::Ordering::Relaxed) as usize)
        < args.watchers
    {
        anyhow::ensure!(!watch.is_finished(), "the watchers stopped");
        // A refused stream is opened again and again: better to say so
        // than to wait forever.
        anyhow::ensure!(
            opening.elapsed() < Duration::from_secs(120),
            "the idle watchers were not all open after 120 s; refused: {:?}",
            watchers.ended(true)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let analyzer = analyzer(args, database_url).await?.map(|period| {
        let url = database_url.to_owned();
        tokio::spawn(crate::postgres::analyze_every(url, period, stop.clone()))
    });
    let rss_start = server.rss_mib().unwrap_or(f64::NAN);
    let fds_start = samples::open_fds(server.pid()).unwrap_or(0);

    eprintln!("{database}: {} s of traffic", args.duration);
    set_faults(
        &sandbox,
        Some(&faults(args.faults)),
        Duration::from_millis(5),
    );
    let duration = Duration::from_secs(args.duration);
    let every = Duration::from_secs(args.sample_every);
    let prefix = format!("{run_id}-soak");
    let ((), samples) = tokio::join!(
        callers::shop(&clients, args.callers, duration, &interval, &prefix),
        samples::sample(
            server.pid(),
            every,
            duration,
            &interval,
            &watchers.idle_open
        ),
    );
    // The checkouts under way at the last sample, finished since.
    let mut total = interval.take();
    set_faults(&sandbox, None, Duration::ZERO);

    eprintln!("{database}: settling");
    let audit = audit::audit(
        &clients[0],
        &sandbox,
        &server,
        (args.database == Database::Postgres).then_some(database_url),
        args.run.settle_within(),
    )
    .await?;
    stop.cancel();
    watch.await?;
    let analyzed = match analyzer {
        Some(task) => Some(task.await??),
        None => None,
    };
    for sample in &samples {
        total.merge(&sample.counts);
    }
    let log = server.log.clone();
    drop(server);
    sandbox.stop().await;
    Ok(Soak {
        database,
        samples,
        total,
        rss_start,
        fds_start,
        idle_ended: watchers.ended(true),
        active_ended: watchers.ended(false),
        audit,
        log,
        analyzed,
    })
}

/// How often to stand in for autovacuum's `ANALYZE`, when the server runs
/// without it; a run without statistics measures the planner's guesses.
async fn analyzer(args: &SoakArgs, database_url: &str) -> anyhow::Result<Option<Duration>> {
    if args.database != Database::Postgres || crate::postgres::autovacuum_on(database_url).await? {
        return Ok(None);
    }
    if args.analyze_every == 0 {
        eprintln!(
            "warning: autovacuum is off on this PostgreSQL and --analyze-every 0: \
             nothing analyzes the soak's tables, and reads slow as they grow"
        );
        return Ok(None);
    }
    eprintln!(
        "autovacuum is off on this PostgreSQL: running ANALYZE every {} s in its place",
        args.analyze_every
    );
    Ok(Some(Duration::from_secs(args.analyze_every)))
}

fn checks(args: &SoakArgs, soak: &Soak) -> Vec<Check> {
    let internal: u64 = soak
        .total
        .errors()
        .filter(|(answer, _)| answer.starts_with("Internal") || answer.starts_with("Unknown"))
        .map(|(_, n)| n)
        .sum();
    let first_internal = soak
        .total
        .errors()
        .find(|(answer, _)| answer.starts_with("Internal") || answer.starts_with("Unknown"))
        .map(|(answer, _)| answer.clone());
    let silent = soak
        .samples
        .iter()
        .filter(|s| s.counts.calls() == 0)
        .count();
    let idle_ended: u64 = soak.idle_ended.values().sum();
    let first_end = soak.idle_ended.keys().next().cloned();
    let checks = [
        (
            "calls answered in every sample".to_owned(),
            format!(
                "{} calls, {silent} of {} samples without one",
                soak.total.calls(),
                soak.samples.len()
            ),
            silent == 0 && !soak.samples.is_empty(),
        ),
        (
            "no INTERNAL or UNKNOWN answer".to_owned(),
            with_first(internal, first_internal.as_ref()),
            internal == 0,
        ),
        (
            format!(
                "every idle watcher's stream open to the end ({})",
                args.watchers
            ),
            format!("{} ended early", with_first(idle_ended, first_end.as_ref())),
            idle_ended == 0,
        ),
        (
            "the active watchers received the callers' events".to_owned(),
            format!("{} events", soak.total.events),
            args.active_watchers == 0 || soak.total.events > 0,
        ),
    ];
    checks
        .into_iter()
        .map(Check::from)
        .chain(samples::flat_checks(&soak.samples))
        .chain(audit_checks(&soak.audit, args.run.settle_within()))
        .chain(log_checks(soak))
        .collect()
}

/// A provider's failure is told on the call's access line (INFO), so
/// nothing at all may be logged at ERROR: that is kessai's own fault.
fn log_checks(soak: &Soak) -> [Check; 1] {
    let log = &soak.audit.log;
    [Check {
        target: "no ERROR (or unstructured) line in kessai's log".into(),
        measured: with_first(
            log.errors,
            log.first_errors.first().filter(|_| log.errors > 0),
        ),
        met: log.errors == 0,
    }]
}
