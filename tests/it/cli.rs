//! The `kessai` binary as an operator runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::process::kessai;

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

// The operator commands, run against the database (and, to reconcile, the
// providers) of a server that wrote the orders.

use kessai::domain::OrderId;
use kessai::proto::v1;

use crate::db_test;
use crate::helpers::{TestApp, payjp_authorize, unique_key};

/// Runs `kessai ARGS` with the server's configuration.
fn operator(app: &TestApp, args: &[&str]) -> std::process::Output {
    kessai()
        .envs(app.env())
        .env("USER", "hanako")
        .args(args)
        .output()
        .unwrap()
}

fn json_of(output: &std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

db_test! {
    async fn orders_get_prints_what_get_order_answers(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        let captured = app.capture(&order.id, Some(2_000), false).await.unwrap();
        let card = app
            .authorize(crate::paymentoptions_rules::card_request(
                &app,
                &unique_key("auth"),
                3_000,
                crate::paymentoptions_rules::APPROVE,
                v1::CaptureMethod::Manual,
            ))
            .await
            .unwrap();

        let got = json_of(&operator(&app, &["orders", "get", &order.id, "--output", "json"]));
        assert_eq!(got["id"], order.id.as_str());
        assert_eq!(got["provider"], "payjp");
        assert_eq!(got["status"], "partially_captured");
        assert_eq!(got["amount_authorized"], 5_000);
        assert_eq!(got["amount_captured"], 2_000);
        assert_eq!(got["amount_capturable"], captured.amount_capturable);
        assert_eq!(got["provider_order_id"], order.provider_order_id.as_str());
        assert_eq!(got["captures"].as_array().unwrap().len(), 1);
        assert_eq!(got["captures"][0]["amount"], 2_000);
        assert_eq!(got["captures"][0]["status"], "succeeded");

        // Of a card, what GetOrder shows: BIN and last four, never the number.
        let output = operator(&app, &["orders", "get", &card.id, "--json"]);
        let got = json_of(&output);
        let summary = card.card.unwrap();
        assert_eq!(got["card"]["bin"], summary.bin.as_str());
        assert_eq!(got["card"]["last4"], summary.last4.as_str());
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(!printed.contains(crate::paymentoptions_rules::APPROVE), "{printed}");

        // The table: one line per field, then the captures.
        let output = operator(&app, &["orders", "get", &order.id]);
        assert!(output.status.success(), "{}", stderr(&output));
        let table = String::from_utf8_lossy(&output.stdout);
        let status_line = table.lines().find(|l| l.starts_with("status ")).unwrap();
        assert!(status_line.ends_with("partially_captured"), "{table}");
        assert!(table.contains("\ncaptures\n"), "{table}");
        assert!(table.lines().any(|l| l.starts_with(&captured.captures[0].id) && l.contains("2000")), "{table}");
    }
}

db_test! {
    async fn orders_show_how_the_shopper_pays(app: TestApp) {
        let card = app.authorized_payjp(3_000).await;
        let paypay = app.authorize(payjp_authorize(&unique_key("auth"), 5_000, "pm_test_paypay")).await.unwrap();

        let got = json_of(&operator(&app, &["orders", "get", &paypay.id, "--json"]));
        assert_eq!(got["payment_method"], "paypay", "{got}");
        let output = operator(&app, &["orders", "get", &paypay.id]);
        let table = String::from_utf8_lossy(&output.stdout);
        let line = table.lines().find(|l| l.starts_with("payment_method ")).unwrap_or_else(|| panic!("{table}"));
        assert!(line.ends_with(" paypay"), "{table}");

        let listed = json_of(&operator(&app, &["orders", "list", "--json"]));
        let methods: Vec<&str> = listed["orders"].as_array().unwrap().iter().map(|o| o["payment_method"].as_str().unwrap_or("?")).collect();
        assert_eq!(methods, ["paypay", "card"], "{listed}");
        let output = operator(&app, &["orders", "list"]);
        let table = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].contains("METHOD"), "{table}");
        assert!(lines[1].starts_with(&paypay.id) && lines[1].contains(" paypay "), "{table}");
        assert!(lines[2].starts_with(&card.id) && lines[2].contains(" card "), "{table}");
    }
}

