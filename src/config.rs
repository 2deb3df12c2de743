//! Configuration from `KESSAI_*` environment variables, with defaults that
//! work out of the box. Secrets may also come from files (`KESSAI_…_FILE`,
//! e.g. a mounted Kubernetes Secret) and are held as `SecretString`, so no
//! `Debug` or log line can print them.

use std::net::SocketAddr;
use std::time::Duration;

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};

pub use crate::env_vars::{ConfigError, Mode};
use crate::env_vars::{Env, known};

use crate::providers::ProviderSettings;
use crate::providers::http::HttpSettings;

mod console;
#[cfg(test)]
mod every_mistake;
mod sandbox_state;
mod summary;
mod webhooks;

pub use console::ConsoleSettings;
pub use sandbox_state::{InMemoryBecause, SandboxState, SqliteDatabase, sqlite_database};
pub use webhooks::WebhookSettings;

pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:50051";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://kessai.sqlite";
/// KESSAI_DATABASE_MAX_CONNECTIONS when unset. On PostgreSQL a step's
/// connection mostly waits for its commit to be durable, so a pool larger
/// than the cores keeps them busy: on 2 cores, 16 made 20 % more
/// Authorize calls a second than 4 (BENCHMARKS.md, "The pool").
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Serving TLS, optionally requiring client certificates.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub certificate_pem: String,
    pub key_pem: SecretString,
    /// Client certificates must chain to this CA (mutual TLS).
    pub client_ca_pem: Option<String>,
}

/// Limits on what one call may carry.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_metadata_bytes: u32,
    pub max_metadata_entries: usize,
    /// Calls per second per caller (per replica); zero: no limit.
    pub rate_per_second: f64,
    pub rate_burst: f64,
    /// Money operations running at once on this replica (see
    /// `payments/to_completion.rs`); beyond it calls wait, then are refused.
    pub max_operations: usize,
    /// How long a call waits for a place among them.
    pub admission_wait: Duration,
    /// Event streams (WatchOrderEvents) open at once on this replica, and
    /// per caller; beyond either a new one is refused.
    pub max_watchers: usize,
    pub max_watchers_per_caller: usize,
    /// Open gRPC connections; beyond it kessai stops accepting.
    pub max_connections: usize,
    /// How long a new connection may take to send its first bytes.
    pub handshake_timeout: Duration,
    /// A connection without a call for this long is closed; `None`: never.
    pub idle_timeout: Option<Duration>,
    pub max_streams_per_connection: u32,
    /// HTTP/2 keepalive pings, and how long an answer may take.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// The longest a call may take when its caller sets no shorter deadline
    /// (a stream's messages excepted).
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen_addr: SocketAddr,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    /// New order events kept for streams slow to take them.
    pub event_feed_buffer: usize,
    /// Views of orders kept to answer reads that find the same versions;
    /// 0 keeps none.
    pub order_view_cache: usize,
    /// Apply pending migrations at start. Off where a single job migrates
    /// (the Helm chart's hook): then start-up only checks the schema.
    pub migrate_on_start: bool,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// One INFO line per call (`KESSAI_ACCESS_LOG`); faults are logged
    /// regardless.
    pub access_log: bool,
    /// The built-in provider simulators, or the providers' test or live
    /// environments (`KESSAI_SANDBOX`, `KESSAI_PROVIDER_MODE`).
    pub mode: Mode,
    pub sandbox_addr: SocketAddr,
    /// Where the simulators keep their books in sandbox mode.
    pub sandbox_state: SandboxState,
    /// Each provider's credentials; none in sandbox mode.
    pub providers: ProviderSettings,
    pub provider_http: HttpSettings,
    pub fingerprint_key: SecretString,
    pub idempotency_ttl: chrono::Duration,
    /// How long an order may wait for the shopper (checkout, 3-D Secure).
    pub action_ttl: chrono::Duration,
    /// How often reconciliation runs; zero turns the worker off.
    pub reconcile_interval: Duration,
    /// How long a call may hold its idempotency key (and its provider call
    /// stay in flight) before it is presumed dead; derived from the provider
    /// timeouts unless set.
    pub in_flight_lease: Option<Duration>,
    /// Test-only crash point (see `payments::CrashSwitch`).
    pub test_crash_at: Option<String>,
    /// Callers must authenticate (on by default outside sandbox mode).
    pub auth_required: bool,
    /// `KESSAI_CALLERS`: the callers, their token hashes and scopes.
    pub callers: Option<SecretString>,
    pub tls: Option<TlsSettings>,
    /// Serve gRPC reflection.
    pub reflection: bool,
    pub limits: Limits,
    /// Wait after turning NOT_SERVING before refusing new calls, so load
    /// balancers stop routing here first.
    pub drain_delay: Duration,
    /// How long in-flight calls may take to finish at shutdown.
    pub shutdown_timeout: Duration,
    /// Where to serve Prometheus metrics (`/metrics`); off when unset.
    pub metrics_addr: Option<SocketAddr>,
    /// Where to serve gRPC health in plaintext besides the gRPC port (for
    /// probes when that port requires TLS); off when unset.
    pub health_addr: Option<SocketAddr>,
    /// Open connections to the metrics listener; beyond it kessai stops
    /// accepting. Its first bytes and idle connections are bounded as the
    /// gRPC port's (`limits`).
    pub metrics_max_connections: usize,
    pub webhooks: WebhookSettings,
    pub console: ConsoleSettings,
}

