//! The CPU a measured window cost, read from `/proc`: the kessai server
//! process (all its threads) and, where the database is a PostgreSQL on
//! this machine, every `postgres` process (backends, WAL writer,
//! checkpointer). Divided by the calls answered in the window, it says what
//! one call costs each side, whatever else the machine was doing. The
//! harness's own process (the callers and the simulators it serves) is read
//! too: on a machine the three share, its CPU is CPU kessai and the
//! database did not get.

use std::time::Duration;

/// Whose CPU to read.
#[derive(Debug, Clone, Copy)]
pub struct CpuProbe {
    /// The kessai server process.
    pub server: u32,
    /// Whether to read the local PostgreSQL server's processes too.
    pub database: bool,
}

/// CPU time used so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub server: Duration,
    /// This process: the load generator and any simulator it serves.
    pub harness: Duration,
    /// `None` when the database is not read (SQLite runs inside kessai).
    pub database: Option<Duration>,
}

/// CPU milliseconds per answered call, each side.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuPerCall {
    pub server_ms: f64,
    pub harness_ms: f64,
    pub database_ms: Option<f64>,
}

impl CpuProbe {
    pub fn read(&self) -> CpuTimes {
        CpuTimes {
            server: process_cpu(self.server).unwrap_or_default(),
            harness: process_cpu(std::process::id()).unwrap_or_default(),
            database: self.database.then(postgres_cpu),
        }
    }
}

impl CpuTimes {
    /// What was used between `self` and `later`, per call.
    pub fn per_call(&self, later: &CpuTimes, calls: u64) -> Option<CpuPerCall> {
        if calls == 0 {
            return None;
        }
        let per = |before: Duration, after: Duration| {
            after.saturating_sub(before).as_secs_f64() * 1000.0 / calls as f64
        };
        Some(CpuPerCall {
            server_ms: per(self.server, later.server),
            harness_ms: per(self.harness, later.harness),
            database_ms: match (self.database, later.database) {
                (Some(before), Some(after)) => Some(per(before, after)),
                _ => None,
            },
        })
    }
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat`'s times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the running system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// User plus system time of a process, all its threads, from a
/// `/proc/<pid>/stat` line; `None` if it cannot be read.
fn stat_cpu(stat: &str) -> Option<Duration> {
    // The command name is in parentheses and may hold spaces: the fields
    // counted from the last ')' are fixed (utime is the 14th field overall).
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) / ticks_per_second(),
    ))
}

pub fn process_cpu(pid: u32) -> Option<Duration> {
    stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every `postgres` process's CPU so far. A backend that exits inside a
/// window takes its time with it: the benchmark's pools keep theirs open.
pub fn postgres_cpu() -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .filter_map(|stat| stat_cpu(&stat))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_time_are_read_after_the_command_name() {
        let ticks = ticks_per_second();
        // A name with spaces and a parenthesis, then utime 250, stime 50.
        let line = "4242 (tokio (runtime) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 1234 0 0";
        let cpu = stat_cpu(line).unwrap();
        assert_eq!(cpu, Duration::from_secs_f64(300.0 / ticks));
        assert!(stat_cpu("garbage").is_none());
    }

    #[test]
    fn this_process_has_used_some_cpu_and_per_call_divides_the_difference() {
        let before = CpuTimes {
            server: Duration::from_millis(1_000),
            harness: Duration::from_millis(200),
            database: Some(Duration::from_millis(500)),
        };
        let after = CpuTimes {
            server: Duration::from_millis(3_000),
            harness: Duration::from_millis(700),
            database: Some(Duration::from_millis(1_500)),
        };
        let per = before.per_call(&after, 1_000).unwrap();
        assert_eq!(per.server_ms, 2.0);
        assert_eq!(per.harness_ms, 0.5);
        assert_eq!(per.database_ms, Some(1.0));
        assert!(before.per_call(&after, 0).is_none());
        // /proc counts CPU in clock ticks (10 ms): a process just started
        // may show none yet, so work until one is counted, or fail after 5 s.
        let started = std::time::Instant::now();
        let mut spin = 0u64;
        while process_cpu(std::process::id()).is_none_or(|t| t == Duration::ZERO) {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "/proc shows no CPU for this process"
            );
            for n in 0..1_000_000u64 {
                spin = std::hint::black_box(spin.wrapping_add(n * n));
            }
        }
    }
}
