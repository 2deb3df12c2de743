//! The Prometheus endpoint, scraped and parsed after real traffic through
//! the gRPC server to the provider simulators.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Datelike;
use kessai::clock::SystemClock;
use kessai::proto::v1;
use kessai::sandbox::Sandbox;
use kessai::sandbox::faults::{Fault, FaultKind};
use prometheus_parse::{Sample, Scrape, Value};
use tonic::Code;

use crate::db_test;
use crate::helpers::{Backend, base_env, fresh_database, payjp_authorize, unique_key};
use crate::paymentoptions_rules::APPROVE;
use crate::process::{KessaiProcess, provider_env};

pub(crate) fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid exposition text")
}

fn matches(sample: &Sample, name: &str, labels: &[(&str, &str)]) -> bool {
    sample.metric == name && labels.iter().all(|(k, v)| sample.labels.get(k) == Some(*v))
}

/// The value of the counter or gauge `name` with `labels` (0 when the
/// series does not exist yet: counters start at zero).
pub(crate) fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| matches(s, name, labels))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            Value::Histogram(_) | Value::Summary(_) => panic!("{name} is not a counter or gauge"),
        })
        .collect();
    assert!(found.len() <= 1, "{name}{labels:?} names several series");
    found.first().copied().unwrap_or(0.0)
}

