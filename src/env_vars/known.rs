//! Every `KESSAI_*` variable kessai reads: its default, an example and one
//! line of meaning. The one list both the unknown-name check (a typo is an
//! error, with the closest name suggested) and `kessai serve --help` read,
//! so neither can drift from the other.

pub struct Var {
    pub name: &'static str,
    pub default: &'static str,
    pub example: &'static str,
    pub meaning: &'static str,
    /// May be read from a file named by `NAME_FILE` instead.
    pub secret: bool,
}

const fn var(
    name: &'static str,
    default: &'static str,
    example: &'static str,
    meaning: &'static str,
) -> Var {
    Var {
        name,
        default,
        example,
        meaning,
        secret: false,
    }
}

const fn secret(name: &'static str, example: &'static str, meaning: &'static str) -> Var {
    Var {
        name,
        default: "-",
        example,
        meaning,
        secret: true,
    }
}

pub const VARS: &[Var] = &[
    var(
        "KESSAI_LISTEN_ADDR",
        "127.0.0.1:50051",
        "0.0.0.0:50051",
        "gRPC address",
    ),
    Var {
        default: "sqlite://kessai.sqlite",
        ..secret(
            "KESSAI_DATABASE_URL",
            "postgres://kessai:PASSWORD@db:5432/kessai",
            "sqlite://path or postgres://user:password@host/db",
        )
    },
    var(
        "KESSAI_DATABASE_MAX_CONNECTIONS",
        "16",
        "16",
        "database connection pool size",
    ),
    var(
        "KESSAI_SANDBOX",
        "true without credentials",
        "false",
        "serve against the built-in provider simulators",
    ),
    var(
        "KESSAI_SANDBOX_ADDR",
        "127.0.0.1:0",
        "127.0.0.1:8089",
        "where the simulators listen in sandbox mode",
    ),
    var(
        "KESSAI_SANDBOX_STATE",
        "beside a SQLite file, else memory",
        "memory",
        "file where the simulators keep their books, or memory",
    ),
    var(
        "KESSAI_PROVIDER_MODE",
        "live (outside sandbox mode)",
        "test",
        "test or live: the providers' environment the keys must be for",
    ),
    secret("KESSAI_PAYJP_SECRET_KEY", "sk_live_…", "PAY.JP secret key"),
    var(
        "KESSAI_PAYJP_BASE_URL",
        "https://api.pay.jp/v2",
        "https://api.pay.jp/v2",
        "PAY.JP API base",
    ),
    secret(
        "KESSAI_SMARTPAY_SECRET_KEY",
        "sk_live_…",
        "Smartpay secret key",
    ),
    var(
        "KESSAI_SMARTPAY_BASE_URL",
        "https://api.smartpay.co/v1",
        "https://api.smartpay.co/v1",
        "Smartpay API base",
    ),
    secret(
        "KESSAI_PAYMENTOPTIONS_API_KEY",
        "…",
        "PaymentOptions API key",
    ),
    var(
        "KESSAI_PAYMENTOPTIONS_MERCHANT_ID",
        "-",
        "JP00000328",
        "PaymentOptions merchant id, required with the API key",
    ),
    var(
        "KESSAI_PAYMENTOPTIONS_BASE_URL",
        "https://api.paymentoptions.com",
        "https://api-dev.paymentoptions.com",
        "PaymentOptions host",
    ),
    var(
        "KESSAI_PAYMENTOPTIONS_PATH_PREFIX",
        "/api/v1/server-to-server-interface",
        "/api/v1/server-to-server-interface",
        "PaymentOptions API path prefix",
    ),
    var(
        "KESSAI_PAYMENTOPTIONS_AUTH",
        "raw",
        "base64",
        "raw or base64: how the API key is sent",
    ),
    #[cfg(feature = "example-provider")]
    secret(
        "KESSAI_EXAMPLE_API_KEY",
        "…",
        "the example provider's API key",
    ),
    #[cfg(feature = "example-provider")]
    var(
        "KESSAI_EXAMPLE_BASE_URL",
        "-",
        "http://127.0.0.1:8089/example",
        "the example provider's API base",
    ),
    #[cfg(feature = "example-provider")]
    secret(
        "KESSAI_EXAMPLE_WEBHOOK_SECRET",
        "…",
        "the example provider's webhook secret",
    ),
    var(
        "KESSAI_ACTION_TTL_MINUTES",
        "1440",
        "1440",
        "how long an order may wait for the shopper",
    ),
    Var {
        default: "sandbox: a development key",
        ..secret(
            "KESSAI_FINGERPRINT_KEY",
            "$(openssl rand -base64 32)",
            "HMAC key for request fingerprints, at least 16 characters, the same on every replica",
        )
    },
    var(
        "KESSAI_IDEMPOTENCY_TTL_HOURS",
        "24",
        "24",
        "how long a key's first outcome is replayed",
    ),
    var(
        "KESSAI_PROVIDER_TIMEOUT_MS",
        "15000",
        "15000",
        "one provider request, connection to last byte",
    ),
    var(
        "KESSAI_PROVIDER_MAX_ATTEMPTS",
        "3",
        "3",
        "attempts per provider call (only what is safe is repeated)",
    ),
    var(
        "KESSAI_MIGRATE_ON_START",
        "true",
        "false",
        "apply database migrations at start",
    ),
    var(
        "KESSAI_LOG",
        "info",
        "info,kessai=debug",
        "log filter (or RUST_LOG)",
    ),
    var("KESSAI_LOG_FORMAT", "text", "json", "text or json"),
    var(
        "KESSAI_ACCESS_LOG",
        "on",
        "off",
        "one INFO line per call: method, caller, code, reason, order, latency",
    ),
    var(
        "KESSAI_AUTH",
        "false in sandbox mode, else true",
        "true",
        "require a known caller on every PaymentService call",
    ),
    secret(
        "KESSAI_CALLERS",
        r#"[{"name":"checkout","token_sha256":"…","scopes":["charge","read"]}]"#,
        "the callers: a JSON array",
    ),
    var(
        "KESSAI_TLS_CERT_FILE",
        "-",
        "/etc/kessai/tls.crt",
        "serve gRPC over TLS with this PEM certificate chain",
    ),
    var(
        "KESSAI_TLS_KEY_FILE",
        "-",
        "/etc/kessai/tls.key",
        "the PEM key of that certificate",
    ),
    var(
        "KESSAI_TLS_CLIENT_CA_FILE",
        "-",
        "/etc/kessai/ca.crt",
        "mutual TLS: require client certificates signed by this CA",
    ),
    var(
        "KESSAI_REFLECTION",
        "true",
        "false",
        "serve gRPC reflection",
    ),
    var(
        "KESSAI_MAX_MESSAGE_BYTES",
        "262144",
        "262144",
        "largest request message",
    ),
    var(
        "KESSAI_MAX_METADATA_ENTRIES",
        "64",
        "64",
        "request headers allowed (entries)",
    ),
    var(
        "KESSAI_MAX_METADATA_BYTES",
        "16384",
        "16384",
        "request headers allowed (bytes)",
    ),
    var(
        "KESSAI_RATE_LIMIT_PER_SECOND",
        "200",
        "200",
        "calls per caller per replica per second; 0: no limit",
    ),
    var(
        "KESSAI_RATE_LIMIT_BURST",
        "400",
        "400",
        "calls a caller may make at once",
    ),
    var(
        "KESSAI_MAX_OPERATIONS",
        "256",
        "256",
        "money operations running at once on a replica",
    ),
    var(
        "KESSAI_ADMISSION_WAIT_MS",
        "2000",
        "2000",
        "how long a call waits for one of those places",
    ),
    var(
        "KESSAI_MAX_WATCHERS_PER_CALLER",
        "1000",
        "1000",
        "WatchOrderEvents streams open at once per caller",
    ),
    var(
        "KESSAI_MAX_WATCHERS",
        "10000",
        "10000",
        "WatchOrderEvents streams open at once on a replica",
    ),
    var(
        "KESSAI_EVENT_FEED_BUFFER",
        "4096",
        "4096",
        "new order events kept for slow streams",
    ),
    var(
        "KESSAI_ORDER_VIEW_CACHE",
        "4096",
        "4096",
        "views of orders kept for reads that find the same versions; 0 keeps none",
    ),
    var(
        "KESSAI_MAX_CONNECTIONS",
        "1000",
        "1000",
        "open gRPC connections",
    ),
    var(
        "KESSAI_HANDSHAKE_TIMEOUT_SECS",
        "10",
        "10",
        "time for a new connection's preface or TLS handshake",
    ),
    var(
        "KESSAI_IDLE_TIMEOUT_SECS",
        "300",
        "300",
        "an idle connection is closed after this; 0: never",
    ),
    var(
        "KESSAI_MAX_STREAMS_PER_CONNECTION",
        "256",
        "256",
        "concurrent calls on one connection",
    ),
    var(
        "KESSAI_KEEPALIVE_SECS",
        "30",
        "30",
        "HTTP/2 keepalive ping interval",
    ),
    var(
        "KESSAI_KEEPALIVE_TIMEOUT_SECS",
        "10",
        "10",
        "how long a ping's answer may take",
    ),
    var(
        "KESSAI_REQUEST_TIMEOUT_SECS",
        "derived from the provider timeouts",
        "60",
        "the longest a call may take without a shorter deadline",
    ),
    var(
        "KESSAI_CONSOLE_ADDR",
        "127.0.0.1:8088 in sandbox mode, else - (off)",
        "127.0.0.1:8088",
        "where the operator console serves (off: none)",
    ),
    var(
        "KESSAI_CONSOLE_ALLOW_PLAINTEXT",
        "false",
        "true",
        "let the console listen beyond loopback without TLS (a proxy terminates it)",
    ),
    var(
        "KESSAI_CONSOLE_SESSION_HOURS",
        "8",
        "12",
        "how long an operator's sign-in lasts",
    ),
    var(
        "KESSAI_CONSOLE_MAX_CONNECTIONS",
        "64",
        "64",
        "open connections to the console; beyond it kessai stops accepting",
    ),
    var(
        "KESSAI_WEBHOOK_ADDR",
        "- (no listener)",
        "0.0.0.0:8080",
        "where providers post webhooks",
    ),
    var(
        "KESSAI_WEBHOOK_PUBLIC_URL",
        "-",
        "https://webhooks.example.com",
        "the public base URL of that listener",
    ),
    var(
        "KESSAI_WEBHOOK_MAX_CONNECTIONS",
        "256",
        "256",
        "open connections to the webhook listener",
    ),
    var(
        "KESSAI_WEBHOOK_HEADER_TIMEOUT_SECS",
        "10",
        "10",
        "how long a webhook request's headers may take",
    ),
    var(
        "KESSAI_WEBHOOK_IDLE_TIMEOUT_SECS",
        "30",
        "30",
        "an idle webhook connection is closed after this",
    ),
    var(
        "KESSAI_WEBHOOK_HINT_INTERVAL_MS",
        "10000",
        "10000",
        "at most one PaymentOptions lookup per order per interval",
    ),
    var(
        "KESSAI_WEBHOOK_HINTS_PER_SECOND",
        "10",
        "10",
        "unsigned notifications per second from one address; 0: no limit",
    ),
    var(
        "KESSAI_PAYMENTOPTIONS_WEBHOOK_SOURCES",
        "- (anywhere)",
        "203.0.113.0/24,2001:db8::/32",
        "networks PaymentOptions notifications may come from",
    ),
    Var {
        default: "sandbox: a built-in one",
        ..secret(
            "KESSAI_SMARTPAY_WEBHOOK_SECRET",
            "(the base62 secret Smartpay shows)",
            "the Smartpay webhook signing secret",
        )
    },
    var(
        "KESSAI_SMARTPAY_WEBHOOK_TOLERANCE_SECS",
        "300",
        "300",
        "how far a Smartpay signature timestamp may be from now",
    ),
    Var {
        default: "sandbox: a built-in one",
        ..secret(
            "KESSAI_PAYJP_WEBHOOK_TOKEN",
            "(the token PAY.JP shows)",
            "the PAY.JP webhook token",
        )
    },
    var(
        "KESSAI_RECONCILE_INTERVAL_SECS",
        "15",
        "15",
        "how often reconciliation runs; 0: off",
    ),
    var(
        "KESSAI_IN_FLIGHT_LEASE_SECS",
        "derived from the provider timeouts",
        "120",
        "how long a call may stay in flight before it is presumed dead",
    ),
    var(
        "KESSAI_DRAIN_DELAY_SECS",
        "0",
        "5",
        "after SIGTERM, how long health answers NOT_SERVING first",
    ),
    var(
        "KESSAI_SHUTDOWN_TIMEOUT_SECS",
        "30",
        "30",
        "how long calls in flight may take to finish at shutdown",
    ),
    var(
        "KESSAI_METRICS_ADDR",
        "- (off)",
        "0.0.0.0:9090",
        "where to serve Prometheus metrics",
    ),
    var(
        "KESSAI_HEALTH_ADDR",
        "- (off)",
        "0.0.0.0:8086",
        "also serve gRPC health here, in plaintext (probes with TLS on)",
    ),
    var(
        "KESSAI_METRICS_MAX_CONNECTIONS",
        "64",
        "64",
        "open connections to the metrics listener",
    ),
    var(
        "KESSAI_TEST_CRASH_AT",
        "-",
        "after_intent_commit",
        "tests only: abort at this point of a call",
    ),
];

