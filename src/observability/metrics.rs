//! The metrics kessai exports, by name, and the one process-wide recorder.
//!
//! Labels are always from small closed sets (method names from the served
//! descriptors, provider kinds, operations, outcomes, gRPC codes): never an
//! order id, an idempotency key or anything a caller chooses freely.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use prost::Message;

use crate::domain::ProviderKind;

/// Calls answered, by `grpc_service`, `grpc_method` and `grpc_code`.
pub const RPC_HANDLED: &str = "kessai_grpc_server_handled_total";
/// How long calls took until their status was sent, same labels.
pub const RPC_DURATION: &str = "kessai_grpc_server_handling_seconds";
/// Provider calls, by `provider`, `operation` and `outcome`.
pub const PROVIDER_CALLS: &str = "kessai_provider_calls_total";
/// How long provider calls took (retries included), same labels.
pub const PROVIDER_DURATION: &str = "kessai_provider_call_duration_seconds";
/// Money the providers confirmed, by `provider` and `currency`, in the
/// currency's minor unit (yen: every provider takes only JPY).
pub const MONEY_AUTHORIZED: &str = "kessai_money_authorized_total";
pub const MONEY_CAPTURED: &str = "kessai_money_captured_total";
pub const MONEY_REFUNDED: &str = "kessai_money_refunded_total";
/// Orders waiting for reconciliation or a person, by `reason`
/// (`unknown_outcome`, `needs_review`).
pub const RECONCILE_BACKLOG: &str = "kessai_reconcile_backlog_orders";
/// Database connections by `pool`: open, idle, and the configured maximum.
pub const DB_POOL_SIZE: &str = "kessai_db_pool_connections";
pub const DB_POOL_IDLE: &str = "kessai_db_pool_idle_connections";
pub const DB_POOL_MAX: &str = "kessai_db_pool_max_connections";
/// Statements sent to the database, by `kind` (`select`, `insert`,
/// `update`, `delete`, `other`; `begin` and, on SQLite, `commit`).
pub const DB_STATEMENTS: &str = "kessai_db_statements_total";

/// Histogram buckets in seconds: from a fast database read to a provider
/// call that used its whole timeout with retries.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process and returns its handle
/// (`None` if another recorder was installed first). Every `Application` in
/// the process shares it, so tests compare scrapes rather than absolute
/// values.
pub fn install() -> Option<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    describe_counter!(
        RPC_HANDLED,
        "gRPC calls answered, by method and status code"
    );
    describe_histogram!(
        RPC_DURATION,
        Unit::Seconds,
        "Time from a call's arrival to its status, by method and status code"
    );
    describe_counter!(
        PROVIDER_CALLS,
        "Calls to payment providers, by provider, operation and outcome"
    );
    describe_histogram!(
        PROVIDER_DURATION,
        Unit::Seconds,
        "Duration of provider calls (with their retries), by provider, operation and outcome"
    );
    describe_counter!(
        MONEY_AUTHORIZED,
        "Amount authorized at the providers, in the currency's minor unit (yen)"
    );
    describe_counter!(
        MONEY_CAPTURED,
        "Amount captured at the providers, in the currency's minor unit (yen)"
    );
    describe_counter!(
        MONEY_REFUNDED,
        "Amount refunded at the providers, in the currency's minor unit (yen)"
    );
    describe_gauge!(
        RECONCILE_BACKLOG,
        "Orders with provider calls of unknown outcome, or flagged for a person to review"
    );
    describe_gauge!(DB_POOL_SIZE, "Open database connections, by pool");
    describe_gauge!(DB_POOL_IDLE, "Idle database connections, by pool");
    describe_gauge!(
        DB_POOL_MAX,
        "Configured maximum of database connections, by pool"
    );
    describe_counter!(
        DB_STATEMENTS,
        "Statements sent to the database, by kind; begin counts transactions opened, commit (SQLite) transactions made durable"
    );
}

/// gRPC status codes by number, as Prometheus label values.
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The label of a `grpc-status` value; anything unreadable is `UNKNOWN`.
pub fn grpc_code_label(value: &[u8]) -> &'static str {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .and_then(|n| GRPC_CODES.get(n).copied())
        .unwrap_or("UNKNOWN")
}

pub const CANCELLED: &str = "CANCELLED";
pub const UNKNOWN: &str = "UNKNOWN";

/// The `(service, method)` labels of a request path. Only methods kessai
/// serves keep their names; any other path is `unknown`, so a client
/// cannot create series at will.
pub fn rpc_labels(path: &str) -> (&'static str, &'static str) {
    static KNOWN: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    KNOWN
        .get_or_init(served_methods)
        .get(path.strip_prefix('/').unwrap_or(path))
        .copied()
        .unwrap_or(("unknown", "unknown"))
}

