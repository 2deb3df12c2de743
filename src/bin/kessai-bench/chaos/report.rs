//! The invariants a run must hold, and the report of what it found.

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::audit::{Audit, Books};
use super::callers::{Ending, Rpc, Tally};
use crate::load::Stats;
use crate::report::{Check, machine};

/// kessai's resident memory, MiB.
pub struct Rss {
    /// After seeding, before the chaos.
    pub start: f64,
    /// The most sampled during the chaos and the settling.
    pub max: f64,
    /// After the audit.
    pub end: f64,
}

/// What one database's run found.
pub struct Findings {
    pub database: String,
    pub chaos: Duration,
    pub settle_within: Duration,
    pub tally: Tally,
    pub healthy_get: Stats,
    pub healthy_list: Stats,
    pub audit: Audit,
    pub rss: Rss,
    /// PostgreSQL: the most connections stuck in a transaction seen at once
    /// during the chaos (looked at every 5 s).
    pub stuck_during: Option<i64>,
    pub log: PathBuf,
}

/// A markdown table; every column but the first right-aligned when
/// `numbers`.
pub fn table(out: &mut String, head: &[String], rows: &[Vec<String>], numbers: bool) {
    let align = if numbers { "---:" } else { "---" };
    let rule: Vec<&str> = (0..head.len())
        .map(|i| if i == 0 { "---" } else { align })
        .collect();
    for line in [head.to_vec(), rule.iter().map(|r| r.to_string()).collect()]
        .iter()
        .chain(rows)
    {
        let _ = writeln!(out, "| {} |", line.join(" | "));
    }
    out.push('\n');
}

pub fn strings<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// `n`, and the first of them when there is one.
pub fn with_first(n: u64, first: Option<&String>) -> String {
    match first {
        Some(first) => format!("{n} (first: {first})"),
        None => n.to_string(),
    }
}

/// What the audit must find after any run against the simulators: every
/// order settled or flagged within `settle_within`, the books equal to
/// the ledgers and, on PostgreSQL, no connection left inside
/// a transaction.
pub fn audit_checks(audit: &Audit, settle_within: Duration) -> Vec<Check> {
    let sum = |of: fn(&Books) -> u64| -> u64 { audit.books.values().map(of).sum() };
    let first_difference = audit
        .books
        .values()
        .find_map(|b| b.first_difference.as_ref());
    let (two_charges, differ, orphans) = (
        sum(|b| b.two_charges),
        sum(|b| b.differ),
        sum(|b| b.orphans),
    );
    let settled = match audit.settled_after {
        Some(after) => format!("after {:.1} s", after.as_secs_f64()),
        None => format!(
            "{} open after {} s",
            sum(|b| b.open),
            settle_within.as_secs()
        ),
    };
    let mut checks = vec![
        (
            "every order settled or flagged for review in time",
            settled,
            audit.settled_after.is_some(),
        ),
        (
            "no order with two charges at its provider",
            two_charges.to_string(),
            two_charges == 0,
        ),
        (
            "kessai's captured and refunded = the provider's, orders not flagged",
            with_first(differ, first_difference),
            differ == 0,
        ),
        (
            "no charge at a provider without a kessai order",
            orphans.to_string(),
            orphans == 0,
        ),
    ];
    if let Some(stuck) = audit.stuck {
        checks.push((
            "no connection idle in a transaction for over 1 s, at the end",
            stuck.to_string(),
            stuck == 0,
        ));
    }
    checks.into_iter().map(Check::from).collect()
}

/// What a run whose callers never saw a provider's outage must find.
pub fn log_check(audit: &Audit) -> Check {
    let log = &audit.log;
    Check {
        target: "no ERROR (or unstructured) line in kessai's log".into(),
        measured: with_first(log.errors, log.first_errors.first()),
        met: log.errors == 0,
    }
}

/// Each provider's orders: settled, flagged, open, and what differs.
pub fn books_table(out: &mut String, audit: &Audit) {
    let books: Vec<Vec<String>> = audit
        .books
        .iter()
        .map(|(provider, b)| {
            let counts = [
                b.orders,
                b.settled,
                b.review,
                b.open,
                b.two_charges,
                b.differ,
                b.orphans,
            ];
            std::iter::once(provider.to_string())
                .chain(counts.iter().map(u64::to_string))
                .collect()
        })
        .collect();
    let head = [
        "provider",
        "orders",
        "settled",
        "flagged for review",
        "still open",
        "two charges",
        "books differ",
        "charges without an order",
    ];
    table(out, &strings(head), &books, true);
}

/// The invariants as a table, the broken ones in bold.
pub fn checks_table(out: &mut String, checks: &[Check]) {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            let held = if c.met { "yes" } else { "**no**" };
            vec![
                c.target.clone(),
                c.measured.replace('|', "\\|"),
                held.to_owned(),
            ]
        })
        .collect();
    table(
        out,
        &strings(["invariant", "measured", "held"]),
        &rows,
        false,
    );
}