/// The key used when none is configured in sandbox mode. Fine for fake
/// money; outside sandbox mode a key must be configured.
const SANDBOX_FINGERPRINT_KEY: &str = "kessai-sandbox-fingerprint-key";

impl Config {
    /// Whether the built-in simulators stand in for every provider.
    pub fn sandbox(&self) -> bool {
        self.mode.is_sandbox()
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        Self::from_vars(&vars)
    }

    /// Reads `vars`, where a `KESSAI_*` name kessai does not know is a
    /// mistake too (a typo would otherwise leave its setting at the default
    /// without a word).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let unknown = known::unknown(vars.keys().map(String::as_str))
            .into_iter()
            .map(|(name, suggestion)| ConfigError::Unknown { name, suggestion })
            .collect();
        Self::checked(|name| vars.get(name).cloned(), unknown)
    }

    /// Reads variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::checked(lookup, Vec::new())
    }

    /// Every bad value and unknown name in one error; an inconsistency
    /// (read with the bad values at their defaults) after them.
    fn checked(
        lookup: impl Fn(&str) -> Option<String>,
        unknown: Vec<ConfigError>,
    ) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        let read = Self::read(&env);
        let mut errors: Vec<ConfigError> = Vec::new();
        // A secret is read more than once (is any credential set? then the
        // settings): its problem is said once.
        for error in env.into_errors().into_iter().chain(unknown) {
            if !errors.contains(&error) {
                errors.push(error);
            }
        }
        let config = match read {
            Ok(config) => Some(config),
            Err(error) => {
                errors.push(error);
                None
            }
        };
        match (ConfigError::all(errors), config) {
            (Some(error), _) => Err(error),
            (None, Some(config)) => Ok(config),
            (None, None) => unreachable!("a failed read leaves an error"),
        }
    }

    fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let any_credential = ProviderSettings::any_credential(env)?;
        let sandbox = env.parse_bool("KESSAI_SANDBOX")?.unwrap_or(!any_credential);
        let mode = Mode::from_env(env, sandbox);
        let providers = ProviderSettings::from_env(env, mode)?;
        if !sandbox && providers.is_empty() {
            return Err(ConfigError::Inconsistent(
                "KESSAI_SANDBOX is false but no provider has credentials: set KESSAI_PAYJP_SECRET_KEY, \
                 KESSAI_SMARTPAY_SECRET_KEY or KESSAI_PAYMENTOPTIONS_API_KEY with \
                 KESSAI_PAYMENTOPTIONS_MERCHANT_ID (or unset every credential to serve the sandbox)"
                    .into(),
            ));
        }
        let fingerprint_key = match (env.secret("KESSAI_FINGERPRINT_KEY")?, sandbox) {
            (Some(key), _) if key.expose_secret().len() < 16 => {
                env.reject("KESSAI_FINGERPRINT_KEY", "must be at least 16 characters");
                key
            }
            (Some(key), _) => key,
            (None, true) => SecretString::from(SANDBOX_FINGERPRINT_KEY),
            (None, false) => {
                return Err(ConfigError::Inconsistent(
                    "KESSAI_FINGERPRINT_KEY is required outside sandbox mode: a random string of at \
                     least 16 characters, the same on every replica"
                        .into(),
                ));
            }
        };
        let auth_required = env.parse_bool("KESSAI_AUTH")?.unwrap_or(!sandbox);
        let callers = env.secret("KESSAI_CALLERS")?;
        if auth_required && callers.is_none() {
            return Err(ConfigError::Inconsistent(
                "caller authentication is on (the default outside sandbox mode) but KESSAI_CALLERS \
                 names no caller; configure callers, or set KESSAI_AUTH=false to let anyone call"
                    .into(),
            ));
        }
        let tls = match (
            env.get("KESSAI_TLS_CERT_FILE"),
            env.get("KESSAI_TLS_KEY_FILE"),
        ) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsSettings {
                certificate_pem: env.read_file("KESSAI_TLS_CERT_FILE", &cert),
                key_pem: SecretString::from(env.read_file("KESSAI_TLS_KEY_FILE", &key)),
                client_ca_pem: env
                    .get("KESSAI_TLS_CLIENT_CA_FILE")
                    .map(|path| env.read_file("KESSAI_TLS_CLIENT_CA_FILE", &path)),
            }),
            (Some(_), None) | (None, Some(_)) => {
                return Err(ConfigError::Inconsistent(
                    "TLS needs both KESSAI_TLS_CERT_FILE and KESSAI_TLS_KEY_FILE".into(),
                ));
            }
        };
        if tls.is_none() && env.get("KESSAI_TLS_CLIENT_CA_FILE").is_some() {
            return Err(ConfigError::Inconsistent(
                "KESSAI_TLS_CLIENT_CA_FILE (mutual TLS) needs KESSAI_TLS_CERT_FILE and KESSAI_TLS_KEY_FILE".into(),
            ));
        }
        let tls_on = tls.is_some();
        let limits = Limits {
            max_message_bytes: env.parse("KESSAI_MAX_MESSAGE_BYTES")?.unwrap_or(256 * 1024),
            max_metadata_bytes: env.parse("KESSAI_MAX_METADATA_BYTES")?.unwrap_or(16 * 1024),
            max_metadata_entries: env.parse("KESSAI_MAX_METADATA_ENTRIES")?.unwrap_or(64),
            rate_per_second: env.parse("KESSAI_RATE_LIMIT_PER_SECOND")?.unwrap_or(200.0),
            rate_burst: env.parse("KESSAI_RATE_LIMIT_BURST")?.unwrap_or(400.0),
            max_operations: at_least_one(env, "KESSAI_MAX_OPERATIONS", 256)?,
            admission_wait: Duration::from_millis(
                env.parse("KESSAI_ADMISSION_WAIT_MS")?.unwrap_or(2_000),
            ),
            max_watchers: at_least_one(env, "KESSAI_MAX_WATCHERS", 10_000)?,
            max_watchers_per_caller: at_least_one(env, "KESSAI_MAX_WATCHERS_PER_CALLER", 1_000)?,
            max_connections: at_least_one(env, "KESSAI_MAX_CONNECTIONS", 1_000)?,
            handshake_timeout: Duration::from_secs(
                env.parse("KESSAI_HANDSHAKE_TIMEOUT_SECS")?.unwrap_or(10),
            ),
            idle_timeout: match env.parse("KESSAI_IDLE_TIMEOUT_SECS")?.unwrap_or(300) {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            max_streams_per_connection: env
                .parse("KESSAI_MAX_STREAMS_PER_CONNECTION")?
                .unwrap_or(256),
            keepalive_interval: Duration::from_secs(
                env.parse("KESSAI_KEEPALIVE_SECS")?.unwrap_or(30),
            ),
            keepalive_timeout: Duration::from_secs(
                env.parse("KESSAI_KEEPALIVE_TIMEOUT_SECS")?.unwrap_or(10),
            ),
            request_timeout: Duration::ZERO,
        };
        let database_url = env
            .secret("KESSAI_DATABASE_URL")?
            .unwrap_or_else(|| SecretString::from(DEFAULT_DATABASE_URL));
        let provider_http = HttpSettings {
            request_timeout: Duration::from_millis(
                env.parse("KESSAI_PROVIDER_TIMEOUT_MS")?.unwrap_or(15_000),
            ),
            max_attempts: env.parse("KESSAI_PROVIDER_MAX_ATTEMPTS")?.unwrap_or(3),
            ..HttpSettings::default()
        };
        // A call may spend its admission wait, then the whole provider call
        // with its retries, then two commits.
        let derived_timeout =
            limits.admission_wait + provider_http.longest_call() + Duration::from_secs(10);
        let limits = Limits {
            request_timeout: match env.parse::<u64>("KESSAI_REQUEST_TIMEOUT_SECS")? {
                Some(0) => {
                    env.reject("KESSAI_REQUEST_TIMEOUT_SECS", "must be at least 1");
                    derived_timeout
                }
                Some(secs) => Duration::from_secs(secs),
                None => derived_timeout,
            },
            ..limits
        };
        Ok(Self {
            auth_required,
            callers,
            tls,
            reflection: env.parse_bool("KESSAI_REFLECTION")?.unwrap_or(true),
            limits,
            listen_addr: env
                .parse("KESSAI_LISTEN_ADDR")?
                .unwrap_or_else(|| DEFAULT_LISTEN_ADDR.parse().expect("valid default")),
            sandbox_state: sandbox_state::from_env(env, database_url.expose_secret()),
            database_url,
            database_max_connections: env
                .parse("KESSAI_DATABASE_MAX_CONNECTIONS")?
                .unwrap_or(DEFAULT_DATABASE_MAX_CONNECTIONS),
            event_feed_buffer: at_least_one(
                env,
                "KESSAI_EVENT_FEED_BUFFER",
                crate::store::DEFAULT_EVENT_FEED_BUFFER,
            )?,
            order_view_cache: env
                .parse("KESSAI_ORDER_VIEW_CACHE")?
                .unwrap_or(crate::store::DEFAULT_VIEW_CACHE_ENTRIES),
            migrate_on_start: env.parse_bool("KESSAI_MIGRATE_ON_START")?.unwrap_or(true),
            log_format: match env.get("KESSAI_LOG_FORMAT").as_deref() {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    env.reject(
                        "KESSAI_LOG_FORMAT",
                        format!("must be text or json, got {other:?}"),
                    );
                    LogFormat::Text
                }
            },
            log_filter: env
                .get("KESSAI_LOG")
                .or_else(|| env.get("RUST_LOG"))
                .unwrap_or_else(|| "info".into()),
            mode,
            sandbox_addr: env
                .parse("KESSAI_SANDBOX_ADDR")?
                .unwrap_or_else(|| "127.0.0.1:0".parse().expect("valid default")),
            providers,
            provider_http: provider_http.clone(),
            fingerprint_key,
            idempotency_ttl: chrono::Duration::hours(
                env.parse("KESSAI_IDEMPOTENCY_TTL_HOURS")?.unwrap_or(24),
            ),
            reconcile_interval: Duration::from_secs(
                env.parse("KESSAI_RECONCILE_INTERVAL_SECS")?.unwrap_or(15),
            ),
            in_flight_lease: in_flight_lease(env, &provider_http)?,
            test_crash_at: match env.get("KESSAI_TEST_CRASH_AT") {
                Some(value) if crate::payments::CrashSwitch::parse(&value).is_none() => {
                    env.reject(
                        "KESSAI_TEST_CRASH_AT",
                        "must be after_intent_commit, after_provider_answer or after_outcome_commit, optionally with :<n>",
                    );
                    None
                }
                other => other,
            },
            action_ttl: chrono::Duration::minutes(
                env.parse("KESSAI_ACTION_TTL_MINUTES")?.unwrap_or(1440),
            ),
            drain_delay: Duration::from_secs(env.parse("KESSAI_DRAIN_DELAY_SECS")?.unwrap_or(0)),
            shutdown_timeout: Duration::from_secs(
                env.parse("KESSAI_SHUTDOWN_TIMEOUT_SECS")?.unwrap_or(30),
            ),
            metrics_addr: env.parse("KESSAI_METRICS_ADDR")?,
            health_addr: env.parse("KESSAI_HEALTH_ADDR")?,
            metrics_max_connections: at_least_one(env, "KESSAI_METRICS_MAX_CONNECTIONS", 64)?,
            access_log: env.parse_bool("KESSAI_ACCESS_LOG")?.unwrap_or(true),
            webhooks: webhooks::from_env(env)?,
            console: console::from_env(env, sandbox, tls_on)?,
        })
    }
}

