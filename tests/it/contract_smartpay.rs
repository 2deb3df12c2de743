//! Contract test: a workload through kessai's gRPC API against the Smartpay
//! simulator, every exchange (and webhook) written out and checked by
//! `tests/contract/smartpay_check.py` against the JTD schemas of Smartpay's
//! official SDK and the documented object and error shapes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use kessai::sandbox::faults::{Fault, FaultKind};
use tonic::Code;

use crate::helpers::{
    Backend, TestApp, assert_error, smartpay_customer, smartpay_shipping, unique_key,
};

/// Lines that add up to `amount` (at least 2,000) as Smartpay counts them:
/// shoes, two pairs of socks at 500, a 500 coupon and a 500 shipping fee.
fn details(amount: i64, token: &str) -> v1::SmartpayDetails {
    v1::SmartpayDetails {
        items: vec![
            v1::SmartpayItem {
                name: "オリジナルス STAN SMITH".into(),
                amount: amount - 1_000,
                quantity: 1,
                description: "白".into(),
                image_url: "https://shop.example/stan-smith.png".into(),
                ..Default::default()
            },
            v1::SmartpayItem {
                name: "靴下".into(),
                amount: 500,
                quantity: 2,
                ..Default::default()
            },
            v1::SmartpayItem {
                name: "クーポン".into(),
                amount: 500,
                quantity: 1,
                kind: v1::SmartpayItemKind::Discount as i32,
                ..Default::default()
            },
        ],
        success_url: "https://shop.example/success".into(),
        cancel_url: "https://shop.example/cancel".into(),
        token: token.into(),
        customer: smartpay_customer(),
        shipping: smartpay_shipping().map(|mut s| {
            s.fee_amount = 500;
            s
        }),
    }
}

fn authorize(amount: i64, token: &str, capture_method: v1::CaptureMethod) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        idempotency_key: unique_key("contract"),
        amount,
        currency: "JPY".into(),
        capture_method: capture_method as i32,
        merchant_reference: "order-3001".into(),
        description: "contract workload".into(),
        provider_details: Some(v1::authorize_request::ProviderDetails::Smartpay(details(
            amount, token,
        ))),
        ..Default::default()
    }
}

fn session_id(order: &v1::Order) -> String {
    match order.next_action.as_ref().and_then(|a| a.action.clone()) {
        Some(v1::next_action::Action::RedirectUrl(url)) => {
            url.rsplit('/').next().unwrap_or_default().to_owned()
        }
        other => panic!("a checkout URL, got {other:?}"),
    }
}

fn fixture(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/tests/fixtures/smartpay/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
}

fn checker() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/contract/smartpay_check.py")
}

