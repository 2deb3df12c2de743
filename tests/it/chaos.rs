//! A mixed workload under injected faults (latency, 5xx, timeouts,
//! connections dropped after the provider acted), then reconciliation: for
//! every order, kessai's captured and refunded amounts equal the
//! simulator's own ledger, and nothing was lost or done twice.

use std::time::Duration;

use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use kessai::sandbox::faults::{FaultKind, RandomFaults};
use kessai::sandbox::payjp::PayjpLedger;
use kessai::sandbox::smartpay::SmartpayLedger;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::db_test;
#[allow(unused_imports)]
use crate::helpers::TestApp;

pub const ORDERS: usize = 30;
pub const FAULT_RATE: f64 = 0.25;

fn chaos() -> RandomFaults {
    RandomFaults {
        rate: FAULT_RATE,
        kinds: vec![
            FaultKind::Status {
                status: 500,
                body: serde_json::json!({}),
            },
            FaultKind::Status {
                status: 503,
                body: serde_json::json!({}),
            },
            FaultKind::DropAfterActing,
            FaultKind::DelayAfterActing { ms: 2_500 },
        ],
        method: None,
    }
}

/// What a careful client does: retry with the same key while the answer
/// says to.
pub async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
{
    let mut last = None;
    for _ in 0..3 {
        match call().await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status)
                if matches!(
                    status.code(),
                    Code::Unavailable | Code::DeadlineExceeded | Code::Aborted
                ) =>
            {
                last = Some(status);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => return Err(status),
        }
    }
    Err(last.expect("at least one attempt"))
}

/// Authorize, capture part, capture or void the rest, refund some.
pub async fn order_flow(client: PaymentServiceClient<Channel>, n: usize) {
    let details = if n.is_multiple_of(2) {
        v1::authorize_request::ProviderDetails::Payjp(v1::PayjpDetails {
            payment_method_id: "pm_test_approve".into(),
            customer_id: "cus_test_kessai".into(),
            ..Default::default()
        })
    } else {
        v1::authorize_request::ProviderDetails::Smartpay(v1::SmartpayDetails {
            token: "paytok_test_approved".into(),
            items: vec![v1::SmartpayItem {
                name: "item".into(),
                amount: 10_000,
                quantity: 1,
                ..Default::default()
            }],
            customer: crate::helpers::smartpay_customer(),
            shipping: crate::helpers::smartpay_shipping(),
            ..Default::default()
        })
    };
    let authorize = v1::AuthorizeRequest {
        idempotency_key: format!("chaos-{n}-authorize"),
        amount: 10_000,
        currency: "JPY".into(),
        provider_details: Some(details),
        ..Default::default()
    };
    let Ok(authorized) = with_retries(|| {
        let mut client = client.clone();
        let request = authorize.clone();
        async move { client.authorize(request).await }
    })
    .await
    else {
        return;
    };
    let order_id = authorized.order.unwrap().id;
    let capture = |key: &str, amount: Option<i64>| v1::CaptureRequest {
        idempotency_key: format!("chaos-{n}-{key}"),
        order_id: order_id.clone(),
        amount,
        ..Default::default()
    };
    let first = capture("capture-1", Some(4_000));
    if with_retries(|| {
        let mut client = client.clone();
        let request = first.clone();
        async move { client.capture(request).await }
    })
    .await
    .is_err()
    {
        return;
    }
    if n.is_multiple_of(5) {
        let void = v1::VoidRequest {
            idempotency_key: format!("chaos-{n}-void"),
            order_id: order_id.clone(),
        };
        let _ = with_retries(|| {
            let mut client = client.clone();
            let request = void.clone();
            async move { client.void(request).await }
        })
        .await;
    } else {
        let rest = capture("capture-2", None);
        let _ = with_retries(|| {
            let mut client = client.clone();
            let request = rest.clone();
            async move { client.capture(request).await }
        })
        .await;
    }
    let refund = v1::RefundRequest {
        idempotency_key: format!("chaos-{n}-refund"),
        order_id: order_id.clone(),
        amount: Some(3_000),
        ..Default::default()
    };
    let _ = with_retries(|| {
        let mut client = client.clone();
        let request = refund.clone();
        async move { client.refund(request).await }
    })
    .await;
}

