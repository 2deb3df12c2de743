//! A kessai server on port 0 with a fresh database, the provider simulators
//! and a controllable clock, per test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use kessai::clock::ManualClock;
use kessai::config::Config;
use kessai::proto::v1;
use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use kessai::sandbox::Sandbox;
use kessai::sandbox::payjp::PayjpSimulator;
use kessai::sandbox::paymentoptions::PaymentOptionsSimulator;
use kessai::sandbox::smartpay::SmartpaySimulator;
use kessai::startup::Application;
use kessai::store::Store;
use sea_orm::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, ClientTlsConfig};
use tonic::{Code, Status};
use tonic_types::StatusExt;

pub use crate::requests::{
    card_authorize, payjp_authorize, smartpay_customer, smartpay_shipping, smartpay_token_authorize,
};

/// Runs the test body once on SQLite and, when `KESSAI_TEST_DATABASE_URL`
/// is set, again on PostgreSQL (each in a fresh database).
#[macro_export]
macro_rules! db_test {
    ($(#[$meta:meta])* async fn $name:ident($app:ident: TestApp) $body:block) => {
        $crate::db_test! { env: std::iter::empty::<(String, String)>(); async fn $name($app: TestApp) $body }
    };
    // With these variables set beside the usual test configuration.
    (env: $env:expr; $(#[$meta:meta])* async fn $name:ident($app:ident: TestApp) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($app: $crate::helpers::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn_setting($crate::helpers::Backend::Sqlite, $env).await;
                let database = app.database_url.clone();
                run(app).await;
                $crate::helpers::no_row_names_a_missing_order(&database).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if std::env::var("KESSAI_TEST_DATABASE_URL").is_err() {
                    eprintln!("KESSAI_TEST_DATABASE_URL is not set: the PostgreSQL run is left to .ci/run");
                    return;
                }
                let app = $crate::helpers::TestApp::spawn_setting($crate::helpers::Backend::Postgres, $env).await;
                let database = app.database_url.clone();
                run(app).await;
                $crate::helpers::no_row_names_a_missing_order(&database).await;
            }
        }
    };
}

/// Fails when an event, a provider call, a capture or a refund names an
/// order the database does not hold. On PostgreSQL no foreign key refuses
/// the first two (migration `m20261220_000010`): kessai's writes keep it
/// so, and every `db_test!` ends here to show it.
pub async fn no_row_names_a_missing_order(database_url: &str) {
    for table in ["order_events", "provider_attempts", "captures", "refunds"] {
        let orphans = count_rows(
            database_url,
            &format!("{table} t WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = t.order_id)"),
        )
        .await;
        assert_eq!(orphans, 0, "{orphans} rows of {table} name a missing order");
    }
}

/// `SELECT COUNT(*) FROM {from}` on the database at `database_url`.
async fn count_rows(database_url: &str, from: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = sea_orm::Database::connect(database_url)
        .await
        .expect("connect");
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {from}"),
        ))
        .await
        .expect("count")
        .expect("a row");
    let n = row.try_get::<i64>("", "n").expect("a count");
    let _ = conn.close().await;
    n
}

/// The Smartpay webhook signing secret kessai verifies with in tests (the
/// fixture vectors' `order_authorized` secret), and its HMAC key.
pub const SMARTPAY_WEBHOOK_SECRET: &str = "CY8NE6nvX9THLBFP9p0UgEsX1fg46GFTDL8AygzFR";
pub const SMARTPAY_WEBHOOK_KEY_HEX: &str =
    "acc019ef8c14058df9343e16b22aaf3240aa0c0bb9fb61670109e8cd0bb3";
/// The PAY.JP webhook token kessai expects in tests.
pub const PAYJP_WEBHOOK_TOKEN: &str = "whtok_it_5f1c9a7e3b2d8c40";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    /// Where kessai serves gRPC (127.0.0.1, a free port), for clients that
    /// are not this process's (grpcurl, other languages).
    pub addr: SocketAddr,
    /// Where kessai takes provider webhooks.
    pub webhook_addr: SocketAddr,
    /// Where the operator console serves, when `KESSAI_CONSOLE_ADDR` is set.
    pub console_addr: Option<SocketAddr>,
    pub client: PaymentServiceClient<Channel>,
    pub channel: Channel,
    pub clock: ManualClock,
    pub payjp: PayjpSimulator,
    pub smartpay: SmartpaySimulator,
    pub paymentoptions: PaymentOptionsSimulator,
    pub store: Store,
    pub payments: kessai::payments::Payments,
    /// The provider simulators, in their own server as the real providers
    /// would be.
    _sandbox: Sandbox,
    pub database_url: String,
    /// The configuration, to start another replica on the same database.
    env: HashMap<String, String>,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// A fresh PostgreSQL database on the server `KESSAI_TEST_DATABASE_URL`
