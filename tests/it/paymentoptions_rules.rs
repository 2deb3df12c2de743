//! The PaymentOptions rules of seed 001 and providers.md, through the gRPC
//! API against the PaymentOptions simulator.

use chrono::Datelike;
use kessai::clock::Clock;
use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use tonic::Code;
use tonic_types::StatusExt;

use crate::db_test;
use crate::helpers::{TestApp, assert_error, unique_key};

pub const APPROVE: &str = "5200000000001005";

pub fn card_request(
    app: &TestApp,
    key: &str,
    amount: i64,
    number: &str,
    method: v1::CaptureMethod,
) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        capture_method: method as i32,
        ..crate::helpers::card_authorize(key, amount, number, "123", app.clock.now().year() + 3)
    }
}

async fn preauthorized(app: &TestApp, amount: i64) -> v1::Order {
    let request = card_request(
        app,
        &unique_key("auth"),
        amount,
        APPROVE,
        v1::CaptureMethod::Manual,
    );
    let order = app.authorize(request).await.unwrap();
    assert_eq!(order.status(), OrderStatus::Authorized, "{order:?}");
    order
}

fn ledger(app: &TestApp, id: &str) -> kessai::sandbox::paymentoptions::LedgerAuthorization {
    app.paymentoptions
        .ledger()
        .authorizations
        .into_iter()
        .find(|a| a.id == id)
        .expect("PaymentOptions knows the authorization")
}

db_test! {
    async fn a_pre_authorization_keeps_only_the_masked_card(app: TestApp) {
        let order = preauthorized(&app, 10_000).await;
        assert_eq!(order.provider(), v1::Provider::Paymentoptions);
        assert_eq!(order.payment_method(), v1::PaymentMethod::Card);
        assert_eq!(order.provider_order_id.len(), 36, "the transaction UUID");
        let card = order.card.expect("the card summary");
        assert_eq!((card.bin.as_str(), card.last4.as_str(), card.brand.as_str()), ("520000", "1005", "MASTERCARD"));
        let entry = ledger(&app, &order.provider_order_id);
        assert_eq!((entry.status.as_str(), entry.authorized), ("authorized", 10_000));
        assert_eq!(entry.merchant_txn_ref, order.id, "merchant_txn_ref is derived from the order id");
    }
}

db_test! {
    async fn acquirer_declines_are_declined_orders_with_the_code_kept(app: TestApp) {
        for (number, code, provider_code) in [
            ("4000000000000002", "CARD_DECLINED", "5"),
            ("4000000000009995", "INSUFFICIENT_FUNDS", "51"),
            ("4000000000000069", "CARD_EXPIRED", "54"),
        ] {
            let request = card_request(&app, &unique_key("auth"), 1_000, number, v1::CaptureMethod::Manual);
            let order = app.authorize(request).await.unwrap();
            assert_eq!(order.status(), OrderStatus::Declined, "{number}");
            let failure = order.failure.unwrap();
            assert_eq!((failure.code.as_str(), failure.provider_code.as_str()), (code, provider_code));
        }
    }
}

db_test! {
    async fn bad_cards_are_refused_before_any_call(app: TestApp) {
        let calls = app.paymentoptions.requests_seen();
        let this_year = app.clock.now().year();
        let cases = [
            ("5200000000001006", "123", this_year + 3, "paymentoptions.card.number"),
            ("52000000", "123", this_year + 3, "paymentoptions.card.number"),
            (APPROVE, "12", this_year + 3, "paymentoptions.card.cvc"),
            (APPROVE, "123", this_year - 1, "paymentoptions.card.expiry_year"),
        ];
        for (number, cvc, expiry_year, field) in cases {
            let mut request = card_request(&app, &unique_key("auth"), 1_000, number, v1::CaptureMethod::Manual);
            if let Some(v1::authorize_request::ProviderDetails::Paymentoptions(d)) = request.provider_details.as_mut() {
                let card = d.card.as_mut().unwrap();
                card.cvc = cvc.into();
                card.expiry_year = expiry_year;
            }
            let status = assert_error(app.authorize(request).await, Code::InvalidArgument, "INVALID_CARD");
            let violations = status.get_details_bad_request().unwrap().field_violations;
            assert!(violations.iter().any(|v| v.field == field), "{field}: {violations:?}");
            assert!(!status.message().contains(number) || number.len() < 12, "the number is never echoed");
        }
        assert_eq!(app.paymentoptions.requests_seen(), calls);
        assert_eq!(app.count("orders").await, 0);
    }
}