/// Runs the checker: its exit status and what it printed.
fn check(file: &Path) -> (bool, String) {
    let output = Command::new(crate::tools::contract_python())
        .arg(checker())
        .arg(file)
        .output()
        .expect("the contract checker runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

fn out_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("kessai-contract");
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{name}-{}.jsonl", ulid::Ulid::new()))
}

/// The workload: each Smartpay endpoint, state and error kessai meets.
async fn workload(app: &TestApp) {
    // A checkout the shopper approves; partial captures, a refund split
    // across them, the remainder released.
    let order = app
        .authorize(authorize(6_000, "", v1::CaptureMethod::Manual))
        .await
        .unwrap();
    assert_eq!(order.status(), OrderStatus::RequiresAction);
    assert!(app.smartpay.approve_checkout(&session_id(&order)));
    let order = app.get_order(&order.id, true).await.unwrap();
    assert_eq!(order.status(), OrderStatus::Authorized);
    app.capture(&order.id, Some(1_000), false).await.unwrap();
    app.capture(&order.id, Some(2_000), false).await.unwrap();
    let refunded = app.refund(&order.id, Some(1_500)).await.unwrap();
    assert_eq!(refunded.refunds[0].parts.len(), 2, "split across captures");
    let voided = app.void(&order.id).await.unwrap();
    assert_eq!(voided.status(), OrderStatus::Captured);
    app.get_order(&order.id, true).await.unwrap();

    // A checkout the shopper rejects.
    let rejected = app
        .authorize(authorize(2_000, "", v1::CaptureMethod::Manual))
        .await
        .unwrap();
    assert!(app.smartpay.reject_checkout(&session_id(&rejected)));
    let rejected = app.get_order(&rejected.id, true).await.unwrap();
    assert_eq!(rejected.status(), OrderStatus::Declined);

    // Token orders: approved (a final partial capture releases the rest),
    // approved with automatic capture, rejected, unknown.
    let token = app
        .authorize(authorize(
            5_000,
            "paytok_test_approved",
            v1::CaptureMethod::Manual,
        ))
        .await
        .unwrap();
    assert_eq!(token.status(), OrderStatus::Authorized);
    let captured = app.capture(&token.id, Some(3_000), true).await.unwrap();
    assert_eq!(captured.status(), OrderStatus::Captured);
    app.refund(&token.id, None).await.unwrap();
    let automatic = app
        .authorize(authorize(
            4_000,
            "paytok_test_approved",
            v1::CaptureMethod::Automatic,
        ))
        .await
        .unwrap();
    assert_eq!(automatic.amount_captured, 4_000);
    let declined = app
        .authorize(authorize(
            4_000,
            "paytok_test_rejected",
            v1::CaptureMethod::Manual,
        ))
        .await
        .unwrap();
    assert_eq!(declined.status(), OrderStatus::Declined);
    let unknown = app
        .authorize(authorize(
            4_000,
            "paytok_test_unknown",
            v1::CaptureMethod::Manual,
        ))
        .await;
    assert!(unknown.is_err(), "{unknown:?}");

    // The order's customer in place of Smartpay's own, as a checkout and
    // as a token order: what kessai fills in must fit the schemas too.
    for token in ["", "paytok_test_approved"] {
        let mut request = authorize(3_000, token, v1::CaptureMethod::Manual);
        if let Some(v1::authorize_request::ProviderDetails::Smartpay(d)) =
            request.provider_details.as_mut()
        {
            d.customer = None;
        }
        request.customer = Some(v1::Customer {
            email: "hanako.sato@example.jp".into(),
            name: "佐藤 花子".into(),
            phone: "090-1234-5678".into(),
        });
        app.authorize(request).await.unwrap();
    }

    // An authorization voided whole.
    let void = app
        .authorize(authorize(
            3_000,
            "paytok_test_approved",
            v1::CaptureMethod::Manual,
        ))
        .await
        .unwrap();
    assert_eq!(
        app.void(&void.id).await.unwrap().status(),
        OrderStatus::Voided
    );

    // Smartpay's documented refusals (fixture bodies), mapped by their codes.
    let refused = app
        .authorize(authorize(
            3_000,
            "paytok_test_approved",
            v1::CaptureMethod::Manual,
        ))
        .await
        .unwrap();
    app.smartpay.faults().inject(Fault::new(
        "POST",
        "/payments",
        FaultKind::Status {
            status: 409,
            body: fixture("error.409.order.cannot-capture.json"),
        },
    ));
    assert_error(
        app.capture(&refused.id, Some(1_000), false).await,
        Code::FailedPrecondition,
        "CAPTURE_NOT_ALLOWED",
    );
    app.capture(&refused.id, Some(1_000), false).await.unwrap();
    app.smartpay.faults().inject(Fault::new(
        "POST",
        "/refunds",
        FaultKind::Status {
            status: 403,
            body: fixture("error.403.amount.insufficient.json"),
        },
    ));
    assert_error(
        app.refund(&refused.id, Some(500)).await,
        Code::FailedPrecondition,
        "AMOUNT_EXCEEDS_REFUNDABLE",
    );
    app.smartpay.faults().inject(Fault::new(
        "PUT",
        "/cancellation",
        FaultKind::Status {
            status: 409,
            body: fixture("error.409.order.cannot-cancel.json"),
        },
    ));
    assert!(app.void(&refused.id).await.is_err());

    // A refund whose answer is lost, settled past the 6-hour window by
    // finding it in the refunds list.
    app.smartpay.faults().inject(
        Fault::new(
            "POST",
            "/refunds",
            FaultKind::DelayAfterActing { ms: 3_000 },
        )
        .times(2),
    );
    assert!(app.refund(&refused.id, Some(400)).await.is_err());
    app.smartpay.faults().clear();
    app.clock.advance(chrono::Duration::hours(7));
    app.reconcile().await;
    let settled = app.get_order(&refused.id, true).await.unwrap();
    assert_eq!(settled.amount_refunded, 400, "{settled:?}");
}

/// The simulator's own lists and retrievals, asked directly (kessai reads
/// only the refunds list), so their answers are checked too.
async fn browse_lists(app: &TestApp) {
    let base = app.sandbox().smartpay_base_url();
    let client = reqwest::Client::new();
    let get = |path: String| {
        client
            .get(format!("{base}{path}"))
            .header(
                "Authorization",
                format!("Basic {}", kessai::sandbox::SMARTPAY_SANDBOX_SECRET_KEY),
            )
            .send()
    };
    let first: serde_json::Value = get("/orders?maxResults=2".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = first["nextPageToken"]
        .as_str()
        .expect("more orders")
        .to_owned();
    get(format!("/orders?maxResults=2&pageToken={next}&expand=no"))
        .await
        .unwrap();
    get("/payments".into()).await.unwrap();
    get("/refunds?maxResults=3".into()).await.unwrap();
    let sessions: serde_json::Value = get("/checkout-sessions".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = sessions["data"][0]["id"]
        .as_str()
        .expect("a session")
        .to_owned();
    get(format!("/checkout-sessions/{id}")).await.unwrap();
    get("/refunds/refund_test_unknown".into()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_smartpay_exchange_matches_the_official_contract() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.notify_kessai();
    workload(&app).await;
    browse_lists(&app).await;
    assert!(
        app.smartpay
            .webhooks()
            .settled(Duration::from_secs(10))
            .await,
        "webhooks delivered"
    );
    let file = out_file("smartpay");
    app.sandbox()
        .received()
        .write_exchanges(&file)
        .expect("exchanges written");
    {
        use std::io::Write;
        let mut out = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .expect("append webhooks");
        for delivery in app.smartpay.webhooks().deliveries() {
            let body: serde_json::Value =
                serde_json::from_slice(&delivery.body).expect("a JSON event");
            writeln!(out, "{}", serde_json::json!({ "webhook": body })).expect("write");
        }
    }
    let (ok, printed) = check(&file);
    assert!(ok, "{printed}");
    for endpoint in [
        "POST /checkout-sessions",
        "POST /orders",
        "GET /orders/[^/]+",
        "PUT /orders/[^/]+/cancellation",
        "POST /payments",
        "GET /payments/[^/]+",
        "POST /refunds",
        "GET /refunds\n",
        "GET /orders\n",
        "GET /payments\n",
        "GET /checkout-sessions\n",
        "GET /checkout-sessions/[^/]+",
        "GET /refunds/[^/]+",
        "webhook",
    ] {
        assert!(
            printed.contains(&format!("× {endpoint}")),
            "{endpoint} unchecked:\n{printed}"
        );
    }
    let _ = std::fs::remove_file(&file);
}

#[test]
fn the_checker_refuses_what_the_contract_forbids() {
    let file = out_file("smartpay-bad");
    let lines = [
        // A token order without customerInfo / shippingInfo.
        serde_json::json!({"method": "POST", "path": "/smartpay/v1/orders", "query": null, "status": 200,
            "request": {"token": "paytok_test_approved", "amount": 100, "currency": "JPY", "items": []},
            "response": fixture("order.requires_capture.json")}),
        // An error without errorCode.
        serde_json::json!({"method": "POST", "path": "/smartpay/v1/payments", "query": null, "status": 409,
            "request": fixture("payment.create.request.json"),
            "response": {"statusCode": 409, "message": "no", "details": []}}),
        // A refund with a string amount.
        serde_json::json!({"method": "POST", "path": "/smartpay/v1/refunds", "query": null, "status": 200,
            "request": fixture("refund.create.request.json"),
            "response": {"amount": "1000"}}),
    ];
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&file, text.join("\n")).expect("write");
    let (ok, printed) = check(&file);
    assert!(!ok, "{printed}");
    for expected in [
        "violates token-order schema at properties/customerInfo",
        "request.shippingInfo: is required",
        "error.errorCode: is required",
        "answer.amount: must be int",
    ] {
        assert!(
            printed.contains(expected),
            "{expected} not reported:\n{printed}"
        );
    }
    let _ = std::fs::remove_file(&file);
}