db_test! {
    async fn orders_get_shows_the_order_history(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        app.capture(&order.id, Some(2_000), false).await.unwrap();
        app.refund(&order.id, Some(500)).await.unwrap();
        let recorded = app.store.events(&OrderId::from_trusted(order.id.clone())).await.unwrap();
        assert!(recorded.len() >= 4, "{recorded:?}");

        let got = json_of(&operator(&app, &["orders", "get", &order.id, "--json"]));
        let events = got["events"].as_array().unwrap_or_else(|| panic!("no events: {got}"));
        let types: Vec<&str> = events.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
        let expected: Vec<&str> = recorded.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, expected, "the whole history, oldest first");
        let cursors: Vec<i64> = events.iter().map(|e| e["cursor"].as_str().unwrap().parse().unwrap()).collect();
        assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
        let last = events.last().unwrap();
        assert_eq!(last["status"], "partially_captured", "{last}");
        assert_eq!(last["amounts"]["amount_captured"], 2_000, "{last}");
        assert_eq!(last["amounts"]["amount_refunded"], 500, "{last}");
        assert!(last["actor"].is_string() && last["created_at"].is_string(), "{last}");

        // The table: the order, its captures and refunds, then its history.
        let output = operator(&app, &["orders", "get", &order.id]);
        let table = String::from_utf8_lossy(&output.stdout);
        let history = table.split("\nevents\n").nth(1).unwrap_or_else(|| panic!("no events: {table}"));
        let rows: Vec<&str> = history.lines().skip(1).collect();
        assert_eq!(rows.len(), recorded.len(), "{table}");
        for (row, event) in rows.iter().zip(&recorded) {
            assert!(row.contains(&format!(" {} ", event.event_type)) && row.contains(&event.status), "{row}: {table}");
        }
    }
}

db_test! {
    async fn orders_list_filters_and_pages(app: TestApp) {
        let first = app.authorized_payjp(1_000).await;
        let second = app.authorized_payjp(2_000).await;
        app.capture(&second.id, None, false).await.unwrap();
        let declined = app
            .authorize(payjp_authorize(&unique_key("auth"), 3_000, "pm_test_decline"))
            .await
            .unwrap();

        let all = json_of(&operator(&app, &["orders", "list", "--json"]));
        let ids: Vec<&str> = all["orders"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [declined.id.as_str(), second.id.as_str(), first.id.as_str()], "newest first");

        let captured = json_of(&operator(&app, &["orders", "list", "--status", "captured", "--provider", "payjp", "-o", "json"]));
        let ids: Vec<&str> = captured["orders"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [second.id.as_str()]);
        let several = json_of(&operator(&app, &["orders", "list", "--status", "authorized", "--status", "declined", "--json"]));
        assert_eq!(several["orders"].as_array().unwrap().len(), 2);
        let other = json_of(&operator(&app, &["orders", "list", "--provider", "smartpay", "--json"]));
        assert!(other["orders"].as_array().unwrap().is_empty());

        let page = json_of(&operator(&app, &["orders", "list", "--limit", "2", "--json"]));
        assert_eq!(page["orders"].as_array().unwrap().len(), 2);
        let token = page["next_page_token"].as_str().unwrap();
        assert!(!token.is_empty());
        let rest = json_of(&operator(&app, &["orders", "list", "--limit", "2", "--page-token", token, "--json"]));
        assert_eq!(rest["orders"][0]["id"], first.id.as_str());
        assert_eq!(rest["next_page_token"], "");

        let output = operator(&app, &["orders", "list", "--status", "captured"]);
        let table = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("ID") && lines[0].contains("STATUS"), "{table}");
        assert_eq!(lines.len(), 2, "{table}");
        assert!(lines[1].starts_with(&second.id) && lines[1].contains("captured"), "{table}");
    }
}

db_test! {
    async fn operator_errors_are_clear_and_have_their_own_exit_codes(app: TestApp) {
        let unknown = "ord_01J00000000000000000000000";
        let output = operator(&app, &["orders", "get", unknown]);
        assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
        assert!(stderr(&output).contains(&format!("order {unknown} not found")), "{}", stderr(&output));
        assert!(output.stdout.is_empty());

        let output = operator(&app, &["orders", "get", "order-42"]);
        assert_eq!(output.status.code(), Some(2));
        assert!(stderr(&output).contains("ORDER_ID"), "{}", stderr(&output));

        let output = operator(&app, &["orders", "list", "--status", "paid"]);
        assert_eq!(output.status.code(), Some(2));
        let message = stderr(&output);
        assert!(message.contains("'paid'") && message.contains("partially_captured"), "{message}");

        let output = operator(&app, &["orders", "list", "--limit", "0"]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));

        let output = operator(&app, &["reconcile", unknown]);
        assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    }
}

#[test]
fn operator_commands_without_a_database_fail_clearly_and_create_nothing() {
    let dir = std::env::temp_dir().join(format!("kessai-missing-{}", ulid::Ulid::new()));
    let url = format!("sqlite://{}/kessai.sqlite", dir.display());
    let output = kessai()
        .args(["orders", "list"])
        .env("KESSAI_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot use the database"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.exists());

    let (path, url) = temp_sqlite();
    std::fs::write(&path, b"").unwrap();
    let output = kessai()
        .args(["orders", "list", "--json"])
        .env("KESSAI_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("kessai migrate"),
        "{}",
        stderr(&output)
    );

    let output = kessai()
        .args(["orders", "list"])
        .env(
            "KESSAI_DATABASE_URL",
            "postgres://kessai@127.0.0.1:1/kessai",
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot use the database"),
        "{}",
        stderr(&output)
    );
}

