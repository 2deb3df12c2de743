//! Wiring: database, providers (real or sandbox), use cases, gRPC server.
//! `Application::build` binds the listener and returns, so tests can serve
//! on port 0 and learn the address.

use std::future::Future;

use futures::FutureExt;
use std::net::SocketAddr;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretSlice, SecretString};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::grpc::auth::{AuthLayer, AuthMode, AuthSettings};
use crate::grpc::callers::Callers;
use crate::grpc::health_listener::HealthListener;
use crate::grpc::rate_limit::{RateLimit, RateLimiter};
use crate::grpc::{self, PaymentApi};
use crate::observability::metrics_server::MetricsServer;
use crate::payments::{CrashSwitch, Payments, PaymentsConfig};
use crate::proto::v1::payment_service_server::PaymentServiceServer;
#[cfg(feature = "sandbox")]
use crate::providers::ProviderSettings;
use crate::providers::Registry;
#[cfg(feature = "sandbox")]
use crate::providers::payjp::config::PayjpSettings;
#[cfg(feature = "sandbox")]
use crate::providers::paymentoptions::DEFAULT_PATH_PREFIX;
#[cfg(feature = "sandbox")]
use crate::providers::paymentoptions::config::PaymentOptionsSettings;
#[cfg(feature = "sandbox")]
use crate::providers::smartpay::config::SmartpaySettings;
#[cfg(feature = "sandbox")]
use crate::sandbox::{
    PAYJP_SANDBOX_SECRET_KEY, PAYMENTOPTIONS_SANDBOX_API_KEY, PAYMENTOPTIONS_SANDBOX_MERCHANT_ID,
    SMARTPAY_SANDBOX_SECRET_KEY, Sandbox, SandboxOptions,
};
use crate::store::{Store, StoreOptions};
use crate::webhooks::WebhookServer;

mod console;
mod webhooks;

/// Kept here too, where callers have long found it.
pub use crate::tls_provider::install_crypto_provider;

/// Connects to the database.
pub async fn connect_store(config: &Config) -> anyhow::Result<Store> {
    let options = StoreOptions {
        max_connections: config.database_max_connections,
        event_feed_buffer: config.event_feed_buffer,
        order_view_cache: config.order_view_cache,
        ..StoreOptions::default()
    };
    Ok(Store::connect(config.database_url.expose_secret(), &options).await?)
}

/// Applies pending migrations, or, where another process migrates, refuses
/// to serve on a schema that is behind.
async fn prepare_schema(store: &Store, config: &Config) -> anyhow::Result<()> {
    if config.migrate_on_start {
        store.migrate().await?;
    } else {
        match store.pending_migrations().await? {
            0 => {}
            pending => anyhow::bail!(
                "the database schema is older than this binary ({pending} migration(s) missing) and KESSAI_MIGRATE_ON_START is false: run `kessai migrate` first"
            ),
        }
    }
    if !store.search_indexed().await? {
        tracing::warn!(
            "no substring index for ListOrders' customer and free-text search ({}): searches \
             read the orders newest first, slower the rarer the text; see README, Searching orders",
            match store.backend() {
                sea_orm::DatabaseBackend::Sqlite => "this SQLite has no FTS5 trigram tokenizer",
                _ => "PostgreSQL's pg_trgm extension could not be created",
            }
        );
    }
    Ok(())
}

/// The use cases' settings from the configuration (no crash point).
pub(crate) fn payments_config(config: &Config) -> PaymentsConfig {
    // Longer than any provider call with its retries.
    let derived_lease = (config.provider_http.request_timeout.as_secs() + 5)
        * u64::from(config.provider_http.max_attempts)
        * 2;
    let lease = config
        .in_flight_lease
        .unwrap_or(std::time::Duration::from_secs(derived_lease));
    PaymentsConfig {
        idempotency_ttl: config.idempotency_ttl,
        in_flight_lease: chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(2)),
        crash: None,
        fingerprint_key: fingerprint_key(&config.fingerprint_key),
        action_ttl: config.action_ttl,
        max_operations: config.limits.max_operations,
        admission_wait: config.limits.admission_wait,
        hint_interval: config.webhooks.hint_interval,
        max_watchers: config.limits.max_watchers,
        max_watchers_per_caller: config.limits.max_watchers_per_caller,
    }
}

