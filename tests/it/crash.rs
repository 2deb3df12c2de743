//! Crash safety: kessai processes killed at each point between the commits
//! of a provider call (every provider's authorization and capture are rows
//! of the conformance suite, `conformance/crash.rs`; here the rest of a
//! PAY.JP flow), or at random with `kill -9` mid-workload, while "the
//! providers" (a `kessai sandbox` process) live on. After a restart and
//! reconciliation the books match the providers' ledgers exactly: nothing
//! lost, nothing done twice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kessai::proto::v1;
use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use kessai::sandbox::payjp::PayjpLedger;
use kessai::sandbox::smartpay::SmartpayLedger;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::chaos::{assert_books_match, order_flow};
use crate::conformance::{ledger, provider_env};

/// A child process, killed when dropped.
pub struct Process {
    child: Child,
    pub log: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    pub fn spawn(args: &[&str], env: &HashMap<String, String>) -> Self {
        let dir = std::env::temp_dir().join("kessai-it").join("processes");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{}.log", ulid::Ulid::new()));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kessai"))
            .args(args)
            .env_clear()
            .env("KESSAI_LOG_FORMAT", "json")
            .env("KESSAI_LOG", "info")
            .envs(env)
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        Self { child, log }
    }

    /// The first JSON log line with this message.
    pub async fn wait_for(&mut self, message: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(line) = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|l| l["message"] == message)
            {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the process exited ({status}) before {message:?}: {text}");
            }
            assert!(Instant::now() < deadline, "no {message:?} in: {text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no graceful anything.
    fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "the process did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The provider simulators as a process of their own.
pub struct Providers {
    _process: Process,
    /// Where they serve, each under its own path (`/payjp`, …).
    pub root: String,
}

impl Providers {
    pub async fn start() -> Self {
        let mut process = Process::spawn(&["sandbox", "--addr", "127.0.0.1:0"], &HashMap::new());
        let line = process.wait_for("sandbox serving").await;
        Self {
            root: format!("http://{}", line["addr"].as_str().unwrap()),
            _process: process,
        }
    }

    async fn ledgers(&self) -> (PayjpLedger, SmartpayLedger) {
        let payjp = ledger(&self.root, "payjp").await;
        let smartpay = ledger(&self.root, "smartpay").await;
        (
            serde_json::from_value(payjp).unwrap(),
            serde_json::from_value(smartpay).unwrap(),
        )
    }

    async fn set_latency(&self, ms: u64) {
        kessai::startup::install_crypto_provider();
        for provider in ["payjp", "smartpay"] {
            reqwest::Client::new()
                .put(format!("{}/{provider}/_sandbox/latency", self.root))
                .json(&serde_json::json!({ "ms": ms }))
                .send()
                .await
                .unwrap();
        }
    }
}

/// A fresh database: a SQLite file, or on PostgreSQL when asked and
/// `KESSAI_TEST_DATABASE_URL` is set (when it is not, `None`, said on
/// stderr).
pub async fn fresh_database(postgres: bool) -> Option<String> {
    if !postgres {
        let dir = std::env::temp_dir().join("kessai-it");
        std::fs::create_dir_all(&dir).unwrap();
        return Some(format!(
            "sqlite://{}/{}.sqlite",
            dir.display(),
            ulid::Ulid::new()
        ));
    }
    let Ok(admin) = std::env::var("KESSAI_TEST_DATABASE_URL") else {
        eprintln!("KESSAI_TEST_DATABASE_URL is not set: the PostgreSQL run is left to .ci/run");
        return None;
    };
    use sea_orm::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
    let name = format!("kessai_it_{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut conn = PgConnection::connect(&admin).await.unwrap();
    conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}

pub fn kessai_env(database_url: &str, providers: &Providers) -> HashMap<String, String> {
    [
        ("KESSAI_DATABASE_URL", database_url.to_owned()),
        ("KESSAI_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
        ("KESSAI_SANDBOX", "false".to_owned()),
        ("KESSAI_PROVIDER_MODE", "test".to_owned()),
        ("KESSAI_AUTH", "false".to_owned()),
        (
            "KESSAI_FINGERPRINT_KEY",
            "crash-test-fingerprint-key".to_owned(),
        ),
        // A dead process's calls are taken over after a second, which must
        // be longer than the longest provider call (one attempt of 0.9 s).
        ("KESSAI_PROVIDER_TIMEOUT_MS", "900".to_owned()),
        ("KESSAI_PROVIDER_MAX_ATTEMPTS", "1".to_owned()),
        ("KESSAI_IN_FLIGHT_LEASE_SECS", "1".to_owned()),
        ("KESSAI_RECONCILE_INTERVAL_SECS", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(provider_env(&providers.root))
    .collect()
}

/// The providers' process, and kessai's configuration for them on a fresh
/// database (`None` where `fresh_database` gives none).
pub async fn providers_and_env(postgres: bool) -> Option<(Providers, HashMap<String, String>)> {
    let database_url = fresh_database(postgres).await?;
    let providers = Providers::start().await;
    let env = kessai_env(&database_url, &providers);
    Some((providers, env))
}

pub async fn start_kessai(
    env: &HashMap<String, String>,
) -> (Process, PaymentServiceClient<Channel>) {
    let mut process = Process::spawn(&["serve"], env);
    let line = process.wait_for("kessai serving gRPC").await;
    let client =
        PaymentServiceClient::connect(format!("http://{}", line["addr"].as_str().unwrap()))
            .await
            .unwrap();
    (process, client)
}

/// Retries with the same key while the call is in progress elsewhere or
/// kessai cannot answer yet (a restarted kessai may still hold the key for a
/// moment): the first other answer.
pub async fn retried<T, F, Fut>(mut call: F) -> Result<tonic::Response<T>, Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
{
    for _ in 0..40 {
        match call().await {
            Err(status)
                if matches!(
                    status.code(),
                    Code::Aborted | Code::Unavailable | Code::DeadlineExceeded
                ) =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            answer => return answer,
        }
    }
    panic!("never settled");
}

/// Retries with the same key until the call is settled.
async fn settled<T, F, Fut>(call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
{
    match retried(call).await {
        Ok(response) => response.into_inner(),
        Err(status) => panic!("{status:?}"),
    }
}

/// Authorize 10,000, capture 6,000, refund 1,000, crashing kessai at
/// `point` during the `crash_at`-th of those calls, then finishing against a
/// restarted kessai with the same keys.
async fn flow_with_crash(database_url: &str, providers: &Providers, point: &str, crash_at: usize) {
    let env = kessai_env(database_url, providers);
    let mut crashing_env = env.clone();
    crashing_env.insert("KESSAI_TEST_CRASH_AT".into(), format!("{point}:{crash_at}"));
    let (mut crashing, client) = start_kessai(&crashing_env).await;
    let tag = format!("{point}-{crash_at}-{}", ulid::Ulid::new());
    let authorize = v1::AuthorizeRequest {
        idempotency_key: format!("{tag}-authorize"),
        amount: 10_000,
        currency: "JPY".into(),
        provider_details: Some(v1::authorize_request::ProviderDetails::Payjp(
            v1::PayjpDetails {
                payment_method_id: "pm_test_approve".into(),
                customer_id: "cus_test_kessai".into(),
                ..Default::default()
            },
        )),
        ..Default::default()
    };

    // Run the calls until the crash.
    let mut order_id: Option<String> = None;
    let mut crashed_at = None;
    for step in 1..=3 {
        let mut c = client.clone();
        let result = match step {
            1 => c
                .authorize(authorize.clone())
                .await
                .map(|r| r.into_inner().order),
            2 => c
                .capture(capture(&tag, order_id.as_deref().unwrap()))
                .await
                .map(|r| r.into_inner().order),
            _ => c
                .refund(refund(&tag, order_id.as_deref().unwrap()))
                .await
                .map(|r| r.into_inner().order),
        };
        match result {
            Ok(order) => order_id = order.map(|o| o.id),
            Err(_) => {
                crashed_at = Some(step);
                break;
            }
        }
    }
    assert_eq!(
        crashed_at,
        Some(crash_at),
        "the process crashed at the chosen call"
    );
    assert!(!crashing.wait_exit().success(), "it aborted");

    // Restart and finish, retrying the interrupted call with its key.
    let (_restarted, client) = start_kessai(&env).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let order = settled(|| {
        let mut c = client.clone();
        let request = authorize.clone();
        async move { c.authorize(request).await }
    })
    .await
    .order
    .unwrap();
    let id = order.id.clone();
    settled(|| {
        let mut c = client.clone();
        let request = capture(&tag, &id);
        async move { c.capture(request).await }
    })
    .await;
    let done = settled(|| {
        let mut c = client.clone();
        let request = refund(&tag, &id);
        async move { c.refund(request).await }
    })
    .await
    .order
    .unwrap();
    assert_eq!(
        (
            done.amount_authorized,
            done.amount_captured,
            done.amount_refunded
        ),
        (10_000, 6_000, 1_000),
        "{point} at call {crash_at}"
    );

    let (payjp, _) = providers.ledgers().await;
    let flows: Vec<_> = payjp
        .flows
        .iter()
        .filter(|f| f.metadata.get("kessai_order_id").and_then(|v| v.as_str()) == Some(&id))
        .collect();
    assert_eq!(
        flows.len(),
        1,
        "one payment flow at PAY.JP for {point} at call {crash_at}"
    );
    assert_eq!(
        (flows[0].captured, flows[0].refunded),
        (6_000, 1_000),
        "{point} at call {crash_at}"
    );
}

fn capture(tag: &str, order_id: &str) -> v1::CaptureRequest {
    v1::CaptureRequest {
        idempotency_key: format!("{tag}-capture"),
        order_id: order_id.to_owned(),
        amount: Some(6_000),
        ..Default::default()
    }
}

fn refund(tag: &str, order_id: &str) -> v1::RefundRequest {
    v1::RefundRequest {
        idempotency_key: format!("{tag}-refund"),
        order_id: order_id.to_owned(),
        amount: Some(1_000),
        ..Default::default()
    }
}

async fn every_crash_point(postgres: bool) {
    let Some(database_url) = fresh_database(postgres).await else {
        return;
    };
    let providers = Providers::start().await;
    // The conformance suite kills every provider's authorization and
    // capture before and after the provider call (`conformance/crash.rs`);
    // here the rest of a PAY.JP flow: the refund, and after the outcome
    // commit.
    for (point, calls) in [
        ("after_intent_commit", 3..=3),
        ("after_provider_answer", 3..=3),
        ("after_outcome_commit", 1..=3),
    ] {
        for call in calls {
            flow_with_crash(&database_url, &providers, point, call).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_any_two_commits_loses_and_doubles_nothing_sqlite() {
    every_crash_point(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_any_two_commits_loses_and_doubles_nothing_postgres() {
    every_crash_point(true).await;
}

async fn kill_mid_workload(postgres: bool) {
    let Some((providers, env)) = providers_and_env(postgres).await else {
        return;
    };
    // Slow providers, so the kill lands while calls are in flight.
    providers.set_latency(100).await;
    let (mut doomed, client) = start_kessai(&env).await;
    let flows = (0..KILL_WORKLOAD).map(|n| order_flow(client.clone(), n));
    let workload = tokio::spawn(futures::future::join_all(flows));
    tokio::time::sleep(Duration::from_millis(400)).await;
    doomed.kill_hard();
    let _ = workload.await;
    providers.set_latency(0).await;

    // A new process reconciles what the dead one left.
    let (_restarted, client) = start_kessai(&env).await;
    let left_open = open_orders(&client).await;
    eprintln!(
        "kill -9: {KILL_WORKLOAD} order flows; {} orders left open by the dead process",
        left_open.len()
    );
    // Mid-workload: flows the kill cut short, whether at that instant a
    // provider call was in flight (an order left open) or the flow was
    // between two calls (an order not yet refunded, its flow's last step).
    let unfinished = every_order(&client)
        .await
        .into_iter()
        .filter(|o| o.refunds.is_empty())
        .count();
    assert!(
        !left_open.is_empty() || unfinished > 0,
        "the kill landed mid-workload"
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let open = open_orders(&client).await;
        if open.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still open: {open:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let all = client
        .clone()
        .list_orders(v1::ListOrdersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(
        !all.orders.is_empty(),
        "the workload started before the kill"
    );
    let (payjp, smartpay) = providers.ledgers().await;
    assert_books_match(client, &payjp, &smartpay).await;
}

const KILL_WORKLOAD: usize = 24;

/// Every order of the workload (one page holds them all).
async fn every_order(client: &PaymentServiceClient<Channel>) -> Vec<v1::Order> {
    client
        .clone()
        .list_orders(v1::ListOrdersRequest {
            page_size: 200,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .orders
}

/// Orders waiting on an answer, or with a capture or refund in flight.
async fn open_orders(client: &PaymentServiceClient<Channel>) -> Vec<v1::Order> {
    every_order(client)
        .await
        .into_iter()
        .filter(|o| {
            o.status() == v1::OrderStatus::Pending
                || o.captures
                    .iter()
                    .any(|c| c.status() == v1::CaptureStatus::Pending)
                || o.refunds
                    .iter()
                    .any(|r| r.status() == v1::RefundStatus::Pending)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_workload_then_restart_the_books_match_sqlite() {
    kill_mid_workload(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_workload_then_restart_the_books_match_postgres() {
    kill_mid_workload(true).await;
}

async fn two_processes_share_the_invariants(postgres: bool) {
    let Some((providers, env)) = providers_and_env(postgres).await else {
        return;
    };
    let (_first, a) = start_kessai(&env).await;
    let (_second, b) = start_kessai(&env).await;
    let authorize = crate::helpers::smartpay_token_authorize(
        "two-processes-authorize",
        10_000,
        "paytok_test_approved",
    );
    let order = a
        .clone()
        .authorize(authorize)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let captures = (0..100).map(|i| {
        let mut client = if i % 2 == 0 { a.clone() } else { b.clone() };
        let request = v1::CaptureRequest {
            idempotency_key: format!("two-processes-capture-{i}"),
            order_id: order.id.clone(),
            amount: Some(150),
            ..Default::default()
        };
        async move { client.capture(request).await }
    });
    let results = futures::future::join_all(captures).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 66, "exactly the captures that fit");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|s| s.code() == Code::FailedPrecondition)
    );
    let stored = b
        .clone()
        .get_order(v1::GetOrderRequest {
            order_id: order.id.clone(),
            refresh: false,
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(stored.amount_captured, 9_900);
    let (_, smartpay) = providers.ledgers().await;
    let ledger = smartpay
        .orders
        .iter()
        .find(|o| o.id == order.provider_order_id)
        .unwrap();
    assert_eq!((ledger.captured, ledger.payments.len()), (9_900, 66));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_kessai_processes_on_one_database_capture_exactly_what_fits_sqlite() {
    two_processes_share_the_invariants(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_kessai_processes_on_one_database_capture_exactly_what_fits_postgres() {
    two_processes_share_the_invariants(true).await;
}
