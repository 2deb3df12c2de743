//! What a new user sees of the `kessai` binary: plain logs when nobody is at
//! a terminal, a readable start-up summary, every configuration mistake at
//! once, `serve --help`, and one access line per call.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::process::{KessaiProcess, kessai};
use crate::requests::card_authorize;

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
        "KESSAI_MAX_CONNECTIONS: invalid digit found in string, got \"many\" (for example KESSAI_MAX_CONNECTIONS=1000)",
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

/// `kessai serve` in sandbox mode with JSON logs, and `vars`.
fn sandbox_process(vars: &[(&str, &str)]) -> KessaiProcess {
    let mut env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.insert("KESSAI_DATABASE_URL".into(), temp_sqlite_url());
    env.insert("KESSAI_SANDBOX_STATE".into(), "memory".into());
    KessaiProcess::start(&env)
}

fn lines_where(process: &KessaiProcess, field: &str, value: &str) -> Vec<serde_json::Value> {
    process
        .logs()
        .into_iter()
        .filter(|l| l[field] == value)
        .collect()
}

/// The access lines a process wrote for `method`, waiting a moment for
/// `expected` of them (a line is written as the answer's last frame leaves,
/// which may be just after the client has it).
fn access_lines(process: &KessaiProcess, method: &str, expected: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<_> = lines_where(process, "target", "kessai::access")
            .into_iter()
            .filter(|l| l["method"] == method)
            .collect();
        if lines.len() >= expected || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn each_call_has_one_access_line_and_a_callers_mistake_is_no_error() {
    use kessai::proto::v1;
    const PAN: &str = "5200000000001005";
    const CVC: &str = "9173";
    let process = sandbox_process(&[]);
    let mut client = process.client().await;

    let authorized = client
        .authorize(card_authorize("access-authorize", 1_000, PAN, CVC, 2099))
        .await
        .unwrap()
        .into_inner();
    let order_id = authorized.order.unwrap().id;
    let malformed = client
        .get_order(v1::GetOrderRequest {
            order_id: "not-an-order".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), tonic::Code::InvalidArgument);
    let missing = format!("ord_{}", ulid::Ulid::new());
    let not_found = client
        .get_order(v1::GetOrderRequest {
            order_id: missing.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(not_found.code(), tonic::Code::NotFound);

    let authorize = access_lines(&process, "kessai.v1.PaymentService/Authorize", 1);
    assert_eq!(authorize.len(), 1, "{authorize:?}");
    let line = &authorize[0];
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["code"], "OK", "{line}");
    assert_eq!(line["order_id"], order_id.as_str(), "{line}");
    assert_eq!(line["provider"], "paymentoptions", "{line}");
    assert_eq!(line["caller"], "anonymous", "{line}");
    assert!(line["latency_ms"].is_u64(), "{line}");
    assert!(
        line["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{line}"
    );
    assert!(
        line["trace_id"].as_str().is_some_and(|id| id.len() == 32),
        "{line}"
    );
    let text = line.to_string();
    // The card, its holder, the shopper's address and IP.
    for secret in [PAN, CVC, "TARO", "YAMADA", "Shinjuku", "203.0.113.7"] {
        assert!(
            !text.contains(secret),
            "{secret} in the access line: {text}"
        );
    }

    let get = access_lines(&process, "kessai.v1.PaymentService/GetOrder", 2);
    let answered = |code: &str, reason: &str| {
        get.iter()
            .filter(|l| l["code"] == code && l["reason"] == reason && l["level"] == "INFO")
            .count()
    };
    assert_eq!(get.len(), 2, "{get:?}");
    assert_eq!(
        answered("INVALID_ARGUMENT", "INVALID_ORDER_ID"),
        1,
        "{get:?}"
    );
    assert_eq!(answered("NOT_FOUND", "ORDER_NOT_FOUND"), 1, "{get:?}");
    assert!(
        get.iter().any(|l| l["order_id"] == missing.as_str()),
        "the order asked about: {get:?}"
    );

    let errors = lines_where(&process, "level", "ERROR");
    assert!(errors.is_empty(), "ERROR lines: {errors:?}");
}

#[tokio::test]
async fn the_access_log_can_be_turned_off() {
    let process = sandbox_process(&[("KESSAI_ACCESS_LOG", "off")]);
    let mut client = process.client().await;
    let _ = client
        .get_order(kessai::proto::v1::GetOrderRequest {
            order_id: "not-an-order".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    // A line would be written as the answer left, well within this.
    std::thread::sleep(Duration::from_millis(500));
    let lines = lines_where(&process, "target", "kessai::access");
    assert!(lines.is_empty(), "{lines:?}");
}

/// `kessai serve` on `url`; its exit code and what it wrote.
fn serve_on(url: &str, vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = kessai()
        .env("KESSAI_DATABASE_URL", url)
        .env("KESSAI_LISTEN_ADDR", "127.0.0.1:0")
        .env("KESSAI_SANDBOX_STATE", "memory")
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), text)
}

#[test]
fn a_database_kessai_cannot_use_is_named_with_the_reason() {
    let mut cases = vec![
        (
            "postgres://kessai:hunter2@127.0.0.1:1/shop".to_owned(),
            "PostgreSQL at 127.0.0.1:1: connection refused".to_owned(),
        ),
        (
            "sqlite:///nonexistent-kessai-dir/k.db".to_owned(),
            "its directory /nonexistent-kessai-dir does not exist".to_owned(),
        ),
    ];
    if let Ok(url) = std::env::var("KESSAI_TEST_DATABASE_URL") {
        let mut missing = url::Url::parse(&url).unwrap();
        missing.set_path("/kessai_no_such_database");
        cases.push((
            missing.to_string(),
            "database \"kessai_no_such_database\" does not exist".to_owned(),
        ));
        let mut stranger = url::Url::parse(&url).unwrap();
        stranger.set_username("kessai_no_such_role").unwrap();
        stranger.set_password(Some("hunter2")).unwrap();
        cases.push((
            stranger.to_string(),
            "refused user \"kessai_no_such_role\": authentication failed".to_owned(),
        ));
    }
    for (url, expected) in cases {
        let (code, text) = serve_on(&url, &[]);
        assert_ne!(code, Some(0), "{url}: {text}");
        assert!(
            text.contains(&expected),
            "{url}: {expected:?} missing:\n{text}"
        );
        assert!(
            !text.contains("hunter2"),
            "the password was printed:\n{text}"
        );
        assert!(!text.contains("timed out"), "{url}:\n{text}");
    }
}

#[test]
fn a_schema_older_than_the_binary_says_to_migrate() {
    // A file kessai never migrated, and migrating on start turned off.
    let (code, text) = serve_on(&temp_sqlite_url(), &[("KESSAI_MIGRATE_ON_START", "false")]);
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("the database schema is older than this binary")
            && text.contains("run `kessai migrate` first"),
        "{text}"
    );
}

/// Without autovacuum nothing gathers the planner's statistics, and
/// listings slow as the tables grow: kessai says so once at start, and
/// says nothing when autovacuum runs.
#[tokio::test]
async fn a_postgresql_without_autovacuum_is_warned_about_at_start() {
    let Ok(url) = std::env::var("KESSAI_TEST_DATABASE_URL") else {
        eprintln!("KESSAI_TEST_DATABASE_URL is not set: the PostgreSQL run is left to .ci/run");
        return;
    };
    let mut admin = <sea_orm::sqlx::PgConnection as sea_orm::sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let setting: String = sea_orm::sqlx::query_scalar("SHOW autovacuum")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let logs = crate::log_capture::LogCapture::default();
    logs.during(kessai::store::Store::connect(
        &url,
        &kessai::store::StoreOptions::default(),
    ))
    .await
    .unwrap();
    let warned: Vec<_> = logs
        .all("WARN")
        .into_iter()
        .filter(|line| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("autovacuum is off on PostgreSQL at"))
        })
        .collect();
    assert_eq!(
        warned.len(),
        usize::from(setting == "off"),
        "autovacuum = {setting}: {warned:?}"
    );
}