pub struct Application {
    addr: SocketAddr,
    listener: TcpListener,
    payments: Payments,
    reporter: HealthReporter,
    shutdown: CancellationToken,
    sandbox: Option<Sandbox>,
    metrics: Option<MetricsServer>,
    health: Option<HealthListener>,
    config: Config,
    webhooks: Option<WebhookServer>,
    webhook_addr: Option<SocketAddr>,
    console: Option<console::ConsoleListener>,
    console_addr: Option<SocketAddr>,
}

impl Application {
    pub async fn build(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        install_crypto_provider();
        let store = connect_store(&config).await?;
        prepare_schema(&store, &config).await?;
        let webhook_listener = webhooks::bind(&config).await?;
        let webhook_addr = webhook_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let webhook_base = webhooks::base_url(&config, webhook_addr);
        let (registry, sandbox) =
            providers(&config, clock.clone(), webhook_base.as_deref()).await?;
        #[cfg(feature = "sandbox")]
        if let (Some(sandbox), Some(_), Some(base)) = (&sandbox, webhook_addr, &webhook_base) {
            webhooks::notify_self(sandbox, &config, base);
        }
        let crash = config
            .test_crash_at
            .as_deref()
            .and_then(CrashSwitch::parse)
            .map(|switch| {
                tracing::warn!(
                    point = config.test_crash_at.as_deref().unwrap_or_default(),
                    "KESSAI_TEST_CRASH_AT is set: this process will abort at that point (tests only)"
                );
                Arc::new(switch)
            });
        let payments = Payments::new(
            store,
            registry,
            clock.clone(),
            PaymentsConfig {
                crash,
                ..payments_config(&config)
            },
        );
        let console = console::bind(&config, &payments, clock.clone()).await?;
        let console_addr = console.as_ref().and_then(console::ConsoleListener::addr);
        if let Some(console) = &console
            && let Some(addr) = console_addr
        {
            tracing::info!(url = %format!("{}://{addr}/", console.scheme()), "the operator console is serving");
        }
        let webhooks = webhook_listener
            .map(|listener| webhooks::server(listener, &config, payments.clone(), clock))
            .transpose()?;
        let listener = TcpListener::bind(config.listen_addr).await?;
        let addr = listener.local_addr()?;
        let metrics = match config.metrics_addr {
            Some(addr) => Some(MetricsServer::bind(addr, metrics_limits(&config)).await?),
            None => None,
        };
        let health = match config.health_addr {
            Some(addr) => Some(HealthListener::bind(addr).await?),
            None => None,
        };
        let reporter = HealthReporter::new();
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        reporter
            .set_service_status(grpc::health::PAYMENT_SERVICE, ServingStatus::NotServing)
            .await;
        Ok(Self {
            addr,
            listener,
            payments,
            reporter,
            shutdown: CancellationToken::new(),
            sandbox,
            metrics,
            health,
            config,
            webhooks,
            webhook_addr,
            console,
            console_addr,
        })
    }