db_test! {
    async fn automatic_capture_is_a_sale(app: TestApp) {
        let request = card_request(&app, &unique_key("auth"), 4_000, APPROVE, v1::CaptureMethod::Automatic);
        let order = app.authorize(request).await.unwrap();
        assert_eq!((order.status(), order.amount_captured), (OrderStatus::Captured, 4_000));
        assert_eq!(order.captures[0].provider_capture_id, order.provider_order_id, "refunds name the SALE");
        let refunded = app.refund(&order.id, Some(1_500)).await.unwrap();
        assert_eq!(refunded.amount_refunded, 1_500);
    }
}

db_test! {
    async fn one_capture_releases_the_rest(app: TestApp) {
        let order = preauthorized(&app, 10_000).await;
        let captured = app.capture(&order.id, Some(6_000), false).await.unwrap();
        assert_eq!((captured.status(), captured.amount_captured, captured.amount_capturable), (OrderStatus::Captured, 6_000, 0));
        let capture_id = &captured.captures[0].provider_capture_id;
        assert_eq!(capture_id.len(), 36);
        assert_ne!(capture_id, &order.provider_order_id, "a capture is a transaction of its own");
        let entry = ledger(&app, &order.provider_order_id);
        assert_eq!((entry.captured, entry.capture_id.as_ref()), (6_000, Some(capture_id)));

        let calls = app.paymentoptions.requests_seen();
        assert_error(app.capture(&order.id, Some(1_000), false).await, Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED");
        assert_eq!(app.paymentoptions.requests_seen(), calls, "refused before PaymentOptions is called");
    }
}

db_test! {
    async fn a_capture_beyond_the_authorization_is_refused(app: TestApp) {
        let order = preauthorized(&app, 5_000).await;
        let calls = app.paymentoptions.requests_seen();
        assert_error(app.capture(&order.id, Some(5_001), false).await, Code::FailedPrecondition, "AMOUNT_EXCEEDS_CAPTURABLE");
        assert_eq!(app.paymentoptions.requests_seen(), calls);
    }
}

db_test! {
    async fn refunds_name_the_capture_and_stop_at_what_was_captured(app: TestApp) {
        let order = preauthorized(&app, 10_000).await;
        app.capture(&order.id, Some(6_000), true).await.unwrap();
        app.refund(&order.id, Some(2_000)).await.unwrap();
        let second = app.refund(&order.id, Some(3_000)).await.unwrap();
        assert_eq!(second.amount_refunded, 5_000);
        // The simulator refuses refunds against the pre-authorization, so
        // these went against the capture's transaction.
        assert_eq!(ledger(&app, &order.provider_order_id).refunded, 5_000);
        let calls = app.paymentoptions.requests_seen();
        assert_error(app.refund(&order.id, Some(1_001)).await, Code::FailedPrecondition, "AMOUNT_EXCEEDS_REFUNDABLE");
        assert_eq!(app.paymentoptions.requests_seen(), calls);
    }
}

db_test! {
    async fn void_releases_an_uncaptured_authorization_only(app: TestApp) {
        let order = preauthorized(&app, 3_000).await;
        let voided = app.void(&order.id).await.unwrap();
        assert_eq!(voided.status(), OrderStatus::Voided);
        assert_eq!(ledger(&app, &order.provider_order_id).status, "voided");

        let order = preauthorized(&app, 3_000).await;
        app.capture(&order.id, Some(1_000), false).await.unwrap();
        let calls = app.paymentoptions.requests_seen();
        assert_error(app.void(&order.id).await, Code::FailedPrecondition, "VOID_NOT_ALLOWED");
        assert_eq!(app.paymentoptions.requests_seen(), calls);
    }
}

db_test! {
    async fn refresh_reads_the_transaction_status(app: TestApp) {
        let order = preauthorized(&app, 3_000).await;
        let calls = app.paymentoptions.requests_seen();
        let refreshed = app.get_order(&order.id, true).await.unwrap();
        assert_eq!(refreshed.status(), OrderStatus::Authorized);
        assert_eq!(app.paymentoptions.requests_seen(), calls + 1);
    }
}

db_test! {
    async fn an_authorization_whose_answer_was_lost_is_never_retried(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        app.paymentoptions.faults().inject(Fault::new("POST", "/authorization", FaultKind::DropAfterActing));
        let key = unique_key("auth");
        let request = card_request(&app, &key, 2_000, APPROVE, v1::CaptureMethod::Manual);
        let status = assert_error(app.authorize(request.clone()).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        let order_id = status.get_details_error_info().unwrap().metadata["order_id"].clone();
        assert_eq!(app.paymentoptions.ledger().authorizations.len(), 1, "PaymentOptions did authorize");

        let order = app.get_order(&order_id, false).await.unwrap();
        assert_eq!(order.status(), OrderStatus::Pending);
        assert!(order.needs_review);
        let review = app
            .client
            .clone()
            .list_orders(v1::ListOrdersRequest { needs_review: true, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(review.orders.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [order_id.as_str()]);

        let calls = app.paymentoptions.requests_seen();
        let retried = assert_error(app.authorize(request).await, Code::FailedPrecondition, "NEEDS_REVIEW");
        assert_eq!(retried.get_details_error_info().unwrap().metadata["order_id"], order_id);
        assert_eq!(app.paymentoptions.requests_seen(), calls, "never sent again");
        assert_eq!(app.paymentoptions.ledger().authorizations.len(), 1);
    }
}

db_test! {
    async fn a_capture_whose_answer_was_lost_is_never_retried(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = preauthorized(&app, 5_000).await;
        app.paymentoptions.faults().inject(Fault::new("POST", "/capture", FaultKind::DropAfterActing));
        let key = unique_key("cap");
        assert_error(app.capture_with_key(&key, &order.id, None, false).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(stored.status(), OrderStatus::Pending);
        assert!(stored.needs_review);
        let calls = app.paymentoptions.requests_seen();
        assert_error(app.capture_with_key(&key, &order.id, None, false).await, Code::FailedPrecondition, "NEEDS_REVIEW");
        assert_eq!(app.paymentoptions.requests_seen(), calls, "not resent");
        assert_eq!(ledger(&app, &order.provider_order_id).captured, 5_000, "captured once");
    }
}

db_test! {
    async fn undocumented_failure_bodies_become_clear_errors(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = preauthorized(&app, 5_000).await;
        let cases = [
            (412, serde_json::json!({}), Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED"),
            (400, serde_json::json!({"error": "merchant_id is required"}), Code::InvalidArgument, "INVALID_ARGUMENT"),
            (404, serde_json::json!("not json at all"), Code::FailedPrecondition, "PROVIDER_ORDER_NOT_FOUND"),
            (401, serde_json::json!({"message": "invalid api key"}), Code::Internal, "PROVIDER_CREDENTIALS_REJECTED"),
        ];
        for (status, body, code, reason) in cases {
            app.paymentoptions.faults().inject(Fault::new("POST", "/capture", FaultKind::Status { status, body }));
            assert_error(app.capture(&order.id, Some(100), false).await, code, reason);
        }
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!((stored.status(), stored.amount_captured), (OrderStatus::Authorized, 0));
    }
}

#[tokio::test]
async fn the_key_may_be_sent_base64_and_the_path_prefix_doubled_as_in_the_docs() {
    let url = crate::helpers::fresh_sqlite();
    let mut env = crate::helpers::base_env(&url);
    env.insert("KESSAI_PAYMENTOPTIONS_AUTH".into(), "base64".into());
    env.insert(
        "KESSAI_PAYMENTOPTIONS_PATH_PREFIX".into(),
        "/api/v1/api/v1/server-to-server-interface".into(),
    );
    let app = TestApp::spawn_with(env).await;
    let order = preauthorized(&app, 2_000).await;
    assert_eq!(
        app.capture(&order.id, None, false).await.unwrap().status(),
        OrderStatus::Captured
    );
}

#[tokio::test]
async fn an_unreachable_paymentoptions_moves_nothing() {
    let url = crate::helpers::fresh_sqlite();
    let mut env = crate::helpers::base_env(&url);
    env.insert(
        "KESSAI_PAYMENTOPTIONS_BASE_URL".into(),
        "http://127.0.0.1:1".into(),
    );
    let app = TestApp::spawn_with(env).await;
    let request = card_request(
        &app,
        &unique_key("auth"),
        2_000,
        APPROVE,
        v1::CaptureMethod::Manual,
    );
    let status = assert_error(
        app.authorize(request).await,
        Code::Unavailable,
        "PROVIDER_UNAVAILABLE",
    );
    assert!(status.get_details_retry_info().is_some());
}

db_test! {
    async fn an_authorization_that_never_reached_paymentoptions_is_sent_on_the_retry(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        // Refused before acting on every attempt: nothing reached the books.
        app.paymentoptions.faults().inject(
            Fault::new("POST", "", FaultKind::Status { status: 429, body: serde_json::json!({}) }).times(2),
        );
        let key = unique_key("auth");
        let request = card_request(&app, &key, 5_000, APPROVE, v1::CaptureMethod::Manual);
        assert_error(app.authorize(request.clone()).await, Code::Unavailable, "PROVIDER_UNAVAILABLE");
        assert!(app.paymentoptions.ledger().authorizations.is_empty());
        // The same key again: nothing can have been charged, so it is sent.
        let order = app.authorize(request).await.unwrap();
        assert_eq!(order.status(), OrderStatus::Authorized, "{order:?}");
        assert!(!order.needs_review);
        assert_eq!(app.paymentoptions.ledger().authorizations.len(), 1);
    }
}

/// An authorized order whose capture PaymentOptions made but whose answer
/// was lost: PaymentOptions cannot be asked about it, so it stays unknown.
async fn lost_capture(app: &TestApp) -> v1::Order {
    use kessai::sandbox::faults::{Fault, FaultKind};
    let order = preauthorized(app, 5_000).await;
    app.paymentoptions
        .faults()
        .inject(Fault::new("POST", "/capture", FaultKind::DropAfterActing));
    assert_error(
        app.capture_with_key(&unique_key("cap"), &order.id, None, false)
            .await,
        Code::DeadlineExceeded,
        "OUTCOME_UNKNOWN",
    );
    order
}

db_test! {
    async fn a_lost_capture_left_for_review_waits_its_backoff_between_reconciliation_passes(app: TestApp) {
        let order = lost_capture(&app).await;
        let first = app.reconcile().await;
        assert_eq!(first.attempts, 1, "the lost capture is examined: {first:?}");
        // Examined and still unknown: it waits its backoff instead of filling
        // every pass (and the order's history) until a person looks.
        for _ in 0..3 {
            let again = app.reconcile().await;
            assert_eq!(again.attempts, 0, "examined again at once: {again:?}");
        }
        assert!(app.get_order(&order.id, false).await.unwrap().needs_review);
    }
}

db_test! {
    async fn a_call_reconciliation_cannot_settle_is_warned_about_once_however_often_it_is_checked(app: TestApp) {
        let order = lost_capture(&app).await;
        let logs = crate::log_capture::LogCapture::default();
        for pass in 0..4 {
            let report = logs.during(app.reconcile()).await;
            assert_eq!(report.attempts, 1, "pass {pass} checks the lost capture: {report:?}");
            // Past the longest wait between checks (an hour).
            app.clock.advance(chrono::Duration::hours(2));
        }
        assert!(app.get_order(&order.id, false).await.unwrap().needs_review);
        let warned = logs.lines("WARN", "order_id", &order.id);
        assert_eq!(warned.len(), 1, "one WARN naming the order: {warned:#?}");
        assert!(warned[0]["message"].as_str().unwrap().contains("did not settle"), "{warned:#?}");
        let later = logs.lines("DEBUG", "order_id", &order.id);
        let unsettled = later.iter().filter(|l| l["message"].as_str().is_some_and(|m| m.contains("did not settle")));
        assert_eq!(unsettled.count(), 3, "each later check at DEBUG: {later:#?}");
    }
}

db_test! {
    async fn a_lost_refund_is_booked_when_paymentoptions_notifies_it(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = preauthorized(&app, 5_000).await;
        app.capture(&order.id, None, false).await.unwrap();
        // PaymentOptions notifies each transaction as it makes it: the
        // refund's notification races the lost answer.
        app.notify_kessai();
        app.paymentoptions.faults().inject(Fault::new("POST", "/refund", FaultKind::DropAfterActing));
        let key = unique_key("ref");
        let refund = |key: String| {
            let mut client = app.client.clone();
            let order_id = order.id.clone();
            async move {
                client
                    .refund(v1::RefundRequest { idempotency_key: key, order_id, amount: Some(2_000), ..Default::default() })
                    .await
                    .map(|r| r.into_inner().order.unwrap())
            }
        };
        assert_error(refund(key.clone()).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        assert_eq!(ledger(&app, &order.provider_order_id).refunded, 2_000, "PaymentOptions did refund");

        // The notification names the refund's transaction: kessai asks
        // PaymentOptions about it and books it, sending nothing again.
        assert!(app.paymentoptions.webhooks().settled(std::time::Duration::from_secs(30)).await);
        let settled = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(settled.amount_refunded, 2_000, "{settled:?}");
        assert_eq!(settled.refunds[0].status(), v1::RefundStatus::Succeeded);
        assert_eq!(ledger(&app, &order.provider_order_id).refunded, 2_000, "never refunded twice");
        // The caller's retry replays the booked refund.
        let replay = refund(key).await.expect("the retry replays the outcome");
        assert_eq!(replay.amount_refunded, 2_000);
    }
}

db_test! {
    async fn a_lost_capture_is_booked_when_paymentoptions_notifies_it(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = preauthorized(&app, 5_000).await;
        app.notify_kessai();
        app.paymentoptions.faults().inject(Fault::new("POST", "/capture", FaultKind::DropAfterActing));
        let key = unique_key("cap");
        assert_error(
            app.capture_with_key(&key, &order.id, Some(3_000), false).await,
            Code::DeadlineExceeded,
            "OUTCOME_UNKNOWN",
        );
        let at_provider = ledger(&app, &order.provider_order_id);
        assert_eq!(at_provider.captured, 3_000, "PaymentOptions did capture");

        // The notification names the capture's transaction: kessai asks
        // PaymentOptions about it and books it, sending nothing again.
        assert!(app.paymentoptions.webhooks().settled(std::time::Duration::from_secs(30)).await);
        let settled = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(settled.amount_captured, 3_000, "{settled:?}");
        assert_eq!(settled.captures[0].status(), v1::CaptureStatus::Succeeded);
        assert_eq!(
            Some(settled.captures[0].provider_capture_id.as_str()),
            at_provider.capture_id.as_deref(),
            "booked with the CAPTURE transaction, which refunds name"
        );
        // The caller's retry replays the booked capture.
        let replay = app.capture_with_key(&key, &order.id, Some(3_000), false).await.expect("the retry replays the outcome");
        assert_eq!(replay.amount_captured, 3_000);
        // And the capture refunds like any other.
        assert_eq!(app.refund(&order.id, Some(1_000)).await.unwrap().amount_refunded, 1_000);
        let after = ledger(&app, &order.provider_order_id);
        assert_eq!((after.captured, after.refunded), (3_000, 1_000), "captured once, never twice");
    }
}

db_test! {
    async fn a_lost_void_is_booked_when_paymentoptions_notifies_it(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = preauthorized(&app, 5_000).await;
        app.notify_kessai();
        app.paymentoptions.faults().inject(Fault::new("POST", "/void", FaultKind::DropAfterActing));
        let key = unique_key("void");
        let void = |key: String| {
            let mut client = app.client.clone();
            let order_id = order.id.clone();
            async move {
                client
                    .void(v1::VoidRequest { idempotency_key: key, order_id })
                    .await
                    .map(|r| r.into_inner().order.unwrap())
            }
        };
        assert_error(void(key.clone()).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        assert_eq!(ledger(&app, &order.provider_order_id).status, "voided", "PaymentOptions did void");

        assert!(app.paymentoptions.webhooks().settled(std::time::Duration::from_secs(30)).await);
        let settled = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(settled.status(), OrderStatus::Voided, "{settled:?}");
        assert_eq!(settled.amount_capturable, 0);
        let replay = void(key).await.expect("the retry replays the outcome");
        assert_eq!(replay.status(), OrderStatus::Voided);
    }
}