/// points at, copied from one migrated once per test process (a copy is a
/// fraction of a migration run).
async fn fresh_postgres(admin_url: &str) -> String {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    let template = TEMPLATE
        .get_or_init(|| async {
            let name = create_postgres(admin_url, "kessai_it_template", None).await;
            let url = postgres_url(admin_url, &name);
            let store = Store::connect(&url, &Default::default())
                .await
                .expect("connect to the template database");
            store
                .migrate()
                .await
                .expect("migrate the template database");
            // A template must have no open connection when it is copied.
            store.close().await;
            name
        })
        .await;
    let name = create_postgres(admin_url, "kessai_it", Some(template)).await;
    postgres_url(admin_url, &name)
}

async fn create_postgres(admin_url: &str, prefix: &str, template: Option<&str>) -> String {
    let name = format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut admin = PgConnection::connect(admin_url)
        .await
        .expect("KESSAI_TEST_DATABASE_URL must reach PostgreSQL");
    let from = template.map_or(String::new(), |t| format!(" TEMPLATE {t}"));
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE {name}{from}")))
        .await
        .expect("create the test database");
    name
}

fn postgres_url(admin_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("a postgres:// URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A fresh database on `backend` (on PostgreSQL already migrated; kessai
/// migrates a new SQLite file at start).
pub async fn fresh_database(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => fresh_sqlite(),
        Backend::Postgres => {
            let admin =
                std::env::var("KESSAI_TEST_DATABASE_URL").expect("KESSAI_TEST_DATABASE_URL");
            fresh_postgres(&admin).await
        }
    }
}

pub fn fresh_sqlite() -> String {
    let dir = std::env::temp_dir().join("kessai-it");
    std::fs::create_dir_all(&dir).expect("temp dir");
    format!("sqlite://{}/{}.sqlite", dir.display(), ulid::Ulid::new())
}

pub fn base_env(database_url: &str) -> HashMap<String, String> {
    [
        ("KESSAI_LISTEN_ADDR", "127.0.0.1:0"),
        ("KESSAI_SANDBOX_ADDR", "127.0.0.1:0"),
        ("KESSAI_DATABASE_URL", database_url),
        ("KESSAI_DATABASE_MAX_CONNECTIONS", "8"),
        // Short provider timeouts, so fault tests are quick.
        ("KESSAI_PROVIDER_TIMEOUT_MS", "1500"),
        ("KESSAI_PROVIDER_MAX_ATTEMPTS", "2"),
        // Callers are tested in security.rs; elsewhere anyone may call.
        ("KESSAI_AUTH", "false"),
        // Tests run reconciliation themselves, when they mean to.
        ("KESSAI_RECONCILE_INTERVAL_SECS", "0"),
        ("KESSAI_WEBHOOK_ADDR", "127.0.0.1:0"),
        ("KESSAI_SMARTPAY_WEBHOOK_SECRET", SMARTPAY_WEBHOOK_SECRET),
        ("KESSAI_PAYJP_WEBHOOK_TOKEN", PAYJP_WEBHOOK_TOKEN),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        let url = fresh_database(backend).await;
        Self::spawn_with(base_env(&url)).await
    }

    /// As [`TestApp::spawn`], with `vars` set beside the usual test
    /// configuration.
    pub async fn spawn_setting<K: Into<String>, V: Into<String>>(
        backend: Backend,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut env = base_env(&fresh_database(backend).await);
        env.extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        Self::spawn_with(env).await
    }

    /// kessai configured as in production (`KESSAI_SANDBOX=false`, real
    /// adapters), pointed at the simulators by base URL. A provider whose
    /// credential `env` sets to "" is left unconfigured.
    pub async fn spawn_with(env: HashMap<String, String>) -> Self {
        Self::spawn_with_tls(env, None).await
    }

    /// As [`TestApp::spawn_with`], the client speaking TLS when `tls` is set.
    pub async fn spawn_with_tls(
        mut env: HashMap<String, String>,
        tls: Option<ClientTlsConfig>,
    ) -> Self {
        init_logs();
        let clock = ManualClock::starting_now();
        let sandbox = Sandbox::start("127.0.0.1:0".parse().unwrap(), Arc::new(clock.clone()))
            .await
            .expect("the simulators start");
        for (name, value) in crate::process::provider_env(&sandbox) {
            env.entry(name).or_insert(value);
        }
        let database_url = env["KESSAI_DATABASE_URL"].clone();
        let config =
            Config::from_lookup(|name| env.get(name).cloned()).expect("test configuration");
        let replica_env = env.clone();
        let app = Application::build(config, Arc::new(clock.clone()))
            .await
            .expect("application starts");
        let addr = app.addr();
        let webhook_addr = app.webhook_addr().expect("the webhook listener is on");
        let console_addr = app.console_addr();
        let payjp = sandbox.payjp.clone();
        let smartpay = sandbox.smartpay.clone();
        let paymentoptions = sandbox.paymentoptions.clone();
        let store = app.payments().store().clone();
        let payments = app.payments().clone();
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(async move {
            app.run_until_stopped(std::future::pending())
                .await
                .expect("server runs");
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut endpoint = Channel::from_shared(format!("{scheme}://{addr}")).expect("address");
        if let Some(tls) = tls {
            endpoint = endpoint.tls_config(tls).expect("client TLS");
        }
        let channel = endpoint.connect().await.expect("connect to kessai");
        Self {
            addr,
            webhook_addr,
            console_addr,
            client: PaymentServiceClient::new(channel.clone()),
            channel,
            clock,
            payjp,
            smartpay,
            paymentoptions,
            _sandbox: sandbox,
            store,
            payments,
            database_url,
            env: replica_env,
            shutdown,
            server: Some(server),
        }
    }

    /// Another kessai process on the same database and providers (a second
    /// replica), until the returned guard drops.
    pub async fn replica(&self) -> Replica {
        self.replica_setting(&[]).await
    }

    /// [`TestApp::replica`] with these variables set beside this one's.
    pub async fn replica_setting(&self, setting: &[(&str, &str)]) -> Replica {
        let mut env = self.env.clone();
        env.extend(setting.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config =
            Config::from_lookup(|name| env.get(name).cloned()).expect("test configuration");
        let app = Application::build(config, Arc::new(self.clock.clone()))
            .await
            .expect("the replica starts");
        let addr = app.addr();
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(async move {
            app.run_until_stopped(std::future::pending())
                .await
                .expect("the replica runs");
        });
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("address")
            .connect()
            .await
            .expect("connect to the replica");
        Replica {
            client: PaymentServiceClient::new(channel),
            shutdown,
            server,
        }
    }

    /// From now on the simulators notify kessai's webhook listener, signed
    /// as the providers sign.
    pub fn notify_kessai(&self) {
        for provider in crate::conformance::PROVIDERS {
            let url = format!("http://{}/webhooks/{}", self.webhook_addr, provider.slug);
            (provider.deliver_to)(self, url);
        }
    }

    /// Waits (at most 10 s) until the order's status is `status`, reading
    /// the stored order (no refresh).
    pub async fn until_status(&self, order_id: &str, status: v1::OrderStatus) -> v1::Order {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let order = self.get_order(order_id, false).await.expect("GetOrder");
            if order.status() == status || std::time::Instant::now() > deadline {
                return order;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The provider simulators (what they received, their base URLs).
    pub fn sandbox(&self) -> &Sandbox {
        &self._sandbox
    }

    /// Where the simulators serve, each under its own path (`/payjp`, …).
    pub fn simulators(&self) -> String {
        format!("http://{}", self._sandbox.addr())
    }

    /// One reconciliation pass.
    pub async fn reconcile(&self) -> kessai::payments::ReconcileReport {
        self.payments
            .reconcile_once()
            .await
            .expect("reconciliation runs")
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The configuration this app was started with (the `serve`
    /// environment), for the binary's other commands.
    pub fn env(&self) -> &HashMap<String, String> {
        &self.env
    }

    pub async fn authorize(&self, request: v1::AuthorizeRequest) -> Result<v1::Order, Status> {
        let response = self.client.clone().authorize(request).await?;
        Ok(response.into_inner().order.expect("an order"))
    }

    /// Authorizes `amount` yen with PAY.JP's approving test method.
    pub async fn authorized_payjp(&self, amount: i64) -> v1::Order {
        let order = self
            .authorize(payjp_authorize(
                &unique_key("auth"),
                amount,
                "pm_test_approve",
            ))
            .await
            .expect("authorize");
        assert_eq!(order.status(), v1::OrderStatus::Authorized, "{order:?}");
        order
    }

    pub async fn capture(
        &self,
        order_id: &str,
        amount: Option<i64>,
        final_capture: bool,
    ) -> Result<v1::Order, Status> {
        self.capture_with_key(&unique_key("cap"), order_id, amount, final_capture)
            .await
    }

    pub async fn capture_with_key(
        &self,
        key: &str,
        order_id: &str,
        amount: Option<i64>,
        final_capture: bool,
    ) -> Result<v1::Order, Status> {
        let response = self
            .client
            .clone()
            .capture(v1::CaptureRequest {
                idempotency_key: key.into(),
                order_id: order_id.into(),
                amount,
                final_capture,
                ..Default::default()
            })
            .await?;
        Ok(response.into_inner().order.expect("an order"))
    }

    pub async fn refund(&self, order_id: &str, amount: Option<i64>) -> Result<v1::Order, Status> {
        let response = self
            .client
            .clone()
            .refund(v1::RefundRequest {
                idempotency_key: unique_key("ref"),
                order_id: order_id.into(),
                amount,
                ..Default::default()
            })
            .await?;
        Ok(response.into_inner().order.expect("an order"))
    }

    pub async fn void(&self, order_id: &str) -> Result<v1::Order, Status> {
        let response = self
            .client
            .clone()
            .void(v1::VoidRequest {
                idempotency_key: unique_key("void"),
                order_id: order_id.into(),
            })
            .await?;
        Ok(response.into_inner().order.expect("an order"))
    }

    pub async fn get_order(&self, order_id: &str, refresh: bool) -> Result<v1::Order, Status> {
        let response = self
            .client
            .clone()
            .get_order(v1::GetOrderRequest {
                order_id: order_id.into(),
                refresh,
            })
            .await?;
        Ok(response.into_inner().order.expect("an order"))
    }

    /// The simulator's own record of a payment flow.
    pub fn ledger_flow(&self, flow_id: &str) -> kessai::sandbox::payjp::LedgerFlow {
        self.payjp
            .ledger()
            .flows
            .into_iter()
            .find(|f| f.id == flow_id)
            .unwrap_or_else(|| panic!("the simulator knows no flow {flow_id}"))
    }

    /// How many rows a table holds.
    pub async fn count(&self, table: &str) -> i64 {
        count_rows(&self.database_url, table).await
    }
}

/// A second kessai server; stops when dropped.
pub struct Replica {
    pub client: PaymentServiceClient<Channel>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.server.abort();
    }
}

pub fn unique_key(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new())
}

/// Asserts the gRPC code and the `ErrorInfo` reason of an error.
#[track_caller]
pub fn assert_error<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    reason: &str,
) -> Status {
    let status = result.expect_err("an error");
    assert_eq!(status.code(), code, "{status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo detail");
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "kessai.v1");
    status
}

fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = std::env::var("KESSAI_TEST_LOG")
            .unwrap_or_else(|_| "warn,kessai::startup=error".into());
        kessai::telemetry::init(kessai::config::LogFormat::Text, &filter);
    });
}

/// Calls until the answer is not `ABORTED` (kessai's "in progress, retry"),
/// 100 ms apart and at most 50 times: the answer, and how many `ABORTED`
/// came before it.
pub async fn retry_while_aborted<T, F, Fut>(mut call: F) -> (Result<T, Status>, usize)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Status>>,
{
    let mut aborted = 0;
    loop {
        match call().await {
            Err(status) if status.code() == Code::Aborted => {
                aborted += 1;
                assert!(
                    aborted < 50,
                    "still in progress after {aborted} tries: {status:?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            answer => return (answer, aborted),
        }
    }
}

/// Every event of one order from the start, then each new one, on `channel`.
pub async fn watch_order(
    channel: Channel,
    order_id: &str,
) -> tonic::Streaming<v1::WatchOrderEventsResponse> {
    PaymentServiceClient::new(channel)
        .watch_order_events(v1::WatchOrderEventsRequest {
            order_id: order_id.into(),
            ..Default::default()
        })
        .await
        .expect("the watch starts")
        .into_inner()
}