    /// Where the operator console serves, when it does.
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console_addr
    }

    /// Where the provider webhook listener serves, when
    /// `KESSAI_WEBHOOK_ADDR` is set.
    pub fn webhook_addr(&self) -> Option<SocketAddr> {
        self.webhook_addr
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where gRPC health is also served in plaintext, when
    /// `KESSAI_HEALTH_ADDR` is set.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health.as_ref().map(HealthListener::addr)
    }

    /// Where `/metrics` is served, when `KESSAI_METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsServer::addr)
    }

    pub fn payments(&self) -> &Payments {
        &self.payments
    }

    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// Fires the same drain and shutdown as SIGTERM.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until `signal` completes (or the shutdown token fires), then
    /// drains: health goes NOT_SERVING, new calls are refused after the
    /// drain delay, and calls in flight finish.
    pub async fn run_until_stopped(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                signal.await;
                shutdown.cancel();
            }
        });
        // Scrapes keep working while the server drains.
        let metrics_addr = self.metrics_addr();
        let metrics_stop = CancellationToken::new();
        let metrics = self.metrics.map(|server| {
            tokio::spawn(server.serve(self.payments.store().clone(), metrics_stop.clone()))
        });
        // Probes keep their answers (NOT_SERVING while draining) until
        // kessai stops.
        let health_addr = self.health.as_ref().map(HealthListener::addr);
        let health_stop = CancellationToken::new();
        let health = self.health.take().map(|listener| {
            tokio::spawn(listener.serve(
                self.reporter.clone(),
                connection_limits(&self.config.limits),
                self.config.reflection,
                health_stop.clone(),
            ))
        });
        let webhook_server = self
            .webhooks
            .take()
            .map(|server| tokio::spawn(server.run(shutdown.clone())));
        let console = self
            .console
            .take()
            .map(|console| tokio::spawn(console.serve(shutdown.clone())));
        let reconciler = tokio::spawn(reconcile_periodically(
            self.payments.clone(),
            self.config.reconcile_interval,
            shutdown.clone(),
        ));
        let watcher = tokio::spawn(grpc::health::watch_database(
            self.reporter.clone(),
            self.payments.store().clone(),
            grpc::HEALTH_INTERVAL,
            shutdown.clone(),
        ));
        let (reflection_v1, reflection_v1alpha) = if self.config.reflection {
            let v1 = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
                .build_v1()?;
            // grpcurl 1.8.6 speaks only v1alpha.
            let v1alpha = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
                .build_v1alpha()?;
            (Some(v1), Some(v1alpha))
        } else {
            (None, None)
        };
        let limits = &self.config.limits;
        let api = PaymentServiceServer::new(
            PaymentApi::new(self.payments.clone()).stop_streams_on(shutdown.clone()),
        )
        .max_decoding_message_size(limits.max_message_bytes);
        let auth = auth_layer(&self.config)?;
        let server = tonic::transport::Server::builder()
            // Above kessai's own limit, so that metadata between the two is
            // answered RESOURCE_EXHAUSTED METADATA_TOO_LARGE by the auth
            // layer; beyond it HTTP/2 itself refuses the stream (431).
            .http2_max_header_list_size(
                limits
                    .max_metadata_bytes
                    .saturating_mul(4)
                    .max(HEADER_LIST_CEILING),
            )
            .max_concurrent_streams(limits.max_streams_per_connection)
            .http2_keepalive_interval(Some(limits.keepalive_interval))
            .http2_keepalive_timeout(Some(limits.keepalive_timeout))
            .timeout(limits.request_timeout);
        let tls = self
            .config
            .tls
            .as_ref()
            .map(grpc::tls::server_config)
            .transpose()?;

        let reporter = self.reporter.clone();
        let drain_delay = self.config.drain_delay;
        let stop_accepting = {
            let shutdown = shutdown.clone();
            async move {
                shutdown.cancelled().await;
                tracing::info!("shutting down: draining");
                grpc::health::drain(&reporter).await;
                tokio::time::sleep(drain_delay).await;
            }
        };
        tracing::info!(
            addr = %self.addr,
            metrics_addr = metrics_addr.map(|a| a.to_string()),
            health_addr = health_addr.map(|a| a.to_string()),
            "kessai serving gRPC"
        );
        let in_flight = grpc::InFlight::default();
        let router = server
            .layer(grpc::connections::ActivityLayer)
            .layer(grpc::call_layers(
                in_flight.clone(),
                auth,
                self.config.access_log,
            ))
            .add_service(tonic_health::pb::health_server::HealthServer::new(
                tonic_health::server::HealthService::from_health_reporter(self.reporter.clone()),
            ))
            .add_optional_service(reflection_v1)
            .add_optional_service(reflection_v1alpha)
            .add_service(api);
        let incoming = grpc::connections::incoming(self.listener, connection_limits(limits));
        let serve = match tls {
            None => router
                .serve_with_incoming_shutdown(incoming, stop_accepting)
                .boxed(),
            Some(tls) => router
                .serve_with_incoming_shutdown(
                    grpc::tls::incoming(incoming, tls, limits.handshake_timeout),
                    stop_accepting,
                )
                .boxed(),
        };
        // Idle client connections may stay open indefinitely (and hyper's
        // graceful close can wait on them), so shutdown waits for the calls
        // in flight, not for the connections.
        let timeout = self.config.shutdown_timeout;
        let calls_finished = async {
            shutdown.cancelled().await;
            tokio::time::sleep(drain_delay).await;
            if !in_flight.wait_idle(timeout).await {
                tracing::warn!(
                    in_flight = in_flight.current(),
                    "calls still in flight after the shutdown timeout; stopping anyway"
                );
            }
            // Let the last responses leave the socket.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        let result = tokio::select! {
            result = serve => result.map_err(anyhow::Error::from),
            () = calls_finished => Ok(()),
        };
        watcher.abort();
        reconciler.abort();
        metrics_stop.cancel();
        stop_listener(metrics).await;
        stop_listener(console).await;
        if let Some(server) = webhook_server {
            // Notifications being applied finish; the rest are redelivered.
            let abort = server.abort_handle();
            if tokio::time::timeout(timeout, server).await.is_err() {
                abort.abort();
            }
        }
        // Operations whose callers went away still record their outcomes
        // (the simulators and the pool are needed until then).
        self.payments.drain(timeout).await;
        if let Some(sandbox) = self.sandbox {
            sandbox.stop().await;
        }
        self.payments.store().clone().close().await;
        health_stop.cancel();
        stop_listener(health).await;
        tracing::info!("kessai stopped");
        result
    }
}