/// The buckets of the histogram `name` with `labels`.
fn buckets(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
    scrape
        .samples
        .iter()
        .filter(|s| matches(s, name, labels))
        .find_map(|s| match &s.value {
            Value::Histogram(counts) => {
                Some(counts.iter().map(|c| (c.less_than, c.count)).collect())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no histogram {name}{labels:?}"))
}

fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(after, name, labels) - value(before, name, labels)
}

const SERVICE: (&str, &str) = ("grpc_service", "kessai.v1.PaymentService");

fn rpc(method: &'static str, code: &'static str) -> [(&'static str, &'static str); 3] {
    [SERVICE, ("grpc_method", method), ("grpc_code", code)]
}

fn card_authorize(key: &str, amount: i64) -> v1::AuthorizeRequest {
    crate::helpers::card_authorize(key, amount, APPROVE, "123", chrono::Utc::now().year() + 3)
}

/// A `kessai` process with `/metrics` on a fresh database, configured with
/// `env` beside the usual, and the simulators it calls.
pub(crate) async fn serving_metrics(
    backend: Backend,
    env: HashMap<String, String>,
) -> (Sandbox, KessaiProcess) {
    let sandbox = Sandbox::start("127.0.0.1:0".parse().unwrap(), Arc::new(SystemClock))
        .await
        .unwrap();
    let url = fresh_database(backend).await;
    let mut all: HashMap<String, String> = base_env(&url);
    all.extend(provider_env(&sandbox));
    all.insert("KESSAI_METRICS_ADDR".into(), "127.0.0.1:0".into());
    all.extend(env);
    let kessai = KessaiProcess::start(&all);
    (sandbox, kessai)
}

/// Runs in a kessai process of its own, so that no other test's traffic
/// moves the process-wide counters between the two scrapes and every delta
/// can be exact.
async fn metrics_after_traffic(backend: Backend) {
    let (sandbox, kessai) = serving_metrics(backend, HashMap::new()).await;
    let mut client = kessai.client().await;
    let before = parse(&kessai.scrape().await);

    // Authorize 5,000, capture 3,000 (and the same capture again: a replay),
    // refund 1,000, a capture beyond what is left (refused), a declined
    // card, and a card authorization whose answer is lost.
    let order = client
        .authorize(payjp_authorize(
            &unique_key("auth"),
            5_000,
            "pm_test_approve",
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let capture = v1::CaptureRequest {
        idempotency_key: unique_key("cap"),
        order_id: order.id.clone(),
        amount: Some(3_000),
        ..Default::default()
    };
    let captured = client.capture(capture.clone()).await.unwrap().into_inner();
    let replayed = client.capture(capture).await.unwrap().into_inner();
    assert_eq!(
        captured.order, replayed.order,
        "the replay answers the same"
    );
    client
        .refund(v1::RefundRequest {
            idempotency_key: unique_key("ref"),
            order_id: order.id.clone(),
            amount: Some(1_000),
            ..Default::default()
        })
        .await
        .unwrap();
    let refused = client
        .capture(v1::CaptureRequest {
            idempotency_key: unique_key("cap"),
            order_id: order.id.clone(),
            amount: Some(10_000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let declined = client
        .authorize(payjp_authorize(
            &unique_key("auth"),
            2_000,
            "pm_test_decline",
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(declined.status(), v1::OrderStatus::Declined);
    sandbox.paymentoptions.faults().inject(Fault::new(
        "POST",
        "/authorization",
        FaultKind::DropAfterActing,
    ));
    let lost = client
        .authorize(card_authorize(&unique_key("auth"), 4_000))
        .await
        .unwrap_err();
    assert_eq!(lost.code(), Code::DeadlineExceeded, "{lost:?}");

    let text = kessai.scrape().await;
    let after = parse(&text);

    // Calls by method and code, and their latency histogram.
    assert_eq!(
        delta(
            &before,
            &after,
            "kessai_grpc_server_handled_total",
            &rpc("Authorize", "OK")
        ),
        2.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "kessai_grpc_server_handled_total",
            &rpc("Capture", "OK")
        ),
        2.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "kessai_grpc_server_handled_total",
            &rpc("Refund", "OK")
        ),
        1.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "kessai_grpc_server_handled_total",
            &rpc("Capture", "FAILED_PRECONDITION")
        ),
        1.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "kessai_grpc_server_handled_total",
            &rpc("Authorize", "DEADLINE_EXCEEDED")
        ),
        1.0
    );
    let histogram = buckets(
        &after,
        "kessai_grpc_server_handling_seconds",
        &rpc("Capture", "OK"),
    );
    assert!(histogram.len() >= 10, "{histogram:?}");
    assert!(histogram.iter().any(|(le, _)| *le == 0.005));
    let (le, count) = *histogram.last().unwrap();
    assert!(le.is_infinite());
    assert_eq!(count, 2.0, "every capture is in the +Inf bucket");
    assert!(
        histogram.windows(2).all(|w| w[0].1 <= w[1].1),
        "buckets are cumulative: {histogram:?}"
    );

    // Provider calls by provider, operation and outcome: the replay and the
    // refused capture never reached PAY.JP.
    let provider = |p: &'static str, op: &'static str, outcome: &'static str| {
        delta(
            &before,
            &after,
            "kessai_provider_calls_total",
            &[("provider", p), ("operation", op), ("outcome", outcome)],
        )
    };
    assert_eq!(provider("payjp", "authorize", "success"), 1.0);
    assert_eq!(provider("payjp", "authorize", "declined"), 1.0);
    assert_eq!(provider("payjp", "capture", "success"), 1.0);
    assert_eq!(provider("payjp", "refund", "success"), 1.0);
    assert_eq!(
        provider("paymentoptions", "authorize", "unknown_outcome"),
        1.0
    );
    let provider_histogram = buckets(
        &after,
        "kessai_provider_call_duration_seconds",
        &[
            ("provider", "payjp"),
            ("operation", "capture"),
            ("outcome", "success"),
        ],
    );
    assert_eq!(provider_histogram.last().unwrap().1, 1.0);

    // Money, exactly once per outcome: not for the replay, not for the
    // declined card, not for the lost answer.
    let money = |name: &str| {
        delta(
            &before,
            &after,
            name,
            &[("provider", "payjp"), ("currency", "JPY")],
        )
    };
    assert_eq!(money("kessai_money_authorized_total"), 5_000.0);
    assert_eq!(money("kessai_money_captured_total"), 3_000.0);
    assert_eq!(money("kessai_money_refunded_total"), 1_000.0);
    assert_eq!(
        value(
            &after,
            "kessai_money_authorized_total",
            &[("provider", "paymentoptions")]
        ),
        0.0
    );

    // The lost card authorization waits for reconciliation and a person.
    let backlog = |reason: &str| {
        value(
            &after,
            "kessai_reconcile_backlog_orders",
            &[("reason", reason)],
        )
    };
    assert_eq!(backlog("unknown_outcome"), 1.0, "{text}");
    assert_eq!(backlog("needs_review"), 1.0);

    // The pools, as configured (KESSAI_DATABASE_MAX_CONNECTIONS=8).
    let split = kessai::store::PostgresPools::of(8);
    let pools: &[(&str, f64)] = match backend {
        Backend::Sqlite => &[("write", 1.0), ("read", 8.0)],
        Backend::Postgres => &[
            ("write", f64::from(split.writes)),
            ("read", f64::from(split.reads)),
        ],
    };
    for (pool, max) in pools {
        let labels = [("pool", *pool)];
        assert_eq!(
            value(&after, "kessai_db_pool_max_connections", &labels),
            *max
        );
        let open = value(&after, "kessai_db_pool_connections", &labels);
        let idle = value(&after, "kessai_db_pool_idle_connections", &labels);
        assert!(open >= 1.0 && open <= *max, "{pool}: {open} open");
        assert!(idle <= open, "{pool}: {idle} idle of {open}");
    }

    // Labels never carry ids or keys.
    assert!(!text.contains(&order.id), "an order id became a label");
    assert!(!text.contains("ord_"), "{text}");
    kessai.terminate();
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_traffic_sqlite() {
    metrics_after_traffic(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_traffic_postgres() {
    if std::env::var("KESSAI_TEST_DATABASE_URL").is_err() {
        eprintln!("KESSAI_TEST_DATABASE_URL is not set: the PostgreSQL run is left to .ci/run");
        return;
    }
    metrics_after_traffic(Backend::Postgres).await;
}

#[tokio::test]
async fn without_metrics_addr_nothing_listens() {
    let sandbox = Sandbox::start("127.0.0.1:0".parse().unwrap(), Arc::new(SystemClock))
        .await
        .unwrap();
    let url = fresh_database(Backend::Sqlite).await;
    let mut env = base_env(&url);
    env.extend(provider_env(&sandbox));
    let kessai = KessaiProcess::start(&env);
    assert_eq!(kessai.metrics_addr, None);
    kessai.terminate();
}

db_test! {
    /// In-process servers share the process's recorder, so this only
    /// asserts what other tests' traffic cannot undo: this server's own
    /// endpoint on a free port, and counters that moved at least as much as
    /// its own calls.
    async fn an_application_serves_metrics_on_the_port_it_bound(app: TestApp) {
        let mut env = app.env().clone();
        env.insert("KESSAI_METRICS_ADDR".into(), "127.0.0.1:0".into());
        let config = kessai::config::Config::from_lookup(|name| env.get(name).cloned()).unwrap();
        let server = kessai::startup::Application::build(config, Arc::new(app.clock.clone()))
            .await
            .unwrap();
        let metrics_addr = server.metrics_addr().expect("metrics are on");
        assert_ne!(metrics_addr.port(), 0);
        let addr = server.addr();
        let stop = server.shutdown_token();
        let running = tokio::spawn(server.run_until_stopped(std::future::pending()));
        let scrape = || async move {
            parse(&reqwest::get(format!("http://{metrics_addr}/metrics")).await.unwrap().text().await.unwrap())
        };
        let before = scrape().await;
        let mut client = v1::payment_service_client::PaymentServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let missing = client
            .get_order(v1::GetOrderRequest { order_id: "ord_01J00000000000000000000000".into(), refresh: false })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound);
        let after = scrape().await;
        assert!(delta(&before, &after, "kessai_grpc_server_handled_total", &rpc("GetOrder", "NOT_FOUND")) >= 1.0);
        stop.cancel();
        running.await.unwrap().unwrap();
    }
}
