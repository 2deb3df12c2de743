//! Sandbox mode across restarts: `kessai serve` with no credentials keeps
//! the simulators' books beside its SQLite database, so an order authorized
//! before a restart is captured after it; `kessai sandbox reset` forgets
//! both, and never touches a database that is not a sandbox's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kessai::proto::v1;
use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use tonic::transport::Channel;

use crate::crash::Process;
use crate::helpers::{payjp_authorize, unique_key};
use crate::process::kessai;

/// A directory of its own for a database and the state file beside it.
struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    fn new() -> Self {
        let dir = std::env::temp_dir()
            .join("kessai-it")
            .join(format!("sandbox-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn database(&self) -> PathBuf {
        self.dir.join("kessai.sqlite")
    }

    fn state(&self) -> PathBuf {
        self.dir.join("kessai.sandbox.json")
    }

    /// `kessai serve` in sandbox mode (no credentials) on the database here.
    fn env(&self) -> HashMap<String, String> {
        let url = format!("sqlite://{}", self.database().display());
        [("KESSAI_DATABASE_URL".to_owned(), url)].into()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A serving kessai process and a client of it.
struct Serving {
    process: Process,
    client: PaymentServiceClient<Channel>,
}

impl Serving {
    async fn start(env: &HashMap<String, String>) -> Self {
        let mut env = env.clone();
        env.insert("KESSAI_LISTEN_ADDR".into(), "127.0.0.1:0".into());
        env.insert("KESSAI_RECONCILE_INTERVAL_SECS".into(), "0".into());
        let mut process = Process::spawn(&["serve"], &env);
        let serving = process.wait_for("kessai serving gRPC").await;
        let addr = serving["addr"].as_str().expect("the address");
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connect to kessai");
        Self {
            process,
            client: PaymentServiceClient::new(channel),
        }
    }

    async fn authorize(&mut self) -> v1::Order {
        let request = payjp_authorize(&unique_key("auth"), 10_000, "pm_test_approve");
        let answer = self.client.authorize(request).await.expect("authorized");
        let order = answer.into_inner().order.expect("an order");
        assert_eq!(order.status(), v1::OrderStatus::Authorized, "{order:?}");
        order
    }

    async fn order_count(&mut self) -> usize {
        let request = v1::ListOrdersRequest::default();
        let page = self.client.list_orders(request).await.expect("listed");
        page.into_inner().orders.len()
    }

    /// SIGTERM, and a clean exit.
    fn stop(mut self) {
        let pid = self.process.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.process.wait_exit();
        let log = std::fs::read_to_string(&self.process.log).unwrap_or_default();
        assert!(status.success(), "kessai exited with {status}: {log}");
    }
}

/// Serves on `env`, authorizes one order and stops.
async fn one_order_then_stop(env: &HashMap<String, String>) -> v1::Order {
    let mut serving = Serving::start(env).await;
    let order = serving.authorize().await;
    serving.stop();
    order
}

fn reset(env: &HashMap<String, String>, args: &[&str]) -> std::process::Output {
    kessai()
        .args(["sandbox", "reset"])
        .args(args)
        .envs(env)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn an_order_authorized_before_a_restart_is_captured_after_it() {
    let here = Workspace::new();
    let order = one_order_then_stop(&here.env()).await;

    let mut again = Serving::start(&here.env()).await;
    let capture = v1::CaptureRequest {
        idempotency_key: unique_key("capture"),
        order_id: order.id.clone(),
        ..Default::default()
    };
    let captured = again.client.capture(capture).await;
    let captured = captured.expect("the simulator still knows the payment");
    let captured = captured.into_inner().order.expect("an order");
    assert_eq!(captured.status(), v1::OrderStatus::Captured, "{captured:?}");
    assert_eq!(captured.amount_captured, 10_000);
    again.stop();
    assert!(
        here.state().exists(),
        "the books are kept beside the database"
    );
}

#[tokio::test]
async fn sandbox_reset_removes_the_database_and_the_state_file() {
    let here = Workspace::new();
    one_order_then_stop(&here.env()).await;

    let output = reset(&here.env(), &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let printed = text(&output.stdout);
    for removed in [here.database(), here.state()] {
        assert!(!removed.exists(), "{} is still there", removed.display());
        let line = format!("removed {}", removed.display());
        assert!(printed.contains(&line), "{printed}");
    }

    let mut again = Serving::start(&here.env()).await;
    assert_eq!(again.order_count().await, 0);
    again.stop();
    let nothing = reset(&here.env(), &["--state", "memory"]);
    assert!(nothing.status.success(), "{}", text(&nothing.stderr));
}

#[tokio::test]
async fn sandbox_reset_leaves_alone_a_database_outside_sandbox_mode_or_with_a_live_order() {
    let here = Workspace::new();
    one_order_then_stop(&here.env()).await;

    let mut production = here.env();
    production.extend(
        [
            ("KESSAI_PAYJP_SECRET_KEY", "sk_live_kessai"),
            ("KESSAI_FINGERPRINT_KEY", "a-fingerprint-key-of-16+"),
            ("KESSAI_AUTH", "false"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned())),
    );
    let refused = reset(&production, &["--yes"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("not in sandbox mode"));
    assert!(here.database().exists() && here.state().exists());

    mark_live(&here.database()).await;
    let refused = reset(&here.env(), &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("1 live order"),
        "{}",
        text(&refused.stderr)
    );
    assert!(here.database().exists() && here.state().exists());
}

#[tokio::test]
async fn sandbox_reset_on_postgres_deletes_the_orders_only_when_confirmed() {
    if std::env::var("KESSAI_TEST_DATABASE_URL").is_err() {
        return;
    }
    let here = Workspace::new();
    let url = crate::helpers::fresh_database(crate::helpers::Backend::Postgres).await;
    let state = here.dir.join("state.json");
    let env: HashMap<String, String> = [
        ("KESSAI_DATABASE_URL", url.clone()),
        ("KESSAI_SANDBOX_STATE", state.display().to_string()),
    ]
    .map(|(name, value)| (name.to_owned(), value))
    .into();
    one_order_then_stop(&env).await;

    let unconfirmed = reset(&env, &[]);
    assert_eq!(
        unconfirmed.status.code(),
        Some(2),
        "{}",
        text(&unconfirmed.stderr)
    );
    assert!(text(&unconfirmed.stderr).contains("--yes"));
    assert!(state.exists());

    let confirmed = reset(&env, &["--yes"]);
    assert!(confirmed.status.success(), "{}", text(&confirmed.stderr));
    assert!(
        text(&confirmed.stdout).contains("deleted 1 order(s)"),
        "{}",
        text(&confirmed.stdout)
    );
    assert!(!state.exists());
    let mut again = Serving::start(&env).await;
    assert_eq!(again.order_count().await, 0);
    again.stop();
}

/// As if the order had been taken with a real provider.
async fn mark_live(database: &Path) {
    use sea_orm::{ConnectionTrait, Statement};
    let url = format!("sqlite://{}", database.display());
    let conn = sea_orm::Database::connect(&url).await.expect("connect");
    let update = Statement::from_string(
        conn.get_database_backend(),
        "UPDATE orders SET livemode = TRUE".to_owned(),
    );
    conn.execute_raw(update).await.expect("marked live");
    conn.close().await.expect("closed");
}