/// Who may call, from `KESSAI_AUTH` and `KESSAI_CALLERS`.
fn auth_layer(config: &Config) -> anyhow::Result<AuthLayer> {
    let callers = match &config.callers {
        Some(json) => Callers::parse(json).map_err(|e| anyhow::anyhow!("KESSAI_CALLERS: {e}"))?,
        None => Callers::default(),
    };
    let mode = if config.auth_required {
        anyhow::ensure!(
            !callers.is_empty(),
            "KESSAI_CALLERS names no caller, so nobody could call"
        );
        tracing::info!(callers = ?callers, "caller authentication on");
        AuthMode::Required
    } else if config.sandbox() {
        tracing::warn!(
            "caller authentication is off in sandbox mode: anyone who reaches the port may call"
        );
        AuthMode::Off
    } else {
        tracing::warn!(
            "KESSAI_AUTH=false: caller authentication is OFF outside sandbox mode; anyone who reaches the port can move money"
        );
        AuthMode::Off
    };
    let limits = &config.limits;
    let limit = (limits.rate_per_second > 0.0).then_some(RateLimit {
        per_second: limits.rate_per_second,
        burst: limits.rate_burst.max(1.0),
    });
    Ok(AuthLayer::new(AuthSettings {
        mode,
        callers,
        limiter: RateLimiter::new(limit),
        max_metadata_entries: limits.max_metadata_entries,
        max_metadata_bytes: limits.max_metadata_bytes as usize,
    }))
}

