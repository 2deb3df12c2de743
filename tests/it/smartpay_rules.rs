//! The Smartpay rules of seeds 000 and 002 and providers.md, one test per
//! rule, through the gRPC API against the Smartpay simulator.

use chrono::Duration;
use kessai::clock::Clock;
use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use tonic::Code;

use crate::db_test;
use crate::helpers::{TestApp, assert_error, unique_key};

fn checkout(amount: i64, capture_method: v1::CaptureMethod) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        idempotency_key: unique_key("auth"),
        amount,
        currency: "JPY".into(),
        capture_method: capture_method as i32,
        merchant_reference: "order-2001".into(),
        provider_details: Some(v1::authorize_request::ProviderDetails::Smartpay(
            v1::SmartpayDetails {
                items: vec![v1::SmartpayItem {
                    name: "オリジナルス STAN SMITH".into(),
                    amount,
                    quantity: 1,
                    ..Default::default()
                }],
                success_url: "https://shop.example/success".into(),
                cancel_url: "https://shop.example/cancel".into(),
                customer: Some(v1::SmartpayCustomer {
                    email: "shopper@example.jp".into(),
                    first_name: "太郎".into(),
                    last_name: "田中".into(),
                    ..Default::default()
                }),
                shipping: crate::helpers::smartpay_shipping(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn token(amount: i64, token: &str, capture_method: v1::CaptureMethod) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        idempotency_key: unique_key("auth"),
        amount,
        currency: "JPY".into(),
        capture_method: capture_method as i32,
        provider_details: Some(v1::authorize_request::ProviderDetails::Smartpay(
            v1::SmartpayDetails {
                token: token.into(),
                items: vec![v1::SmartpayItem {
                    name: "定期便".into(),
                    amount,
                    quantity: 1,
                    ..Default::default()
                }],
                customer: crate::helpers::smartpay_customer(),
                shipping: crate::helpers::smartpay_shipping(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn redirect_url(order: &v1::Order) -> String {
    match order.next_action.as_ref().and_then(|a| a.action.clone()) {
        Some(v1::next_action::Action::RedirectUrl(url)) => url,
        other => panic!("a checkout URL, got {other:?}"),
    }
}

/// The checkout session id is the last segment of the checkout URL.
fn session_id(order: &v1::Order) -> String {
    redirect_url(order).rsplit('/').next().unwrap().to_owned()
}

/// A Smartpay order the shopper approved through the checkout.
async fn approved(app: &TestApp, amount: i64) -> v1::Order {
    let order = app
        .authorize(checkout(amount, v1::CaptureMethod::Manual))
        .await
        .unwrap();
    assert!(app.smartpay.approve_checkout(&session_id(&order)));
    let order = app.get_order(&order.id, true).await.unwrap();
    assert_eq!(order.status(), OrderStatus::Authorized, "{order:?}");
    order
}

fn ledger_order(app: &TestApp, id: &str) -> kessai::sandbox::smartpay::LedgerOrder {
    app.smartpay
        .ledger()
        .orders
        .into_iter()
        .find(|o| o.id == id)
        .expect("Smartpay knows the order")
}

fn days_left(order: &v1::Order, app: &TestApp) -> i64 {
    (order.expires_at.as_ref().unwrap().seconds - app.clock.now().timestamp() + 60) / 86_400
}

db_test! {
    async fn a_checkout_waits_for_the_shopper_with_its_url(app: TestApp) {
        let order = app.authorize(checkout(5_000, v1::CaptureMethod::Manual)).await.unwrap();
        assert_eq!(order.status(), OrderStatus::RequiresAction);
        assert_eq!(order.provider(), v1::Provider::Smartpay);
        assert!(order.provider_order_id.starts_with("order_test_"));
        assert!(redirect_url(&order).contains("/_sandbox/checkout/checkout_test_"));
        assert_eq!(ledger_order(&app, &order.provider_order_id).status, "requires_authorization");
    }
}

db_test! {
    async fn the_shoppers_approval_authorizes_for_seven_days(app: TestApp) {
        let order = approved(&app, 5_000).await;
        assert_eq!(order.amount_authorized, 5_000);
        assert_eq!(order.amount_capturable, 5_000);
        assert_eq!(order.payment_method(), v1::PaymentMethod::Bnpl);
        assert_eq!(days_left(&order, &app), 7);
        assert!(order.next_action.is_none());
    }
}

db_test! {
    async fn a_rejected_application_is_a_declined_order(app: TestApp) {
        let order = app.authorize(checkout(5_000, v1::CaptureMethod::Manual)).await.unwrap();
        assert!(app.smartpay.reject_checkout(&session_id(&order)));
        let order = app.get_order(&order.id, true).await.unwrap();
        assert_eq!(order.status(), OrderStatus::Declined);
        assert!(order.expires_at.is_none(), "nothing authorized, no deadline: {order:?}");
        assert_eq!(order.failure.unwrap().provider_code, "rejected");
    }
}

db_test! {
    async fn an_approved_token_authorizes_at_once_and_a_rejected_one_declines(app: TestApp) {
        let order = app.authorize(token(3_000, "paytok_test_approved", v1::CaptureMethod::Manual)).await.unwrap();
        assert_eq!(order.status(), OrderStatus::Authorized);
        assert_eq!(days_left(&order, &app), 7);
        let order = app.authorize(token(3_000, "paytok_test_rejected", v1::CaptureMethod::Manual)).await.unwrap();
        assert_eq!(order.status(), OrderStatus::Declined);
    }
}

db_test! {
    async fn automatic_capture_records_smartpays_payment(app: TestApp) {
        let order = app.authorize(token(3_000, "paytok_test_approved", v1::CaptureMethod::Automatic)).await.unwrap();
        assert_eq!(order.status(), OrderStatus::Captured);
        assert_eq!(order.captures.len(), 1);
        assert!(order.captures[0].provider_capture_id.starts_with("payment_test_"));
        // Refunds need that payment id.
        let refunded = app.refund(&order.id, Some(1_000)).await.unwrap();
        assert_eq!(refunded.amount_refunded, 1_000);
    }
}

db_test! {
    async fn several_partial_captures_then_the_last_releases_the_rest(app: TestApp) {
        let order = approved(&app, 10_000).await;
        let first = app.capture(&order.id, Some(2_000), false).await.unwrap();
        assert_eq!((first.status(), first.amount_capturable), (OrderStatus::PartiallyCaptured, 8_000));
        let second = app.capture(&order.id, Some(3_000), false).await.unwrap();
        assert_eq!(second.amount_captured, 5_000);
        let last = app.capture(&order.id, Some(1_000), true).await.unwrap();
        assert_eq!((last.status(), last.amount_captured, last.amount_capturable), (OrderStatus::Captured, 6_000, 0));
        let ledger = ledger_order(&app, &order.provider_order_id);
        assert_eq!((ledger.status.as_str(), ledger.captured, ledger.payments.len()), ("succeeded", 6_000, 3));

        let calls = app.smartpay.requests_seen();
        let more = app.capture(&order.id, Some(100), false).await;
        assert_error(more, Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED");
        assert_eq!(app.smartpay.requests_seen(), calls, "refused before Smartpay is called");
    }
}

db_test! {
    async fn captures_cannot_exceed_the_order_amount(app: TestApp) {
        let order = approved(&app, 3_000).await;
        app.capture(&order.id, Some(2_000), false).await.unwrap();
        let calls = app.smartpay.requests_seen();
        assert_error(app.capture(&order.id, Some(1_001), false).await, Code::FailedPrecondition, "AMOUNT_EXCEEDS_CAPTURABLE");
        assert_eq!(app.smartpay.requests_seen(), calls);
        assert_eq!(app.capture(&order.id, None, false).await.unwrap().amount_captured, 3_000);
    }
}

db_test! {
    async fn the_seven_day_window_is_enforced_from_stored_state(app: TestApp) {
        let order = approved(&app, 3_000).await;
        app.clock.advance(Duration::days(7));
        let calls = app.smartpay.requests_seen();
        assert_error(app.capture(&order.id, None, false).await, Code::FailedPrecondition, "AUTHORIZATION_EXPIRED");
        assert_eq!(app.smartpay.requests_seen(), calls);
        assert_eq!(app.get_order(&order.id, false).await.unwrap().status(), OrderStatus::Expired);
    }
}

db_test! {
    async fn one_refund_is_split_across_two_captures_oldest_first(app: TestApp) {
        let order = approved(&app, 5_000).await;
        app.capture(&order.id, Some(1_000), false).await.unwrap();
        let captured = app.capture(&order.id, Some(2_000), false).await.unwrap();
        let (first, second) = (&captured.captures[0], &captured.captures[1]);

        let refunded = app.refund(&order.id, Some(1_500)).await.unwrap();
        assert_eq!(refunded.amount_refunded, 1_500);
        let refund = &refunded.refunds[0];
        assert_eq!(refund.status(), v1::RefundStatus::Succeeded);
        let parts: Vec<(&str, i64)> = refund.parts.iter().map(|p| (p.capture_id.as_str(), p.amount)).collect();
        assert_eq!(parts, [(first.id.as_str(), 1_000), (second.id.as_str(), 500)]);
        assert!(refund.parts.iter().all(|p| p.provider_refund_id.starts_with("refund_test_")));
        let ledger = ledger_order(&app, &order.provider_order_id);
        let refunded_per_payment: Vec<i64> = ledger.payments.iter().map(|p| p.refunded).collect();
        assert_eq!(refunded_per_payment, [1_000, 500]);

        let rest = app.refund(&order.id, None).await.unwrap();
        assert_eq!(rest.amount_refunded, 3_000);
        assert_eq!(rest.refunds[1].parts.len(), 1);
        assert_eq!(rest.refunds[1].parts[0].capture_id, second.id);

        let calls = app.smartpay.requests_seen();
        assert_error(app.refund(&order.id, Some(1)).await, Code::FailedPrecondition, "AMOUNT_EXCEEDS_REFUNDABLE");
        assert_error(app.refund(&order.id, None).await, Code::FailedPrecondition, "REFUND_NOT_ALLOWED");
        assert_eq!(app.smartpay.requests_seen(), calls);
    }
}

db_test! {
    async fn refunds_beyond_what_is_left_are_refused_before_smartpay_is_called(app: TestApp) {
        let order = approved(&app, 5_000).await;
        app.capture(&order.id, Some(2_000), true).await.unwrap();
        app.refund(&order.id, Some(1_500)).await.unwrap();
        let calls = app.smartpay.requests_seen();
        assert_error(app.refund(&order.id, Some(501)).await, Code::FailedPrecondition, "AMOUNT_EXCEEDS_REFUNDABLE");
        assert_eq!(app.smartpay.requests_seen(), calls);
    }
}

db_test! {
    async fn the_refund_reason_is_smartpays(app: TestApp) {
        let order = approved(&app, 5_000).await;
        app.capture(&order.id, None, false).await.unwrap();
        let mut client = app.client.clone();
        let request = |reason: v1::RefundReason| v1::RefundRequest {
            idempotency_key: unique_key("ref"),
            order_id: order.id.clone(),
            amount: Some(100),
            reason: reason as i32,
            ..Default::default()
        };
        let fraud = client.refund(request(v1::RefundReason::Fraudulent)).await.unwrap().into_inner().order.unwrap();
        assert_eq!(fraud.refunds[0].reason(), v1::RefundReason::Fraudulent);
        let duplicate = client.refund(request(v1::RefundReason::Duplicate)).await;
        assert_error(duplicate, Code::InvalidArgument, "INVALID_ARGUMENT");
    }
}

db_test! {
    async fn void_cancels_an_untouched_order(app: TestApp) {
        let order = approved(&app, 5_000).await;
        let voided = app.void(&order.id).await.unwrap();
        assert_eq!(voided.status(), OrderStatus::Voided);
        assert_eq!(ledger_order(&app, &order.provider_order_id).status, "canceled");
    }
}

db_test! {
    async fn void_after_a_partial_capture_releases_the_rest(app: TestApp) {
        let order = approved(&app, 5_000).await;
        app.capture(&order.id, Some(2_000), false).await.unwrap();
        let voided = app.void(&order.id).await.unwrap();
        assert_eq!((voided.status(), voided.amount_captured, voided.amount_capturable), (OrderStatus::Captured, 2_000, 0));
        assert_eq!(ledger_order(&app, &order.provider_order_id).status, "succeeded");
    }
}

db_test! {
    async fn an_order_still_at_checkout_cannot_be_voided(app: TestApp) {
        let order = app.authorize(checkout(5_000, v1::CaptureMethod::Manual)).await.unwrap();
        let calls = app.smartpay.requests_seen();
        assert_error(app.void(&order.id).await, Code::FailedPrecondition, "VOID_NOT_ALLOWED");
        assert_eq!(app.smartpay.requests_seen(), calls);
    }
}

db_test! {
    async fn an_abandoned_checkout_expires_after_asking_smartpay(app: TestApp) {
        let order = app.authorize(checkout(5_000, v1::CaptureMethod::Manual)).await.unwrap();
        assert_eq!(days_left(&order, &app), 1, "the default action TTL is 24 hours");
        app.clock.advance(Duration::hours(25));
        let calls = app.smartpay.requests_seen();
        let expired = app.get_order(&order.id, true).await.unwrap();
        assert_eq!(expired.status(), OrderStatus::Expired);
        assert!(app.smartpay.requests_seen() > calls, "Smartpay was asked first");
    }
}

db_test! {
    async fn a_checkout_approved_in_time_is_not_expired(app: TestApp) {
        let order = app.authorize(checkout(5_000, v1::CaptureMethod::Manual)).await.unwrap();
        assert!(app.smartpay.approve_checkout(&session_id(&order)));
        app.clock.advance(Duration::hours(25));
        let refreshed = app.get_order(&order.id, true).await.unwrap();
        assert_eq!(refreshed.status(), OrderStatus::Authorized);
    }
}

db_test! {
    async fn a_capture_resumed_after_smartpay_forgot_its_key_looks_the_payment_up(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = approved(&app, 5_000).await;
        app.smartpay.faults().inject(Fault::new("POST", "/payments", FaultKind::DelayAfterActing { ms: 3_000 }).times(2));
        let key = unique_key("cap");
        assert_error(app.capture_with_key(&key, &order.id, Some(2_000), false).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        assert_eq!(ledger_order(&app, &order.provider_order_id).payments.len(), 1, "Smartpay did capture");
        app.smartpay.faults().clear();
        // Smartpay keeps idempotency keys 6 hours: a plain resend now would
        // capture again.
        app.clock.advance(Duration::hours(7));
        let settled = app.capture_with_key(&key, &order.id, Some(2_000), false).await.unwrap();
        assert_eq!((settled.status(), settled.amount_captured), (OrderStatus::PartiallyCaptured, 2_000));
        let ledger = ledger_order(&app, &order.provider_order_id);
        assert_eq!((ledger.payments.len(), ledger.captured), (1, 2_000), "captured once");
        assert_eq!(settled.captures[0].provider_capture_id, ledger.payments[0].id);
    }
}

db_test! {
    async fn smartpay_errors_map_by_their_code(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let fixture = |name: &str| -> serde_json::Value {
            let path = format!("{}/tests/fixtures/smartpay/{name}", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let order = approved(&app, 5_000).await;
        app.smartpay.faults().inject(Fault::new(
            "POST",
            "/payments",
            FaultKind::Status { status: 409, body: fixture("error.409.order.cannot-capture.json") },
        ));
        assert_error(app.capture(&order.id, Some(100), false).await, Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED");
        app.capture(&order.id, Some(1_000), false).await.unwrap();
        app.smartpay.faults().inject(Fault::new(
            "POST",
            "/refunds",
            FaultKind::Status { status: 403, body: fixture("error.403.amount.insufficient.json") },
        ));
        assert_error(app.refund(&order.id, Some(100)).await, Code::FailedPrecondition, "AMOUNT_EXCEEDS_REFUNDABLE");
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!((stored.amount_captured, stored.amount_refunded), (1_000, 0));
        assert_eq!(stored.refunds[0].status(), v1::RefundStatus::Failed);
    }
}

db_test! {
    async fn checkout_input_is_validated(app: TestApp) {
        let mut request = checkout(5_000, v1::CaptureMethod::Manual);
        if let Some(v1::authorize_request::ProviderDetails::Smartpay(d)) = request.provider_details.as_mut() {
            d.items.clear();
            d.success_url = "ftp://nope".into();
        }
        let status = assert_error(app.authorize(request).await, Code::InvalidArgument, "INVALID_ARGUMENT");
        let field = &tonic_types::StatusExt::get_details_bad_request(&status).unwrap().field_violations[0].field;
        assert_eq!(field, "smartpay.items");
        assert_eq!(app.count("orders").await, 0);
    }
}

db_test! {
    async fn the_shopper_and_delivery_address_the_schemas_require_are_checked_first(app: TestApp) {
        let mut request = token(5_000, "paytok_test_approved", v1::CaptureMethod::Manual);
        let Some(v1::authorize_request::ProviderDetails::Smartpay(details)) = request.provider_details.as_mut() else {
            panic!("Smartpay details");
        };
        details.customer = None;
        details.shipping = Some(v1::SmartpayShipping {
            address: Some(v1::Address { line2: "Room 2".into(), country: "JP".into(), ..Default::default() }),
            fee_amount: 0,
        });
        let seen = app.smartpay.requests_seen();
        let status = assert_error(app.authorize(request).await, Code::InvalidArgument, "INVALID_ARGUMENT");
        let fields: Vec<String> = tonic_types::StatusExt::get_details_bad_request(&status)
            .expect("field violations")
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            ["smartpay.customer", "smartpay.shipping.address.line1", "smartpay.shipping.address.city", "smartpay.shipping.address.postal_code"]
        );
        assert!(!status.message().contains("Room 2"), "{status:?}");
        assert_eq!(app.smartpay.requests_seen(), seen, "Smartpay is not asked");
    }
}

db_test! {
    async fn the_shopper_and_delivery_address_reach_smartpay_in_the_schemas_shape(app: TestApp) {
        let order = app.authorize(token(5_000, "paytok_test_approved", v1::CaptureMethod::Manual)).await.unwrap();
        assert_eq!(order.status(), OrderStatus::Authorized);
        let sent = last_token_order(&app);
        assert_eq!(
            sent["shippingInfo"]["address"],
            serde_json::json!({"line1": "3-6-7", "line2": "青山パラシオタワー 11階", "locality": "港区北青山", "administrativeArea": "東京都", "postalCode": "107-0061", "country": "JP"})
        );
        assert_eq!(sent["shippingInfo"]["feeCurrency"], "JPY");
        assert_eq!(sent["customerInfo"]["emailAddress"], "shopper@example.jp");
        assert_eq!(sent["items"][0]["amount"], 5_000);
    }
}

/// A refund of 1,500 on an order captured in two payments (1,000 then
/// 2,000), its answer lost: `fault` decides whether Smartpay acted.
async fn refund_with_lost_answer(
    app: &TestApp,
    fault: kessai::sandbox::faults::FaultKind,
) -> v1::Order {
    use kessai::sandbox::faults::Fault;
    let order = approved(app, 5_000).await;
    app.capture(&order.id, Some(1_000), false).await.unwrap();
    app.capture(&order.id, Some(2_000), false).await.unwrap();
    app.smartpay
        .faults()
        .inject(Fault::new("POST", "/refunds", fault).times(2));
    let status = app
        .refund(&order.id, Some(1_500))
        .await
        .expect_err("the answer is lost");
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Unavailable),
        "{status:?}"
    );
    app.smartpay.faults().clear();
    let pending = app.get_order(&order.id, false).await.unwrap();
    assert_eq!(
        pending.refunds[0].status(),
        v1::RefundStatus::Pending,
        "{pending:?}"
    );
    // Past Smartpay's 6-hour idempotency window: a resend would refund again.
    app.clock.advance(Duration::hours(7));
    app.reconcile().await;
    app.get_order(&order.id, false).await.unwrap()
}

fn refund_posts(app: &TestApp) -> usize {
    app.sandbox()
        .received()
        .all()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/smartpay/v1/refunds")
        .count()
}

db_test! {
    async fn a_lost_refund_smartpay_made_is_found_by_its_key_after_the_window(app: TestApp) {
        use kessai::sandbox::faults::FaultKind;
        let settled = refund_with_lost_answer(&app, FaultKind::DelayAfterActing { ms: 3_000 }).await;
        let refund = &settled.refunds[0];
        assert_eq!(refund.status(), v1::RefundStatus::Succeeded, "{settled:?}");
        assert_eq!(settled.amount_refunded, 1_500);
        assert!(!settled.needs_review, "{settled:?}");
        let ledger = ledger_order(&app, &settled.provider_order_id);
        assert_eq!(ledger.refunded, 1_500, "refunded once");
        // Both parts were found in the refunds list, not sent again.
        let found: Vec<&str> = refund.parts.iter().map(|p| p.provider_refund_id.as_str()).collect();
        assert!(found.iter().all(|id| id.starts_with("refund_test_")), "{found:?}");
        assert!(app.sandbox().received().exchanges().iter().any(|e| e.method == "GET" && e.path == "/smartpay/v1/refunds"));
        let posts = refund_posts(&app);
        app.reconcile().await;
        assert_eq!(refund_posts(&app), posts, "nothing is resent");
    }
}

db_test! {
    async fn a_lost_refund_smartpay_never_made_is_made_once_after_the_window(app: TestApp) {
        use kessai::sandbox::faults::FaultKind;
        let settled = refund_with_lost_answer(&app, FaultKind::Hang).await;
        let refund = &settled.refunds[0];
        // The refunds list showed none with its key: sending it now cannot
        // refund twice.
        assert!(app.sandbox().received().exchanges().iter().any(|e| e.method == "GET" && e.path == "/smartpay/v1/refunds"));
        assert_eq!(refund.status(), v1::RefundStatus::Succeeded, "{settled:?}");
        assert_eq!(settled.amount_refunded, 1_500);
        assert!(!settled.needs_review, "{settled:?}");
        let ledger = ledger_order(&app, &settled.provider_order_id);
        assert_eq!(ledger.refunded, 1_500, "refunded once");
        assert_eq!(ledger.payments.iter().map(|p| p.refunded).collect::<Vec<_>>(), [1_000, 500]);
        let posts = refund_posts(&app);
        app.reconcile().await;
        assert_eq!(refund_posts(&app), posts, "nothing is resent");
    }
}

db_test! {
    async fn an_authorization_window_counts_from_the_first_send_not_the_late_answer(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        app.smartpay.faults().inject(Fault::new("POST", "/orders", FaultKind::DelayAfterActing { ms: 3_000 }).times(2));
        let request = token(4_000, "paytok_test_approved", v1::CaptureMethod::Manual);
        let first_sent = app.clock.now();
        assert_error(app.authorize(request.clone()).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        app.smartpay.faults().clear();
        // The retry comes hours later (within Smartpay's idempotency window).
        app.clock.advance(Duration::hours(5));
        let order = app.authorize(request).await.unwrap();
        assert_eq!(order.status(), OrderStatus::Authorized);
        let expires = order.expires_at.expect("an expiry").seconds;
        let from_first_send = (first_sent + Duration::days(7)).timestamp();
        assert!((expires - from_first_send).abs() <= 5, "expires {expires}, 7 days after the first send {from_first_send}");
    }
}

/// The body of the last token order Smartpay received.
fn last_token_order(app: &TestApp) -> serde_json::Value {
    app.sandbox()
        .received()
        .exchanges()
        .into_iter()
        .rfind(|e| e.method == "POST" && e.path == "/smartpay/v1/orders")
        .and_then(|e| e.request)
        .expect("the token order was sent")
}

fn items_of(request: &mut v1::AuthorizeRequest) -> &mut v1::SmartpayDetails {
    match request.provider_details.as_mut() {
        Some(v1::authorize_request::ProviderDetails::Smartpay(details)) => details,
        _ => panic!("a Smartpay authorization"),
    }
}

db_test! {
    async fn items_that_do_not_add_up_to_the_amount_are_refused_naming_both_totals(app: TestApp) {
        use tonic_types::StatusExt;
        let mut request = checkout(5_000, v1::CaptureMethod::Manual);
        let details = items_of(&mut request);
        details.items[0].amount = 4_000;
        details.shipping.as_mut().unwrap().fee_amount = 500;
        let seen = app.smartpay.requests_seen();
        let refused = assert_error(app.authorize(request).await, Code::InvalidArgument, "AMOUNT_MISMATCH");
        let violations = refused.get_details_bad_request().expect("BadRequest").field_violations;
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].field, "amount");
        for total in ["5000", "4500"] {
            assert!(violations[0].description.contains(total), "{total}: {violations:?}");
            assert!(refused.message().contains(total), "{total}: {refused:?}");
        }
        assert_eq!(app.smartpay.requests_seen(), seen, "Smartpay is not asked");
        assert_eq!(app.count("orders").await, 0, "nothing recorded");
    }
}

db_test! {
    async fn discounts_and_the_shipping_fee_count_as_smartpay_counts_them(app: TestApp) {
        // 3,000 × 2 - 1,500 coupon + 500 shipping = 5,000.
        let mut request = token(5_000, "paytok_test_approved", v1::CaptureMethod::Manual);
        let details = items_of(&mut request);
        details.items[0].amount = 3_000;
        details.items[0].quantity = 2;
        details.items.push(v1::SmartpayItem {
            name: "クーポン".into(),
            amount: 1_500,
            quantity: 1,
            kind: v1::SmartpayItemKind::Discount as i32,
            ..Default::default()
        });
        details.shipping.as_mut().unwrap().fee_amount = 500;
        let order = app.authorize(request).await.unwrap();
        assert_eq!((order.status(), order.amount_authorized), (OrderStatus::Authorized, 5_000));
        let sent = last_token_order(&app);
        assert_eq!(sent["amount"], 5_000);
        assert_eq!(sent["items"][0].get("kind"), None, "a product, the SDKs' default");
        assert_eq!(sent["items"][1]["kind"], "discount");
        assert_eq!(sent["items"][1]["amount"], 1_500);
        assert_eq!(sent["shippingInfo"]["feeAmount"], 500);
    }
}
