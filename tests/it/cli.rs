//! The `kessai` binary as an operator runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

fn kessai() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kessai"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

fn temp_sqlite() -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join("kessai-it");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.sqlite", ulid::Ulid::new()));
    let url = format!("sqlite://{}", path.display());
    (path, url)
}

#[test]
fn migrate_creates_the_schema_and_exits() {
    let (path, url) = temp_sqlite();
    let output = kessai()
        .arg("migrate")
        .env("KESSAI_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(path.exists(), "the SQLite file is created on first run");
    // Running it again is a no-op, not an error.
    let again = kessai()
        .arg("migrate")
        .env("KESSAI_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(again.status.success());
}

#[test]
fn sandbox_off_without_credentials_refuses_to_start() {
    let (_, url) = temp_sqlite();
    let output = kessai()
        .env("KESSAI_SANDBOX", "false")
        .env("KESSAI_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no provider has credentials"), "{stderr}");
}

#[test]
fn a_partial_credential_set_stops_start_up_with_a_clear_message() {
    let output = kessai()
        .env("KESSAI_PAYJP_SECRET_KEY", "sk_test_x")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("KESSAI_FINGERPRINT_KEY"));
}

/// Starts the binary with JSON logs and waits for its "serving" line.
fn start_serving(url: &str) -> (std::process::Child, String, Vec<serde_json::Value>) {
    let mut child = kessai()
        .env("KESSAI_DATABASE_URL", url)
        .env("KESSAI_LISTEN_ADDR", "127.0.0.1:0")
        .env("KESSAI_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    match read_until_serving(stdout) {
        Ok((addr, lines)) => (child, addr, lines),
        Err(problem) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{problem}");
        }
    }
}

fn read_until_serving(
    stdout: std::process::ChildStdout,
) -> Result<(String, Vec<serde_json::Value>), String> {
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let json: serde_json::Value =
            serde_json::from_str(&line).map_err(|_| format!("not a JSON log line: {line}"))?;
        let addr = json["addr"].as_str().map(str::to_owned);
        let serving = json["message"] == "kessai serving gRPC";
        lines.push(json);
        if let (true, Some(addr)) = (serving, addr) {
            return Ok((addr, lines));
        }
        if Instant::now() > deadline {
            return Err("kessai did not start in time".into());
        }
    }
    Err(format!("kessai exited before serving: {lines:?}"))
}

#[tokio::test]
async fn serve_logs_json_announces_the_sandbox_and_answers_health() {
    let (_, url) = temp_sqlite();
    let (mut child, addr, lines) = start_serving(&url);
    let sandbox = lines.iter().find(|l| {
        l["level"] == "WARN"
            && l["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("SANDBOX MODE")
    });
    assert!(
        sandbox.is_some(),
        "sandbox mode is logged loudly: {lines:?}"
    );

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let mut status = ServingStatus::Unknown;
    for _ in 0..50 {
        status = health
            .check(HealthCheckRequest {
                service: "kessai.v1.PaymentService".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        if status == ServingStatus::Serving {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, ServingStatus::Serving);

    // SIGTERM drains and exits cleanly, without waiting for this client to
    // close its idle connection (the shutdown timeout is 30 s).
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let started = Instant::now();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown took {:?}",
        started.elapsed()
    );
    drop(health);
}

#[test]
fn without_migrate_on_start_a_schema_that_is_behind_refuses_to_serve() {
    let (_, url) = temp_sqlite();
    let output = kessai()
        .env("KESSAI_DATABASE_URL", &url)
        .env("KESSAI_LISTEN_ADDR", "127.0.0.1:0")
        .env("KESSAI_MIGRATE_ON_START", "false")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(logs.contains("run `kessai migrate` first"), "{logs}");
}
