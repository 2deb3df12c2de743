//! A caller's cancellation never interrupts a money operation. Callers give
//! up all the time (deadlines, resets, restarts), and the server drops
//! their handlers at whatever `.await` they reached; kessai must still
//! record every outcome, never send a charge twice, and never hand a
//! pooled connection back inside a transaction.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Datelike;
use kessai::proto::v1;
use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use kessai::sandbox::Sandbox;
use kessai::sandbox::faults::{Fault, FaultKind, RandomFaults};
use rand::Rng;
use rand::seq::IndexedRandom;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::helpers::{
    Backend, base_env, card_authorize, fresh_database, payjp_authorize, retry_while_aborted,
    smartpay_token_authorize, unique_key,
};
use crate::paymentoptions_rules::APPROVE;
use crate::process::{KessaiProcess, provider_env};

mod watchers;

type Client = PaymentServiceClient<Channel>;

/// kessai as its own process (so its log is its own), against simulators
/// this test serves, with a short lease and a reconciler every second.
struct Rig {
    sandbox: Sandbox,
    kessai: KessaiProcess,
    client: Client,
    database_url: String,
}

async fn rig(backend: Backend) -> Option<Rig> {
    if backend == Backend::Postgres && std::env::var("KESSAI_TEST_DATABASE_URL").is_err() {
        eprintln!("KESSAI_TEST_DATABASE_URL is not set: the PostgreSQL run is left to .ci/run");
        return None;
    }
    let database_url = fresh_database(backend).await;
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(kessai::clock::SystemClock),
    )
    .await
    .unwrap();
    let mut env = base_env(&database_url);
    env.extend(provider_env(&sandbox));
    for (name, value) in [
        ("KESSAI_PROVIDER_TIMEOUT_MS", "1000"),
        ("KESSAI_PROVIDER_MAX_ATTEMPTS", "1"),
        ("KESSAI_IN_FLIGHT_LEASE_SECS", "2"),
        ("KESSAI_RECONCILE_INTERVAL_SECS", "1"),
        ("KESSAI_LOG", "info"),
        // The workload is one caller's; its rate is not what is tested.
        ("KESSAI_RATE_LIMIT_PER_SECOND", "100000"),
        ("KESSAI_RATE_LIMIT_BURST", "100000"),
    ] {
        env.insert(name.into(), value.into());
    }
    let kessai = KessaiProcess::start(&env);
    let client = kessai.client().await;
    Some(Rig {
        sandbox,
        kessai,
        client,
        database_url,
    })
}

impl Rig {
    fn error_lines(&self) -> Vec<serde_json::Value> {
        self.kessai
            .logs()
            .into_iter()
            .filter(|l| l["level"] == "ERROR")
            .collect()
    }

    /// PostgreSQL: connections of this database idle inside a transaction.
    /// Connections left inside a transaction. A read between two of its
    /// statements is briefly "idle in transaction" too, so only one that
    /// has stayed so for a second counts: a connection handed back to the
    /// pool mid-transaction stays so until it is reused.
    async fn stuck_in_transaction(&self) -> i64 {
        if !self.database_url.starts_with("postgres") {
            return 0;
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        use sea_orm::sqlx::{Connection, PgConnection, Row};
        let mut conn = PgConnection::connect(&self.database_url).await.unwrap();
        let row = sea_orm::sqlx::query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND state LIKE 'idle in transaction%' \
             AND state_change < now() - interval '1 second'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        row.get::<i64, _>("n")
    }

    async fn all_orders(&self) -> Vec<v1::Order> {
        let mut orders = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .client
                .clone()
                .list_orders(v1::ListOrdersRequest {
                    page_size: 200,
                    page_token: token.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            orders.extend(page.orders);
            if page.next_page_token.is_empty() {
                return orders;
            }
            token = page.next_page_token;
        }
    }
}

fn paymentoptions_sale(key: &str, amount: i64) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        capture_method: v1::CaptureMethod::Automatic as i32,
        ..card_authorize(key, amount, APPROVE, "123", chrono::Utc::now().year() + 3)
    }
}

