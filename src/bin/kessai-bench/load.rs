//! N concurrent callers for T seconds over real gRPC, each latency kept
//! (microseconds; a few hundred thousand numbers at most), percentiles
//! read from the sorted list.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use tonic::transport::Channel;

use crate::cpu::{CpuPerCall, CpuProbe};
use crate::statements::{DbPerCall, DbProbe};

pub type Client = PaymentServiceClient<Channel>;

/// How long and how hard to drive a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub concurrency: usize,
    /// Calls before this are not measured (connections, caches, pools).
    pub warmup: Duration,
    pub duration: Duration,
    /// A caller's pause between two calls, outside the measured latency: a
    /// service that reads now and then rather than as fast as it can.
    pub pause: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub ops: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub window: Duration,
    /// The CPU each answered call cost, when a probe was given.
    pub cpu: Option<CpuPerCall>,
    /// The database statements and commits each answered call cost, when
    /// the probe reads them.
    pub db: Option<DbPerCall>,
    /// Sorted, microseconds.
    latencies: Vec<u32>,
}

impl Stats {
    pub fn rate(&self) -> f64 {
        if self.window.is_zero() {
            return 0.0;
        }
        self.ops as f64 / self.window.as_secs_f64()
    }

    /// The latency at quantile `q` (0.5, 0.99, 0.999), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((self.latencies.len() as f64) * q).ceil() as usize;
        let index = rank.clamp(1, self.latencies.len()) - 1;
        f64::from(self.latencies[index]) / 1000.0
    }

    pub fn p50(&self) -> f64 {
        self.quantile_ms(0.5)
    }

    pub fn p99(&self) -> f64 {
        self.quantile_ms(0.99)
    }

    pub fn p999(&self) -> f64 {
        self.quantile_ms(0.999)
    }
}

#[derive(Default)]
struct Worker {
    ops: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Vec<u32>,
}

/// Runs `op` from `load.concurrency` callers spread over `clients` until
/// the warm-up and the measured window have passed. `op` gets a client and
/// a number unique in the whole run (for idempotency keys and ids).
pub async fn drive<F, Fut>(clients: &[Client], load: Load, op: F) -> Stats
where
    F: Fn(Client, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    drive_counted(clients, load, None, op).await
}

/// What to read at a measured window's start and end.
#[derive(Debug, Clone)]
pub struct Probe {
    pub cpu: CpuProbe,
    pub db: Option<DbProbe>,
}

/// [`drive`], also reading what `probe` names at the measured window's
/// start and end.
pub async fn drive_counted<F, Fut>(
    clients: &[Client],
    load: Load,
    probe: Option<Probe>,
    op: F,
) -> Stats
where
    F: Fn(Client, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let sequence = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + load.warmup;
    let measure_until = measure_from + load.duration;
    let probed = probe.map(|Probe { cpu, db }| {
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            let (before, db_before) = tokio::join!(
                tokio::task::spawn_blocking(move || cpu.read()),
                read_db(db.as_ref())
            );
            tokio::time::sleep_until(measure_until.into()).await;
            let (after, db_after) = tokio::join!(
                tokio::task::spawn_blocking(move || cpu.read()),
                read_db(db.as_ref())
            );
            (before.ok().zip(after.ok()), db_before.zip(db_after))
        })
    });
    let mut tasks = Vec::with_capacity(load.concurrency);
    for worker in 0..load.concurrency {
        let client = clients[worker % clients.len()].clone();
        let op = op.clone();
        let sequence = sequence.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let mut mine = Worker::default();
            loop {
                let began = Instant::now();
                if began >= measure_until {
                    break;
                }
                let n = sequence.fetch_add(1, Ordering::Relaxed);
                let result = op(client.clone(), n).await;
                if began < measure_from {
                    continue;
                }
                match result {
                    Ok(()) => {
                        mine.ops += 1;
                        let micros = began.elapsed().as_micros();
                        mine.latencies
                            .push(u32::try_from(micros).unwrap_or(u32::MAX));
                    }
                    Err(error) => {
                        mine.errors += 1;
                        mine.first_error.get_or_insert(error);
                    }
                }
                if !load.pause.is_zero() {
                    tokio::time::sleep(load.pause).await;
                }
            }
            mine
        }));
    }
    let mut stats = Stats {
        window: load.duration,
        ..Stats::default()
    };
    for task in tasks {
        let Ok(worker) = task.await else {
            stats.errors += 1;
            continue;
        };
        stats.ops += worker.ops;
        stats.errors += worker.errors;
        if stats.first_error.is_none() {
            stats.first_error = worker.first_error;
        }
        stats.latencies.extend(worker.latencies);
    }
    stats.latencies.sort_unstable();
    if let Some(probed) = probed
        && let Ok((cpu, db)) = probed.await
    {
        if let Some((before, after)) = cpu {
            stats.cpu = before.per_call(&after, stats.ops);
        }
        if let Some((before, after)) = db {
            stats.db = before.per_call(&after, stats.ops);
        }
    }
    stats
}

async fn read_db(probe: Option<&DbProbe>) -> Option<crate::statements::DbCounts> {
    Some(probe?.read().await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_sorted_latencies() {
        let stats = Stats {
            ops: 1000,
            window: Duration::from_secs(2),
            latencies: (1..=1000).map(|n| n * 1000).collect(),
            ..Stats::default()
        };
        assert_eq!(stats.rate(), 500.0);
        assert_eq!(stats.p50(), 500.0);
        assert_eq!(stats.p99(), 990.0);
        assert_eq!(stats.p999(), 999.0);
    }
}