db_test! {
    async fn reconcile_settles_a_lost_answer_and_names_the_operator(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = app.authorized_payjp(5_000).await;
        // PAY.JP captures, and neither attempt's answer comes back.
        app.payjp.faults().inject(Fault::new("POST", "/capture", FaultKind::DropAfterActing).times(2));
        let lost = app.capture(&order.id, Some(2_000), false).await.unwrap_err();
        assert_eq!(lost.code(), tonic::Code::DeadlineExceeded, "{lost:?}");
        assert_eq!(app.get_order(&order.id, false).await.unwrap().status(), v1::OrderStatus::Pending);
        let pending = json_of(&operator(&app, &["orders", "list", "--status", "pending", "--json"]));
        assert_eq!(pending["orders"][0]["id"], order.id.as_str());

        let done = json_of(&operator(&app, &["reconcile", &order.id, "--json"]));
        assert_eq!(done["calls_checked"], 1);
        assert_eq!(done["errors"].as_array().unwrap().len(), 0, "{done}");
        assert_eq!(done["order"]["status"], "partially_captured");
        assert_eq!(done["order"]["amount_captured"], 2_000);
        assert_eq!(app.ledger_flow(&order.provider_order_id).captured, 2_000, "captured once");

        let events = app.store.events(&OrderId::from_trusted(order.id.clone())).await.unwrap();
        assert!(
            events.iter().any(|e| e.actor == "kessai-cli:hanako"),
            "{:?}",
            events.iter().map(|e| (&e.event_type, &e.actor)).collect::<Vec<_>>()
        );

        // Nothing left to settle: it only asks the provider.
        let again = json_of(&operator(&app, &["reconcile", &order.id, "-o", "json"]));
        assert_eq!(again["calls_checked"], 0);
        assert_eq!(again["order"]["status"], "partially_captured");
    }
}

#[test]
fn reconcile_in_sandbox_mode_explains_why_it_cannot() {
    let (_, url) = temp_sqlite();
    let migrate = kessai()
        .arg("migrate")
        .env("KESSAI_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(migrate.status.success());
    let output = kessai()
        .args(["reconcile", "ord_01J00000000000000000000000"])
        .env("KESSAI_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("sandbox mode"),
        "{}",
        stderr(&output)
    );
}

db_test! {
    async fn a_reader_that_stops_reading_ends_the_output_quietly(app: TestApp) {
        app.authorized_payjp(1_000).await;
        for args in [&["orders", "list"][..], &["orders", "list", "--output", "json"]] {
            // `kessai orders list | head`, where head has already gone.
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let output = kessai()
                .envs(app.env())
                .args(args)
                .stdout(writer)
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            assert!(output.status.success(), "{args:?}: {:?}: {}", output.status, stderr(&output));
            let said = stderr(&output);
            assert!(
                !said.contains("panicked") && !said.contains("writing the result"),
                "{args:?}: {said}"
            );
        }
    }
}

db_test! {
    async fn orders_list_finds_orders_by_their_customer(app: TestApp) {
        use crate::customer_search::{customer, order_for};
        let a = order_for(&app, customer(" Taro.Yamada@Example.JP ", "山田 太郎", "+81 90-1234-5678"), "cart-1").await;
        let b = order_for(&app, customer("hanako@example.jp", "佐藤 花子", ""), "cart-2").await;
        let ids = |args: &[&str]| -> Vec<String> {
            let mut all = vec!["orders", "list", "--json"];
            all.extend_from_slice(args);
            let listed = json_of(&operator(&app, &all));
            listed["orders"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(ids(&["--email", "YAMADA@"]), [a.id.as_str()]);
        assert_eq!(ids(&["--name", "佐藤花子"]), [b.id.as_str()]);
        assert_eq!(ids(&["--query", "CART-"]), [b.id.as_str(), a.id.as_str()]);
        assert_eq!(ids(&["--email", "example", "--name", "山田"]), [a.id.as_str()]);
        assert_eq!(ids(&["--query", &b.provider_order_id]), [b.id.as_str()]);

        let listed = json_of(&operator(&app, &["orders", "list", "--json", "--email", "taro"]));
        assert_eq!(listed["orders"][0]["customer"], serde_json::json!({"email": "Taro.Yamada@Example.JP", "name": "山田 太郎", "phone": "+81 90-1234-5678"}));
        let table = operator(&app, &["orders", "list", "--query", "cart-2"]);
        let table = String::from_utf8_lossy(&table.stdout).into_owned();
        assert!(table.lines().next().unwrap().ends_with("CUSTOMER"), "{table}");
        assert!(table.lines().nth(1).unwrap().ends_with("hanako@example.jp"), "{table}");
        let one = operator(&app, &["orders", "get", &a.id]);
        let one = String::from_utf8_lossy(&one.stdout).into_owned();
        assert!(one.contains("山田 太郎 <Taro.Yamada@Example.JP> +81 90-1234-5678"), "{one}");

        let long = format!("yamada-{}", "x".repeat(300));
        let refused = operator(&app, &["orders", "list", "--email", &long]);
        assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
        assert!(stderr(&refused).contains("--email") && !stderr(&refused).contains("yamada-"), "{}", stderr(&refused));
    }
}