/// kessai's books against the simulators' ledgers, order by order.
pub async fn assert_books_match(
    mut client: PaymentServiceClient<Channel>,
    payjp: &PayjpLedger,
    smartpay: &SmartpayLedger,
) {
    let page = client
        .list_orders(v1::ListOrdersRequest {
            page_size: 200,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    for order in &page.orders {
        assert_ne!(order.status(), OrderStatus::Pending, "settled: {order:?}");
        if order.provider_order_id.is_empty() {
            continue;
        }
        let (captured, refunded, canceled) = match order.provider() {
            v1::Provider::Payjp => {
                let flow = payjp
                    .flows
                    .iter()
                    .find(|f| f.id == order.provider_order_id)
                    .expect("PAY.JP knows it");
                (flow.captured, flow.refunded, flow.canceled)
            }
            v1::Provider::Smartpay => {
                let ledger = smartpay
                    .orders
                    .iter()
                    .find(|o| o.id == order.provider_order_id)
                    .expect("Smartpay knows it");
                (ledger.captured, ledger.refunded, ledger.canceled)
            }
            other => panic!("unexpected provider {other:?}"),
        };
        assert_eq!(order.amount_captured, captured, "captured: {order:?}");
        assert_eq!(order.amount_refunded, refunded, "refunded: {order:?}");
        if order.status() == OrderStatus::Voided {
            assert!(canceled, "voided at the provider too: {order:?}");
        }
    }
    // Nothing at a provider that kessai does not know.
    let known: Vec<&str> = page
        .orders
        .iter()
        .map(|o| o.provider_order_id.as_str())
        .collect();
    for flow in &payjp.flows {
        assert!(
            known.contains(&flow.id.as_str()),
            "PAY.JP has a flow kessai lost: {flow:?}"
        );
    }
    for order in &smartpay.orders {
        assert!(
            known.contains(&order.id.as_str()),
            "Smartpay has an order kessai lost: {order:?}"
        );
    }
}

db_test! {
    async fn books_match_the_providers_after_faults_and_reconciliation(app: TestApp) {
        app.payjp.faults().set_random(Some(chaos()));
        app.smartpay.faults().set_random(Some(chaos()));
        app.payjp.faults().set_latency(Duration::from_millis(5));
        let flows = (0..ORDERS).map(|n| order_flow(app.client.clone(), n));
        futures::future::join_all(flows).await;
        app.payjp.faults().clear();
        app.smartpay.faults().clear();
        let unknown = app.count("order_events WHERE event_type LIKE '%outcome_unknown'").await;
        let resumed = app.count("order_events WHERE event_type LIKE '%resumed'").await;
        eprintln!("chaos: {ORDERS} orders, fault rate {FAULT_RATE}: {unknown} outcomes lost, {resumed} calls resumed by a retry");
        assert!(unknown > 0, "the faults hit");

        for _ in 0..8 {
            app.reconcile().await;
            if app.count("provider_attempts WHERE state IN ('unknown', 'in_flight')").await == 0 {
                break;
            }
            // Past every backoff, within Smartpay's 6-hour idempotency window.
            app.clock.advance(chrono::Duration::minutes(30));
        }
        assert_eq!(app.count("provider_attempts WHERE state IN ('unknown', 'in_flight')").await, 0, "every call settled");
        assert_books_match(app.client.clone(), &app.payjp.ledger(), &app.smartpay.ledger()).await;
        assert!(app.count("orders").await >= ORDERS as i64 / 2, "the workload ran");
    }
}
