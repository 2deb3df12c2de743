//! What a new user sees of the `kessai` binary: plain logs when nobody is at
//! a terminal, a readable start-up summary.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::process::kessai;

fn temp_sqlite_url() -> String {
    let dir = std::env::temp_dir().join("kessai-it");
    std::fs::create_dir_all(&dir).unwrap();
    format!(
        "sqlite://{}",
        dir.join(format!("{}.sqlite", ulid::Ulid::new())).display()
    )
}

/// Starts `kessai serve` with text logs on pipes, and returns what it wrote
/// up to its "serving" line (both streams).
fn text_logs_until_serving() -> String {
    let mut child = kessai()
        .env("KESSAI_DATABASE_URL", temp_sqlite_url())
        .env("KESSAI_LISTEN_ADDR", "127.0.0.1:0")
        .env("KESSAI_SANDBOX_STATE", "memory")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut logs = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        logs.push_str(&line);
        logs.push('\n');
        if line.contains("kessai serving gRPC") || Instant::now() > deadline {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    assert!(logs.contains("kessai serving gRPC"), "{logs}\n{stderr}");
    logs + &stderr
}

#[test]
fn logs_to_a_pipe_are_plain_and_start_with_a_readable_summary() {
    let logs = text_logs_until_serving();
    assert!(
        !logs.contains("\x1b["),
        "colour codes in piped logs:\n{logs}"
    );
    for line in [
        "listen address: 127.0.0.1:0",
        "database: SQLite, file ",
        "mode: sandbox",
        "providers: ",
        "caller authentication: off",
        "TLS: off",
        "webhook listener: off",
        "metrics: off",
    ] {
        assert!(logs.contains(line), "{line:?} missing:\n{logs}");
    }
    assert!(!logs.contains("Config {"), "a debug dump:\n{logs}");
}

#[test]
fn every_configuration_mistake_is_told_at_once() {
    let output = kessai()
        .env("KESSAI_DATABASE_URL", temp_sqlite_url())
        .env("KESSAI_MAX_CONNECTIONS", "many")
        .env("KESSAI_REFLECTION", "perhaps")
        .env("KESSAI_METRIC_ADDR", "0.0.0.0:9090")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "KESSAI_MAX_CONNECTIONS: invalid digit found in string (for example KESSAI_MAX_CONNECTIONS=1000)",
        "KESSAI_REFLECTION: must be true or false, got \"perhaps\" (for example KESSAI_REFLECTION=false)",
        "KESSAI_METRIC_ADDR: not a kessai variable; did you mean KESSAI_METRICS_ADDR?",
    ] {
        assert!(stderr.contains(expected), "{expected:?} missing:\n{stderr}");
    }
    assert_eq!(stderr.matches("configuration error").count(), 1, "{stderr}");
}

#[test]
fn serve_help_lists_every_variable_with_its_default() {
    let output = kessai().args(["serve", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for var in kessai::env_vars::known::VARS {
        assert!(help.contains(var.name), "{} missing:\n{help}", var.name);
    }
    assert!(
        help.contains("[default: 127.0.0.1:50051]"),
        "the listen address's default:\n{help}"
    );
}