/// What a client that gives up sees: the call's code, or none when it reset
/// the stream itself (or its connection broke).
async fn give_up_after<T>(
    within: Duration,
    call: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Option<Code> {
    match tokio::time::timeout(within, call).await {
        Err(_) => None,
        Ok(Ok(_)) => Some(Code::Ok),
        // The client's own connection failing under its resets (the
        // server's rapid-reset protection closes it) is not an answer of
        // kessai's.
        Ok(Err(status))
            if status.code() == Code::Unknown && std::error::Error::source(&status).is_some() =>
        {
            None
        }
        Ok(Err(status)) => Some(status.code()),
    }
}

/// A request that carries a deadline (`grpc-timeout`) half the time; the
/// client resets the stream at `within` either way.
fn with_deadline<T>(message: T, within: Duration) -> Request<T> {
    if rand::rng().random_bool(0.5) {
        with_deadline_always(message, within)
    } else {
        Request::new(message)
    }
}

async fn settled_or_review(rig: &Rig, within: Duration) -> Vec<v1::Order> {
    let deadline = Instant::now() + within;
    loop {
        let orders = rig.all_orders().await;
        let open: Vec<&v1::Order> = orders
            .iter()
            .filter(|o| !o.needs_review)
            .filter(|o| {
                o.status() == v1::OrderStatus::Pending
                    || o.captures
                        .iter()
                        .any(|c| c.status() == v1::CaptureStatus::Pending)
                    || o.refunds
                        .iter()
                        .any(|r| r.status() == v1::RefundStatus::Pending)
            })
            .collect();
        if open.is_empty() {
            return orders;
        }
        assert!(
            Instant::now() < deadline,
            "{} orders neither settled nor flagged for review: {:?}",
            open.len(),
            open.iter().map(|o| &o.id).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Each provider holds at most one charge per order, and kessai's books
/// equal the provider's for every order nobody has to look at.
fn assert_books_match(rig: &Rig, orders: &[v1::Order]) {
    let payjp = rig.sandbox.payjp.ledger();
    let paymentoptions = rig.sandbox.paymentoptions.ledger();
    let smartpay = rig.sandbox.smartpay.ledger();
    for order in orders {
        // (captured, refunded) of each charge the provider holds for it.
        let held: Vec<(i64, i64)> = match order.provider() {
            v1::Provider::Payjp => payjp
                .flows
                .iter()
                .filter(|f| {
                    f.metadata.get("kessai_order_id").and_then(|v| v.as_str())
                        == Some(order.id.as_str())
                })
                .map(|f| (f.captured, f.refunded))
                .collect(),
            v1::Provider::Paymentoptions => paymentoptions
                .authorizations
                .iter()
                .filter(|a| a.merchant_txn_ref == order.id)
                .map(|a| (a.captured, a.refunded))
                .collect(),
            v1::Provider::Smartpay => smartpay
                .orders
                .iter()
                .filter(|o| o.reference.as_deref() == Some(order.id.as_str()))
                .map(|o| (o.captured, o.refunded))
                .collect(),
            other => panic!("unexpected provider {other:?}"),
        };
        assert!(
            held.len() <= 1,
            "two charges at the provider for {order:?}: {held:?}"
        );
        if let (Some(&books), false) = (held.first(), order.needs_review) {
            assert_eq!(
                (order.amount_captured, order.amount_refunded),
                books,
                "the provider's books of {order:?}"
            );
        }
    }
}

/// The caller's deadline passes while PaymentOptions, which has no
/// idempotency, acts and answers late. The sale still completes and is
/// recorded; the caller's retry with the same key is told to retry while it
/// runs, then gets the recorded order; one sale at PaymentOptions.
async fn deadline_then_retry(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    rig.sandbox.paymentoptions.faults().inject(Fault::new(
        "POST",
        "",
        FaultKind::DelayAfterActing { ms: 700 },
    ));
    let key = unique_key("po-deadline");
    let within = Duration::from_millis(150);
    let first = give_up_after(
        Duration::from_secs(5),
        rig.client.clone().authorize(with_deadline_always(
            paymentoptions_sale(&key, 10_000),
            within,
        )),
    )
    .await;
    // The server's deadline (CANCELLED from tonic) or the client's.
    assert!(
        matches!(first, Some(Code::DeadlineExceeded | Code::Cancelled)),
        "{first:?}"
    );
    let (answer, told_to_retry) = retry_while_aborted(|| {
        let mut client = rig.client.clone();
        let request = paymentoptions_sale(&key, 10_000);
        async move { client.authorize(request).await }
    })
    .await;
    let order = answer
        .expect("the recorded sale")
        .into_inner()
        .order
        .unwrap();
    assert!(
        told_to_retry > 0,
        "the retry came while the sale was running"
    );
    assert_eq!(order.status(), v1::OrderStatus::Captured);
    assert_eq!(order.amount_captured, 10_000);
    let charges = rig
        .sandbox
        .paymentoptions
        .ledger()
        .authorizations
        .into_iter()
        .filter(|a| a.merchant_txn_ref == order.id)
        .count();
    assert_eq!(charges, 1, "one sale at PaymentOptions");
    assert!(rig.error_lines().is_empty(), "{:?}", rig.error_lines());
}

fn with_deadline_always<T>(message: T, within: Duration) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(within);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_deadline_never_leaves_a_sale_unrecorded_or_sent_twice_sqlite() {
    deadline_then_retry(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_deadline_never_leaves_a_sale_unrecorded_or_sent_twice_postgres() {
    deadline_then_retry(Backend::Postgres).await;
}

const CHAOS_FOR: Duration = Duration::from_secs(6);
const CHAOS_CALLERS: usize = 6;
const SMARTPAY_APPROVE: &str = "paytok_test_approved";

/// One RPC picked at random, given up on after 0.5–50 ms.
async fn cancelled_call(client: &Client, orders: &Mutex<Vec<String>>) -> Option<Code> {
    let within = Duration::from_micros(rand::rng().random_range(500..=50_000));
    let (pick, known) = {
        let orders = orders.lock().unwrap();
        let mut rng = rand::rng();
        (rng.random_range(0..9), orders.choose(&mut rng).cloned())
    };
    let known = known.unwrap_or_default();
    let mut c = client.clone();
    match pick {
        0 => {
            let request = payjp_authorize(&unique_key("cx"), 5_000, "pm_test_approve");
            give_up_after(within, c.authorize(with_deadline(request, within))).await
        }
        1 => {
            let request = paymentoptions_sale(&unique_key("cx"), 5_000);
            give_up_after(within, c.authorize(with_deadline(request, within))).await
        }
        2 => {
            let request = v1::CaptureRequest {
                idempotency_key: unique_key("cx"),
                order_id: known,
                amount: Some(1_000),
                ..Default::default()
            };
            give_up_after(within, c.capture(with_deadline(request, within))).await
        }
        3 => {
            let request = v1::RefundRequest {
                idempotency_key: unique_key("cx"),
                order_id: known,
                amount: Some(500),
                ..Default::default()
            };
            give_up_after(within, c.refund(with_deadline(request, within))).await
        }
        4 => {
            let request = v1::VoidRequest {
                idempotency_key: unique_key("cx"),
                order_id: known,
            };
            give_up_after(within, c.void(with_deadline(request, within))).await
        }
        5 => {
            let request = v1::GetOrderRequest {
                order_id: known,
                refresh: true,
            };
            give_up_after(within, c.get_order(with_deadline(request, within))).await
        }
        6 => {
            let request = v1::ListOrdersRequest::default();
            give_up_after(within, c.list_orders(with_deadline(request, within))).await
        }
        7 => {
            let request = smartpay_token_authorize(&unique_key("cx"), 5_000, SMARTPAY_APPROVE);
            give_up_after(within, c.authorize(with_deadline(request, within))).await
        }
        _ => {
            let request = v1::WatchOrderEventsRequest::default();
            let watch = async move {
                let mut stream = c
                    .watch_order_events(with_deadline(request, within))
                    .await?
                    .into_inner();
                while stream.message().await?.is_some() {}
                Ok(tonic::Response::new(()))
            };
            give_up_after(within, watch).await
        }
    }
}

async fn cancellation_chaos(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    // Orders to capture, refund and void.
    let orders = Arc::new(Mutex::new(Vec::new()));
    for n in 0..6 {
        let key = unique_key("seed");
        let request = match n % 3 {
            0 => payjp_authorize(&key, 20_000, "pm_test_approve"),
            1 => v1::AuthorizeRequest {
                capture_method: v1::CaptureMethod::Manual as i32,
                ..paymentoptions_sale(&key, 20_000)
            },
            _ => smartpay_token_authorize(&key, 20_000, SMARTPAY_APPROVE),
        };
        let order = rig.client.clone().authorize(request).await.unwrap();
        orders
            .lock()
            .unwrap()
            .push(order.into_inner().order.unwrap().id);
    }
    let slow = RandomFaults {
        rate: 0.5,
        kinds: vec![
            FaultKind::DelayAfterActing { ms: 20 },
            FaultKind::DelayAfterActing { ms: 300 },
            // Past kessai's provider timeout: an answer lost.
            FaultKind::DelayAfterActing { ms: 1_500 },
        ],
        method: None,
    };
    for faults in [
        rig.sandbox.payjp.faults(),
        rig.sandbox.paymentoptions.faults(),
        rig.sandbox.smartpay.faults(),
    ] {
        faults.set_random(Some(slow.clone()));
        faults.set_latency(Duration::from_millis(2));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let codes = Arc::new(Mutex::new(Vec::new()));
    let mut callers = Vec::new();
    for _ in 0..CHAOS_CALLERS {
        let (client, orders, stop, codes) = (
            rig.client.clone(),
            orders.clone(),
            stop.clone(),
            codes.clone(),
        );
        callers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let code = cancelled_call(&client, &orders).await;
                codes.lock().unwrap().push(code);
            }
        }));
    }
    // Healthy callers: reads with no deadline, which must all succeed.
    let healthy_ok = Arc::new(AtomicUsize::new(0));
    let healthy_failed = Arc::new(Mutex::new(Vec::new()));
    let mut healthy = Vec::new();
    // Other services, on a connection of their own.
    let healthy_client = rig.kessai.client().await;
    for _ in 0..2 {
        let (client, orders, stop, ok, failed) = (
            healthy_client.clone(),
            orders.clone(),
            stop.clone(),
            healthy_ok.clone(),
            healthy_failed.clone(),
        );
        healthy.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let id = orders.lock().unwrap()[0].clone();
                let get = client
                    .clone()
                    .get_order(v1::GetOrderRequest {
                        order_id: id,
                        refresh: false,
                    })
                    .await;
                let list = client
                    .clone()
                    .list_orders(v1::ListOrdersRequest {
                        page_size: 20,
                        ..Default::default()
                    })
                    .await;
                for result in [get.map(drop), list.map(drop)] {
                    match result {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(status) => failed.lock().unwrap().push(status),
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(CHAOS_FOR).await;
    stop.store(true, Ordering::Relaxed);
    for task in callers.into_iter().chain(healthy) {
        task.await.unwrap();
    }
    for faults in [
        rig.sandbox.payjp.faults(),
        rig.sandbox.paymentoptions.faults(),
        rig.sandbox.smartpay.faults(),
    ] {
        faults.clear();
        faults.set_random(None);
        faults.set_latency(Duration::ZERO);
    }

    let codes = codes.lock().unwrap().clone();
    let reset = codes.iter().filter(|c| c.is_none()).count();
    let internal = codes
        .iter()
        .filter(|c| matches!(c, Some(Code::Internal) | Some(Code::Unknown)))
        .count();
    eprintln!(
        "cancellation chaos ({backend:?}): {} calls given up after 0.5–50 ms ({reset} reset by the client), {} healthy reads",
        codes.len(),
        healthy_ok.load(Ordering::Relaxed)
    );
    assert!(codes.len() > 100, "the workload ran: {}", codes.len());
    assert_eq!(internal, 0, "no INTERNAL: {codes:?}");
    let failed = healthy_failed.lock().unwrap().clone();
    assert!(failed.is_empty(), "healthy calls failed: {failed:?}");

    // One lease and a few reconciler passes later, every order is settled
    // or flagged for a person, and the books match the providers'.
    let orders = settled_or_review(&rig, Duration::from_secs(40)).await;
    assert_books_match(&rig, &orders);
    assert_eq!(
        rig.stuck_in_transaction().await,
        0,
        "a connection idle in a transaction"
    );
    let errors = rig.error_lines();
    if !errors.is_empty() {
        let near: Vec<_> = rig
            .kessai
            .logs()
            .into_iter()
            .filter(|l| {
                errors
                    .iter()
                    .any(|e| e["span"]["request_id"] == l["span"]["request_id"])
            })
            .collect();
        panic!("ERROR log lines: {errors:?}\nwith their calls' other lines: {near:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_calls_of_every_rpc_lose_nothing_and_charge_once_sqlite() {
    cancellation_chaos(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_calls_of_every_rpc_lose_nothing_and_charge_once_postgres() {
    cancellation_chaos(Backend::Postgres).await;
}