/// Names the test harness and benchmarks set for themselves, which a
/// `kessai` they start inherits.
const NOT_KESSAIS: &[&str] = &["KESSAI_TEST_", "KESSAI_BENCH_"];

pub fn find(name: &str) -> Option<&'static Var> {
    VARS.iter().find(|var| var.name == name)
}

/// Whether `name` is one of ours, or a secret's `…_FILE`.
fn known(name: &str) -> bool {
    find(name).is_some()
        || name
            .strip_suffix("_FILE")
            .and_then(find)
            .is_some_and(|var| var.secret)
        || NOT_KESSAIS.iter().any(|prefix| name.starts_with(prefix))
        || service_link(name)
}

/// Kubernetes gives a pod variables for each Service in its namespace
/// (unless `enableServiceLinks: false`, as the chart sets): a Service named
/// `kessai` or `kessai-…` gives `KESSAI_SERVICE_HOST`, `KESSAI_PORT_50051_TCP`
/// and the like, which are no typo.
fn service_link(name: &str) -> bool {
    name.ends_with("_SERVICE_HOST")
        || name.contains("_SERVICE_PORT")
        || name.ends_with("_PORT")
        || name
            .split("_PORT_")
            .nth(1)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// The `KESSAI_*` names among `names` kessai does not know, each with the
/// known name closest to it, if one is close enough to be a typo.
pub fn unknown<'a>(names: impl Iterator<Item = &'a str>) -> Vec<(String, Option<&'static str>)> {
    let mut unknown: Vec<_> = names
        .filter(|name| name.starts_with("KESSAI_") && !known(name))
        .map(|name| (name.to_owned(), closest(name)))
        .collect();
    unknown.sort();
    unknown
}

fn closest(name: &str) -> Option<&'static str> {
    // Only secrets are read from files: the setting itself is meant.
    if let Some(var) = name.strip_suffix("_FILE").and_then(find) {
        return Some(var.name);
    }
    let candidates = VARS.iter().flat_map(|var| {
        let file = var.secret.then(|| format!("{}_FILE", var.name));
        std::iter::once((var.name, distance(name, var.name)))
            .chain(file.map(|file| (var.name, distance(name, &file) + 1)))
    });
    candidates
        .filter(|(_, d)| *d <= 1 + name.len() / 6)
        .min_by_key(|(_, d)| *d)
        .map(|(name, _)| name)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// `kessai serve --help`'s list of variables.
pub fn help() -> String {
    let mut help = String::from(
        "Configuration (environment variables; secrets may also come from NAME_FILE):\n",
    );
    for var in VARS {
        let secret = if var.secret { " (secret)" } else { "" };
        help.push_str(&format!(
            "  {}\n      {}{secret} [default: {}]\n",
            var.name, var.meaning, var.default
        ));
    }
    help
}

#[cfg(test)]
mod tests;