/// A count that zero would make useless (nothing admitted at all).
fn at_least_one(env: &Env<'_>, name: &str, default: usize) -> Result<usize, ConfigError> {
    match env.parse(name)?.unwrap_or(default) {
        0 => {
            env.reject(name, "must be at least 1");
            Ok(default)
        }
        n => Ok(n),
    }
}

/// A lease no longer than the longest provider call would let a retry take
/// over a call that is still live, and send it a second time.
fn in_flight_lease(env: &Env<'_>, http: &HttpSettings) -> Result<Option<Duration>, ConfigError> {
    let Some(lease) = env.parse::<u64>("KESSAI_IN_FLIGHT_LEASE_SECS")? else {
        return Ok(None);
    };
    let lease = Duration::from_secs(lease);
    let longest = http.longest_call();
    if lease <= longest {
        env.reject(
            "KESSAI_IN_FLIGHT_LEASE_SECS",
            format!(
                "must be longer than the longest provider call, {} s (KESSAI_PROVIDER_MAX_ATTEMPTS attempts of KESSAI_PROVIDER_TIMEOUT_MS each, with the pauses between them); e.g. {}",
                longest.as_secs_f64().ceil(),
                (longest.as_secs() + 1) * 2
            ),
        );
        return Ok(None);
    }
    Ok(Some(lease))
}

#[cfg(test)]
mod tests;
