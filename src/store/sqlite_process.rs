//! SQLite's process-wide settings, made once before its first connection.
//!
//! SQLite keeps memory statistics by default: every allocation and free,
//! in every connection, takes one process-wide mutex. sqlx copies each
//! column of each row it reads (an allocation on its worker thread) and the
//! row is freed on a runtime thread, so concurrent readers queue on that
//! mutex. A `perf` profile of ListOrders on SQLite put 14 % of kessai's CPU
//! in the futex wake-ups it caused. kessai reads none of the statistics
//! (nor sets a soft heap limit, which needs them), so they are turned off.

use std::sync::Once;

static CONFIGURED: Once = Once::new();

/// Turns SQLite's memory statistics off, unless SQLite has already started
/// in this process (then nothing changes: it only costs speed).
pub fn configure_once() {
    CONFIGURED.call_once(|| {
        // SAFETY: `sqlite3_config` must not run while another thread uses
        // SQLite. Every kessai connection is opened after this `Once`, and
        // SQLite refuses the call (SQLITE_MISUSE, nothing changed) once it
        // has initialised, e.g. when a test process opened a database first.
        let code =
            unsafe { libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0) };
        if code != libsqlite3_sys::SQLITE_OK {
            tracing::debug!(
                code,
                "SQLite had started before its memory statistics could be turned off"
            );
        }
    });
}

/// Whether SQLite counts its memory in this process. Reading the counter
/// takes the mutex only when the statistics are on; what tells is whether
/// the high-water mark moves.
#[cfg(test)]
fn memory_counted() -> bool {
    // SAFETY: plain reads of SQLite's global counters.
    unsafe {
        let before = libsqlite3_sys::sqlite3_memory_used();
        let block = libsqlite3_sys::sqlite3_malloc(1 << 16);
        let after = libsqlite3_sys::sqlite3_memory_used();
        libsqlite3_sys::sqlite3_free(block);
        after > before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHILD: &str = "SQLITE_PROCESS_TEST_CHILD";
    const NAME: &str = "store::sqlite_process::tests::memory_statistics_in_a_process_of_their_own";

    /// SQLite's settings hold per process, and a test process may have
    /// opened SQLite in another test already: each case runs in a child
    /// process of this test binary, before anything else touches SQLite.
    #[test]
    fn memory_statistics_in_a_process_of_their_own() {
        match std::env::var(CHILD).as_deref() {
            Ok("configured") => {
                configure_once();
                assert!(!memory_counted(), "counted after configure_once");
            }
            Ok("default") => assert!(memory_counted(), "SQLite's default counts"),
            _ => {
                for case in ["configured", "default"] {
                    let output = std::process::Command::new(std::env::current_exe().unwrap())
                        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
                        .env(CHILD, case)
                        .output()
                        .unwrap();
                    let stdout = String::from_utf8_lossy(&output.stdout);
                    assert!(
                        output.status.success() && stdout.contains("1 passed"),
                        "{case}: {stdout}{}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
            }
        }
    }
}
