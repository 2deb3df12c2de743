//! What the soak measures as it goes: every call's latency and answer,
//! gathered per interval, and at the end of each interval kessai's
//! resident memory and open descriptors. Then whether the last third of
//! the run stayed where the middle third was.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tonic::Status;
use tonic_types::StatusExt;

use crate::report::Check;
use crate::server::rss_mib;

/// The RPCs the soak's callers make, as the per-interval table names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Authorize,
    Capture,
    Refund,
    Void,
    GetOrderRefresh,
    GetOrder,
    ListOrders,
}

impl Op {
    pub const ALL: [Op; 7] = [
        Op::Authorize,
        Op::Capture,
        Op::Refund,
        Op::Void,
        Op::GetOrderRefresh,
        Op::GetOrder,
        Op::ListOrders,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Authorize => "Authorize",
            Op::Capture => "Capture",
            Op::Refund => "Refund",
            Op::Void => "Void",
            Op::GetOrderRefresh => "GetOrder refresh",
            Op::GetOrder => "GetOrder",
            Op::ListOrders => "ListOrders",
        }
    }
}

/// One interval's calls.
#[derive(Debug, Default)]
pub struct Counts {
    /// Microseconds, each call's (every attempt of a retried one).
    pub latencies: BTreeMap<Op, Vec<u32>>,
    /// Answers by code, with kessai's reason when it gave one ("OK" too).
    pub answers: BTreeMap<String, u64>,
    /// Events the active watchers received.
    pub events: u64,
}

impl Counts {
    pub fn calls(&self) -> u64 {
        self.latencies.values().map(|l| l.len() as u64).sum()
    }

    pub fn merge(&mut self, other: &Counts) {
        for (op, latencies) in &other.latencies {
            self.latencies
                .entry(*op)
                .or_default()
                .extend_from_slice(latencies);
        }
        for (answer, n) in &other.answers {
            *self.answers.entry(answer.clone()).or_default() += n;
        }
        self.events += other.events;
    }

    /// The latency at quantile `q` of the calls of `ops` (of every call
    /// when empty), in milliseconds.
    pub fn quantile_ms(&self, ops: &[Op], q: f64) -> f64 {
        let mut all: Vec<u32> = self
            .latencies
            .iter()
            .filter(|(op, _)| ops.is_empty() || ops.contains(op))
            .flat_map(|(_, latencies)| latencies.iter().copied())
            .collect();
        if all.is_empty() {
            return f64::NAN;
        }
        all.sort_unstable();
        let rank = ((all.len() as f64) * q).ceil() as usize;
        f64::from(all[rank.clamp(1, all.len()) - 1]) / 1000.0
    }

    /// Answers other than OK.
    pub fn errors(&self) -> impl Iterator<Item = (&String, &u64)> {
        self.answers.iter().filter(|(answer, _)| *answer != "OK")
    }
}

/// The interval being gathered, shared by every caller and watcher.
#[derive(Default)]
pub struct Interval(Mutex<Counts>);

impl Interval {
    pub fn record(&self, op: Op, latency: Duration, answer: String) {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let micros = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        counts.latencies.entry(op).or_default().push(micros);
        *counts.answers.entry(answer).or_default() += 1;
    }