/// Every method of every service the server can serve, from the compiled
/// descriptors (the payment API, health, reflection), by path without its
/// leading slash.
fn served_methods() -> HashMap<&'static str, (&'static str, &'static str)> {
    let sets: [&[u8]; 4] = [
        crate::proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let mut methods = HashMap::new();
    for bytes in sets {
        let Ok(set) = prost_types::FileDescriptorSet::decode(bytes) else {
            continue;
        };
        for file in set.file {
            let package = file.package.unwrap_or_default();
            for service in file.service {
                let name = service.name.unwrap_or_default();
                let full: &'static str = if package.is_empty() {
                    leak(name)
                } else {
                    leak(format!("{package}.{name}"))
                };
                for method in service.method {
                    let method = leak(method.name.unwrap_or_default());
                    methods.insert(leak(format!("{full}/{method}")), (full, method));
                }
            }
        }
    }
    methods
}

/// Label values live as long as the process; the set is built once.
fn leak(value: String) -> &'static str {
    Box::leak(value.into_boxed_str())
}

/// One answered call.
pub fn rpc_handled(
    service: &'static str,
    method: &'static str,
    code: &'static str,
    took: Duration,
) {
    let labels = [
        ("grpc_service", service),
        ("grpc_method", method),
        ("grpc_code", code),
    ];
    counter!(RPC_HANDLED, &labels).increment(1);
    metrics::histogram!(RPC_DURATION, &labels).record(took.as_secs_f64());
}

/// One provider call and how it ended.
pub fn provider_call(
    provider: ProviderKind,
    operation: &'static str,
    outcome: &'static str,
    took: Duration,
) {
    let labels = [
        ("provider", provider.as_str()),
        ("operation", operation),
        ("outcome", outcome),
    ];
    counter!(PROVIDER_CALLS, &labels).increment(1);
    metrics::histogram!(PROVIDER_DURATION, &labels).record(took.as_secs_f64());
}

/// Money a committed outcome moved. Amounts are never negative here.
pub fn money_moved(
    provider: ProviderKind,
    currency: &'static str,
    authorized: u64,
    captured: u64,
    refunded: u64,
) {
    let labels = [("provider", provider.as_str()), ("currency", currency)];
    for (name, amount) in [
        (MONEY_AUTHORIZED, authorized),
        (MONEY_CAPTURED, captured),
        (MONEY_REFUNDED, refunded),
    ] {
        if amount > 0 {
            counter!(name, &labels).increment(amount);
        }
    }
}

/// Orders waiting for reconciliation or review, as counted at a scrape.
pub fn backlog(unknown_outcome: u64, needs_review: u64) {
    gauge!(RECONCILE_BACKLOG, "reason" => "unknown_outcome").set(unknown_outcome as f64);
    gauge!(RECONCILE_BACKLOG, "reason" => "needs_review").set(needs_review as f64);
}

/// One connection pool's use, as seen at a scrape.
pub fn pool(name: &'static str, size: u32, idle: u32, max: u32) {
    gauge!(DB_POOL_SIZE, "pool" => name).set(f64::from(size));
    gauge!(DB_POOL_IDLE, "pool" => name).set(f64::from(idle));
    gauge!(DB_POOL_MAX, "pool" => name).set(f64::from(max));
}

/// The store's statement counts, as counted so far (they only grow).
pub fn db_statements(counts: &[(crate::store::StatementKind, u64)]) {
    for (kind, count) in counts {
        counter!(DB_STATEMENTS, "kind" => kind.as_str()).absolute(*count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_methods_keep_their_names_and_anything_else_is_unknown() {
        assert_eq!(
            rpc_labels("/kessai.v1.PaymentService/Authorize"),
            ("kessai.v1.PaymentService", "Authorize")
        );
        assert_eq!(
            rpc_labels("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health", "Check")
        );
        assert_eq!(
            rpc_labels("/kessai.v1.PaymentService/NoSuchMethod"),
            ("unknown", "unknown")
        );
        assert_eq!(rpc_labels("/whatever"), ("unknown", "unknown"));
        assert_eq!(rpc_labels(""), ("unknown", "unknown"));
    }

    #[test]
    fn every_rpc_of_the_payment_service_has_a_label() {
        let set =
            prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let methods: Vec<String> = set
            .file
            .iter()
            .flat_map(|f| &f.service)
            .filter(|s| s.name() == "PaymentService")
            .flat_map(|s| &s.method)
            .map(|m| m.name().to_owned())
            .collect();
        assert!(methods.len() >= 6, "{methods:?}");
        for method in methods {
            let path = format!("/kessai.v1.PaymentService/{method}");
            assert_eq!(rpc_labels(&path).1, method);
        }
    }

    #[test]
    fn grpc_status_values_become_code_names() {
        assert_eq!(grpc_code_label(b"0"), "OK");
        assert_eq!(grpc_code_label(b"9"), "FAILED_PRECONDITION");
        assert_eq!(grpc_code_label(b"16"), "UNAUTHENTICATED");
        assert_eq!(grpc_code_label(b"17"), "UNKNOWN");
        assert_eq!(grpc_code_label(b"x"), "UNKNOWN");
    }
}
