//! The report: a table of measured scenarios, each with its ratio to the
//! null backend, and a table of targets (measured, target, met).

use std::fmt::Write;

use crate::load::Stats;

pub struct Row {
    pub scenario: String,
    pub stats: Stats,
    /// Server memory while it ran, MiB, when sampled.
    pub rss_mib: Option<f64>,
}

pub struct Check {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

impl<T: Into<String>> From<(T, String, bool)> for Check {
    fn from((target, measured, met): (T, String, bool)) -> Self {
        Self {
            target: target.into(),
            measured,
            met,
        }
    }
}

#[derive(Default)]
pub struct Report {
    pub machine: String,
    pub settings: String,
    pub ceilings: Vec<(String, String)>,
    pub rows: Vec<Row>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn row(&mut self, scenario: impl Into<String>, stats: &Stats, rss_mib: Option<f64>) {
        let scenario = scenario.into();
        eprintln!(
            "  {scenario}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, CPU ms/call kessai {} database {} harness {}, DB statements/call {} commits/call {}, {} errors{}",
            stats.rate(),
            stats.p50(),
            stats.p99(),
            stats.p999(),
            dash(stats.cpu.map(|c| c.server_ms)),
            dash(stats.cpu.and_then(|c| c.database_ms)),
            dash(stats.cpu.map(|c| c.harness_ms)),
            per_call(stats.db.map(|d| d.statements)),
            per_call(stats.db.and_then(|d| d.commits)),
            stats.errors,
            stats
                .first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        self.rows.push(Row {
            scenario,
            stats: stats.clone(),
            rss_mib,
        });
    }

    pub fn check(&mut self, target: impl Into<String>, measured: impl Into<String>, met: bool) {
        let check = Check {
            target: target.into(),
            measured: measured.into(),
            met,
        };
        eprintln!(
            "  [{}] {} — {}",
            if check.met { "met" } else { "MISSED" },
            check.target,
            check.measured
        );
        self.checks.push(check);
    }

    /// Calls that failed anywhere: a benchmark of failing calls measures
    /// nothing.
    pub fn errors(&self) -> u64 {
        self.rows.iter().map(|r| r.stats.errors).sum()
    }

    pub fn empty_rows(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| r.stats.ops == 0)
            .map(|r| r.scenario.as_str())
            .collect()
    }

    pub fn markdown(&self, null_rate: f64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Machine: {}\n\nSettings: {}\n",
            self.machine, self.settings
        );
        if !self.ceilings.is_empty() {
            let _ = writeln!(out, "| ceiling | measured |\n|---|---|");
            for (name, value) in &self.ceilings {
                let _ = writeln!(out, "| {name} | {value} |");
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "| scenario | calls/s | × null | p50 ms | p99 ms | p999 ms | errors | server RSS MiB | kessai CPU ms/call | PostgreSQL CPU ms/call | harness CPU ms/call | DB statements/call | commits/call |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for row in &self.rows {
            let s = &row.stats;
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.3} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
                row.scenario,
                s.rate(),
                if null_rate > 0.0 {
                    s.rate() / null_rate
                } else {
                    f64::NAN
                },
                s.p50(),
                s.p99(),
                s.p999(),
                s.errors,
                row.rss_mib
                    .map(|m| format!("{m:.1}"))
                    .unwrap_or_else(|| "–".into()),
                dash(s.cpu.map(|c| c.server_ms)),
                dash(s.cpu.and_then(|c| c.database_ms)),
                dash(s.cpu.map(|c| c.harness_ms)),
                per_call(s.db.map(|d| d.statements)),
                per_call(s.db.and_then(|d| d.commits)),
            );
        }
        if !self.checks.is_empty() {
            let _ = writeln!(out, "\n| target | measured | met |\n|---|---|---|");
            for check in &self.checks {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    check.target,
                    check.measured,
                    if check.met { "yes" } else { "**no**" }
                );
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "\n{note}");
        }
        out
    }
}

/// A CPU figure, or a dash where none was read.
fn dash(ms: Option<f64>) -> String {
    ms.map(|ms| format!("{ms:.3}"))
        .unwrap_or_else(|| "–".into())
}

/// A count per call, or a dash where none was read.
fn per_call(count: Option<f64>) -> String {
    count
        .map(|n| format!("{n:.2}"))
        .unwrap_or_else(|| "–".into())
}

/// The machine, as far as the report needs it: CPU model and count, memory.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cores} cores ({model}), {memory}")
}
