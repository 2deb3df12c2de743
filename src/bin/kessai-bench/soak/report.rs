//! The soak's report: a row per sample, the whole run, the books, the
//! invariants.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Soak;
use super::samples::{Counts, Op};
use crate::chaos::report::{books_table, checks_table, table};
use crate::report::{Check, machine};

fn latencies(counts: &Counts) -> impl Iterator<Item = String> + '_ {
    Op::ALL.into_iter().map(|op| {
        let (p50, p99) = (
            counts.quantile_ms(&[op], 0.5),
            counts.quantile_ms(&[op], 0.99),
        );
        if p50.is_nan() {
            "–".into()
        } else {
            format!("{p50:.1} / {p99:.1}")
        }
    })
}

fn errors(counts: &Counts) -> String {
    let errors: Vec<String> = counts
        .errors()
        .map(|(answer, n)| format!("{answer} ×{n}"))
        .collect();
    if errors.is_empty() {
        "–".into()
    } else {
        errors.join(", ")
    }
}

fn ended(ended: &BTreeMap<String, u64>) -> String {
    if ended.is_empty() {
        return "none".into();
    }
    let each: Vec<String> = ended.iter().map(|(how, n)| format!("{how} ×{n}")).collect();
    each.join(", ")
}

pub fn markdown(settings: &str, soak: &Soak, checks: &[Check], notes: &[String]) -> String {
    let mut out = format!(
        "Machine: {}\n\nSettings: {settings}\n\n### {}\n\n",
        machine(),
        soak.database
    );
    let head: Vec<String> = ["at", "calls", "RSS MiB", "fds", "idle streams", "events"]
        .into_iter()
        .map(str::to_owned)
        .chain(
            Op::ALL
                .into_iter()
                .map(|op| format!("{} p50 / p99 ms", op.name())),
        )
        .chain(["answers other than OK".to_owned()])
        .collect();
    let mut rows: Vec<Vec<String>> = soak
        .samples
        .iter()
        .map(|s| {
            [
                format!("{:.0} s", s.at.as_secs_f64()),
                s.counts.calls().to_string(),
                format!("{:.1}", s.rss_mib),
                s.fds.to_string(),
                s.watching.to_string(),
                s.counts.events.to_string(),
            ]
            .into_iter()
            .chain(latencies(&s.counts))
            .chain([errors(&s.counts)])
            .collect()
        })
        .collect();
    rows.push(
        [
            "**all**".to_owned(),
            soak.total.calls().to_string(),
            format!("{:.1} before", soak.rss_start),
            format!("{} before", soak.fds_start),
            String::new(),
            soak.total.events.to_string(),
        ]
        .into_iter()
        .chain(latencies(&soak.total))
        .chain([errors(&soak.total)])
        .collect(),
    );
    table(&mut out, &head, &rows, true);
    let _ = writeln!(
        out,
        "Idle watchers' streams that ended early: {}. Active watchers' streams that ended early: \
         {}. kessai's log (`{}`): {} lines, {} ERROR.\n",
        ended(&soak.idle_ended),
        ended(&soak.active_ended),
        soak.log.display(),
        soak.audit.log.lines,
        soak.audit.log.errors,
    );
    books_table(&mut out, &soak.audit);
    checks_table(&mut out, checks);
    for note in notes {
        let _ = writeln!(out, "{note}\n");
    }
    out
}