impl Findings {
    pub fn checks(&self) -> Vec<Check> {
        let calls = self.tally.count(|_| true);
        let internal = self.tally.count(Ending::is_internal);
        let failed = self.healthy_get.errors + self.healthy_list.errors;
        let reads = self.healthy_get.ops + self.healthy_list.ops + failed;
        let first_failure = [&self.healthy_get, &self.healthy_list]
            .into_iter()
            .find_map(|s| s.first_error.as_ref());
        let checks = [
            (
                "the cancelling callers ran",
                format!("{calls} calls"),
                calls >= 100,
            ),
            (
                "every healthy read succeeded",
                format!("{} of {reads} failed", with_first(failed, first_failure)),
                failed == 0 && self.healthy_get.ops > 0,
            ),
            (
                "no INTERNAL or UNKNOWN answer",
                with_first(internal, self.tally.internal_messages.first()),
                internal == 0,
            ),
        ];
        checks
            .into_iter()
            .map(Check::from)
            .chain(audit_checks(&self.audit, self.settle_within))
            .chain([log_check(&self.audit)])
            .collect()
    }

    fn markdown(&self, out: &mut String) {
        let calls = self.tally.count(|_| true);
        let settled = match self.audit.settled_after {
            Some(after) => format!(
                "every order was settled or flagged for review {:.1} s later",
                after.as_secs_f64()
            ),
            None => format!(
                "orders were still open {} s later",
                self.settle_within.as_secs()
            ),
        };
        let _ = writeln!(
            out,
            "### {}\n\n{} s of chaos: {calls} calls by the cancelling callers ({:.0}/s). The faults \
             cleared, {settled}.\n",
            self.database,
            self.chaos.as_secs(),
            calls as f64 / self.chaos.as_secs_f64(),
        );
        self.endings_table(out);
        books_table(out, &self.audit);
        let reads: Vec<Vec<String>> = [
            ("GetOrder", &self.healthy_get),
            ("ListOrders, page of 20", &self.healthy_list),
        ]
        .into_iter()
        .map(|(read, s)| {
            vec![
                read.to_owned(),
                s.ops.to_string(),
                format!("{:.2}", s.p50()),
                format!("{:.2}", s.p99()),
                format!("{:.2}", s.quantile_ms(1.0)),
                s.errors.to_string(),
            ]
        })
        .collect();
        let head = [
            "healthy read, no deadline, 20 ms apart",
            "calls",
            "p50 ms",
            "p99 ms",
            "max ms",
            "failed",
        ];
        table(out, &strings(head), &reads, true);
        self.resources(out);
        checks_table(out, &self.checks());
    }

    /// Memory, the log, the connections seen inside a transaction.
    fn resources(&self, out: &mut String) {
        let mut warnings: Vec<_> = self.audit.log.warnings.iter().collect();
        warnings.sort_by(|a, b| b.1.cmp(a.1));
        let warnings: Vec<String> = warnings
            .iter()
            .take(4)
            .map(|(message, n)| format!("{message} ×{n}"))
            .collect();
        let _ = writeln!(
            out,
            "kessai's RSS: {:.1} MiB after seeding, at most {:.1} MiB during the chaos and the \
             settling, {:.1} MiB at the end. Its log (`{}`): {} lines, {} ERROR; the most \
             frequent WARN: {}.",
            self.rss.start,
            self.rss.max,
            self.rss.end,
            self.log.display(),
            self.audit.log.lines,
            self.audit.log.errors,
            if warnings.is_empty() {
                "none".into()
            } else {
                warnings.join("; ")
            },
        );
        if let Some(n) = self.stuck_during {
            let _ = writeln!(
                out,
                "Connections idle in a transaction for over 1 s during the chaos, the most at \
                 one look (every 5 s): {n}."
            );
        }
        out.push('\n');
    }

    /// Calls by RPC and how each ended.
    fn endings_table(&self, out: &mut String) {
        let mut endings: Vec<Ending> = self.tally.counts.keys().map(|(_, e)| *e).collect();
        endings.sort_by_key(|e| e.rank());
        endings.dedup();
        let mut rpcs: Vec<Rpc> = self.tally.counts.keys().map(|(r, _)| *r).collect();
        rpcs.sort();
        rpcs.dedup();
        let row = |name: &str, of: &dyn Fn(Ending) -> u64| -> Vec<String> {
            let all: u64 = endings.iter().map(|e| of(*e)).sum();
            std::iter::once(name.to_owned())
                .chain(endings.iter().map(|e| of(*e).to_string()))
                .chain([all.to_string()])
                .collect()
        };
        let mut rows: Vec<Vec<String>> = rpcs
            .iter()
            .map(|rpc| {
                let of = |e: Ending| self.tally.counts.get(&(*rpc, e)).copied().unwrap_or(0);
                row(rpc.name(), &of)
            })
            .collect();
        rows.push(row("all", &|e| self.tally.count(|x| x == e)));
        let head: Vec<String> = std::iter::once("RPC".to_owned())
            .chain(endings.iter().map(|e| e.label()))
            .chain(["all".to_owned()])
            .collect();
        table(out, &head, &rows, true);
        let mut transport: Vec<_> = self.tally.transport_errors.iter().collect();
        transport.sort_by_key(|(code, _)| **code as i32);
        for (code, error) in transport {
            let _ = writeln!(out, "Connection lost ({code:?}), the first: `{error}`.\n");
        }
    }
}

pub fn markdown(settings: &str, all: &[Findings], notes: &[String]) -> String {
    let mut out = format!("Machine: {}\n\nSettings: {settings}\n\n", machine());
    for findings in all {
        findings.markdown(&mut out);
    }
    for note in notes {
        let _ = writeln!(out, "{note}\n");
    }
    out
}

/// /proc/loadavg's three averages: how busy the machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "unknown".into())
}