    pub fn event(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).events += 1;
    }

    pub fn take(&self) -> Counts {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// "OK", or the code and kessai's reason, as the tables count answers.
pub fn answer<T>(result: &Result<T, Status>) -> String {
    match result {
        Ok(_) => "OK".into(),
        Err(status) => match status.get_details_error_info() {
            Some(info) => format!("{:?} {}", status.code(), info.reason),
            None => format!("{:?}", status.code()),
        },
    }
}

pub struct Sample {
    /// Since the traffic began.
    pub at: Duration,
    pub rss_mib: f64,
    pub fds: u64,
    /// Idle watchers' streams open at the sample.
    pub watching: i64,
    pub counts: Counts,
}

/// Descriptors the process holds open now.
pub fn open_fds(pid: u32) -> Option<u64> {
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(entries.count() as u64)
}

/// Closes an interval every `every` until `duration` has passed, with
/// kessai's memory and descriptors at its end; a line per interval on
/// stderr, as progress.
pub async fn sample(
    pid: u32,
    every: Duration,
    duration: Duration,
    interval: &Interval,
    watching: &AtomicI64,
) -> Vec<Sample> {
    let began = Instant::now();
    let mut samples = Vec::new();
    interval.take();
    for n in 1.. {
        let next = every * n;
        if next > duration {
            break;
        }
        tokio::time::sleep(next.saturating_sub(began.elapsed())).await;
        let sample = Sample {
            at: began.elapsed(),
            rss_mib: rss_mib(pid).unwrap_or(f64::NAN),
            fds: open_fds(pid).unwrap_or(0),
            watching: watching.load(Ordering::Relaxed),
            counts: interval.take(),
        };
        eprintln!(
            "  {:>5.0} s: {} calls (p50 {:.1} ms), reads' p99 {:.1} ms, RSS {:.1} MiB, {} descriptors, \
             {} watching, {} events",
            sample.at.as_secs_f64(),
            sample.counts.calls(),
            sample.counts.quantile_ms(&[], 0.5),
            sample
                .counts
                .quantile_ms(&[Op::GetOrder, Op::ListOrders], 0.99),
            sample.rss_mib,
            sample.fds,
            sample.watching,
            sample.counts.events,
        );
        samples.push(sample);
    }
    samples
}

/// The middle and the last third of the samples.
fn thirds(samples: &[Sample]) -> (&[Sample], &[Sample]) {
    let third = samples.len() / 3;
    let last = &samples[samples.len() - third..];
    let middle = &samples[third..samples.len() - third];
    (middle, last)
}

/// The tolerances of "flat": memory and descriptors in the last third at
/// most 1.25 × the middle third's plus a little (an allocator's arena, a
/// connection more); latency at most 1.5 × plus 2 ms (a quiet run's is a
/// few ms, where scheduling noise alone is 1.5 ×). The p99 judged is the
/// reads' that reach no provider: the money calls' tail is the injected
/// faults' (a lost answer takes kessai's 1 s timeout), and with about 1 %
/// of calls meeting one their p99 jumps between 0.3 and 1 s by chance.
/// kessai's own cost in the money calls shows in their p50.
pub fn flat_checks(samples: &[Sample]) -> Vec<Check> {
    let (middle, last) = thirds(samples);
    if middle.is_empty() || last.is_empty() {
        return vec![Check {
            target: "at least three samples, to compare the last third with the middle".into(),
            measured: format!("{} samples", samples.len()),
            met: false,
        }];
    }
    let most = |of: &[Sample], what: fn(&Sample) -> f64| of.iter().map(what).fold(0.0, f64::max);
    let quantile = |of: &[Sample], ops: &[Op], q: f64| {
        let mut all = Counts::default();
        for sample in of {
            all.merge(&sample.counts);
        }
        all.quantile_ms(ops, q)
    };
    let flat = |what: &str, unit: &str, middle: f64, last: f64, factor: f64, slack: f64| Check {
        target: format!("{what}: last third ≤ {factor} × the middle third + {slack} {unit}"),
        measured: format!(
            "{last:.1} {unit} vs {middle:.1} {unit} ({:.2} ×)",
            last / middle
        ),
        met: last <= factor * middle + slack,
    };
    let reads = [Op::GetOrder, Op::ListOrders];
    vec![
        flat(
            "kessai's RSS, the most sampled",
            "MiB",
            most(middle, |s| s.rss_mib),
            most(last, |s| s.rss_mib),
            1.25,
            8.0,
        ),
        flat(
            "kessai's open descriptors, the most sampled",
            "fds",
            most(middle, |s| s.fds as f64),
            most(last, |s| s.fds as f64),
            1.25,
            16.0,
        ),
        flat(
            "p99 of GetOrder and ListOrders",
            "ms",
            quantile(middle, &reads, 0.99),
            quantile(last, &reads, 0.99),
            1.5,
            2.0,
        ),
        flat(
            "p50 of every call",
            "ms",
            quantile(middle, &[], 0.5),
            quantile(last, &[], 0.5),
            1.5,
            2.0,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(rss: impl Fn(usize) -> f64) -> Vec<Sample> {
        (0..30)
            .map(|n| {
                let interval = Interval::default();
                interval.record(Op::GetOrder, Duration::from_millis(5), "OK".into());
                Sample {
                    at: Duration::from_secs(60 * (n as u64 + 1)),
                    rss_mib: rss(n),
                    fds: 30,
                    watching: 500,
                    counts: interval.take(),
                }
            })
            .collect()
    }

    fn held(samples: &[Sample]) -> Vec<bool> {
        flat_checks(samples).iter().map(|c| c.met).collect()
    }

    #[test]
    fn a_level_run_is_flat() {
        assert_eq!(held(&samples(|n| 60.0 + (n % 3) as f64)), [true; 4]);
    }

    #[test]
    fn memory_that_keeps_growing_is_not() {
        assert_eq!(
            held(&samples(|n| 60.0 + 10.0 * n as f64)),
            [false, true, true, true]
        );
    }

    #[test]
    fn two_samples_are_too_few_to_judge() {
        let checks = flat_checks(&samples(|_| 60.0)[..2]);
        assert_eq!(checks.len(), 1);
        assert!(!checks[0].met);
    }
}