/// Waits a moment for a listener told to stop (metrics, health), then
/// aborts it: a scraper's or a prober's open connection must not hold the
/// exit up.
async fn stop_listener<T>(task: Option<tokio::task::JoinHandle<T>>) {
    if let Some(mut task) = task {
        let wait = std::time::Duration::from_secs(2);
        if tokio::time::timeout(wait, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// The least HTTP/2 header-list size kessai accepts before its own check.
const HEADER_LIST_CEILING: u32 = 64 * 1024;

fn connection_limits(limits: &crate::config::Limits) -> grpc::connections::ConnectionLimits {
    grpc::connections::ConnectionLimits {
        max_connections: crate::descriptors::connections_within_limit(limits.max_connections),
        handshake_timeout: limits.handshake_timeout,
        idle_timeout: limits.idle_timeout,
    }
}

/// The metrics listener's: a cap of its own, the gRPC port's deadlines for
/// the first bytes (and the headers) and for idle connections.
fn metrics_limits(config: &Config) -> grpc::http_listener::ListenerLimits {
    grpc::http_listener::ListenerLimits {
        name: "metrics",
        connections: grpc::connections::ConnectionLimits {
            max_connections: config.metrics_max_connections,
            handshake_timeout: config.limits.handshake_timeout,
            idle_timeout: config.limits.idle_timeout,
        },
        header_timeout: config.limits.handshake_timeout,
    }
}

/// Settles lost answers and polls providers until shutdown. Every replica
/// runs one; leases keep them off each other's work.
async fn reconcile_periodically(
    payments: Payments,
    every: std::time::Duration,
    stop: CancellationToken,
) {
    if every.is_zero() {
        tracing::info!("reconciliation worker off (KESSAI_RECONCILE_INTERVAL_SECS=0)");
        return;
    }
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match payments.reconcile_once().await {
            Ok(report) if report != crate::payments::ReconcileReport::default() => {
                tracing::info!(?report, "reconciliation pass");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "reconciliation pass failed"),
        }
    }
}

fn fingerprint_key(key: &SecretString) -> SecretSlice<u8> {
    SecretSlice::from(key.expose_secret().as_bytes().to_vec())
}

/// The provider adapters, pointed at the real providers or, in sandbox
/// mode, at the simulators started here.
#[cfg_attr(not(feature = "sandbox"), allow(unused_variables))]
pub(crate) async fn providers(
    config: &Config,
    clock: SharedClock,
    webhook_base: Option<&str>,
) -> anyhow::Result<(Registry, Option<Sandbox>)> {
    #[cfg(not(feature = "sandbox"))]
    if config.sandbox() {
        anyhow::bail!(SANDBOX_NOT_BUILT);
    }
    #[cfg(feature = "sandbox")]
    if config.sandbox() {
        tracing::info!("{}", config.sandbox_state);
        let options = SandboxOptions {
            state: config.sandbox_state.path().map(ToOwned::to_owned),
        };
        let sandbox = Sandbox::start_with(config.sandbox_addr, clock, options).await?;
        tracing::warn!(
            simulators = %sandbox.addr(),
            "SANDBOX MODE: no provider credentials are configured, so every provider is a built-in \
             simulator on loopback. No real money moves and every order has livemode=false. Set \
             provider credentials (and KESSAI_SANDBOX=false) to use the real providers."
        );
        let registry = sandbox_settings(&sandbox).registry(&config.provider_http, webhook_base);
        return Ok((registry, Some(sandbox)));
    }
    let registry = config
        .providers
        .registry(&config.provider_http, webhook_base);
    let configured: Vec<&str> = registry.kinds().map(|k| k.as_str()).collect();
    tracing::info!(providers = ?configured, "providers configured");
    Ok((registry, None))
}

#[cfg(feature = "sandbox")]
/// Every provider, pointed at its simulator with the sandbox's keys.
fn sandbox_settings(sandbox: &Sandbox) -> ProviderSettings {
    ProviderSettings {
        payjp: Some(PayjpSettings {
            base_url: sandbox.payjp_base_url(),
            secret_key: SecretString::from(PAYJP_SANDBOX_SECRET_KEY),
        }),
        smartpay: Some(SmartpaySettings {
            base_url: sandbox.smartpay_base_url(),
            secret_key: SecretString::from(SMARTPAY_SANDBOX_SECRET_KEY),
        }),
        paymentoptions: Some(PaymentOptionsSettings {
            base_url: sandbox.paymentoptions_base_url(),
            path_prefix: DEFAULT_PATH_PREFIX.into(),
            api_key: SecretString::from(PAYMENTOPTIONS_SANDBOX_API_KEY),
            merchant_id: PAYMENTOPTIONS_SANDBOX_MERCHANT_ID.into(),
            auth_base64: false,
        }),
        #[cfg(feature = "example-provider")]
        example: Some(crate::providers::example::config::sandbox(sandbox)),
    }
}

/// Why sandbox mode cannot start in a kessai built without the simulators.
pub const SANDBOX_NOT_BUILT: &str = "sandbox mode needs the provider simulators, and this kessai \
     was built without them (the `sandbox` cargo feature, on by default): configure provider \
     credentials, or use a kessai built with default features";

/// Built without the `sandbox` feature, kessai has no simulators to hold.
#[cfg(not(feature = "sandbox"))]
pub enum Sandbox {}

#[cfg(not(feature = "sandbox"))]
impl Sandbox {
    async fn stop(self) {
        match self {}
    }
}
