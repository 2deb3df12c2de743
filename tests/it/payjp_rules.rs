//! The PAY.JP rule table of seed 003 and providers.md, one test per rule,
//! through the gRPC API against the PAY.JP simulator.

use chrono::Duration;
use kessai::clock::Clock;
use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use tonic::Code;

use crate::db_test;
use crate::helpers::{TestApp, assert_error, payjp_authorize, unique_key};

fn expires_in_days(order: &v1::Order, app: &TestApp) -> i64 {
    let expires = order.expires_at.as_ref().expect("expires_at").seconds;
    (expires - app.clock.now().timestamp() + 60) / 86_400
}

/// The shop's front end (payjp.js `confirmPaymentFlow`) confirms the order's
/// flow with `method`: PAY.JP's answer.
async fn front_end_confirms(app: &TestApp, order: &v1::Order, method: &str) -> reqwest::StatusCode {
    use kessai::sandbox::PAYJP_SANDBOX_SECRET_KEY;
    let url = format!(
        "{}/payment_flows/{}/confirm",
        app.sandbox().payjp_base_url(),
        order.provider_order_id
    );
    let body = serde_json::json!({"payment_method_id": method});
    let answer = reqwest::Client::new()
        .post(url)
        .bearer_auth(PAYJP_SANDBOX_SECRET_KEY)
        .json(&body)
        .send()
        .await;
    answer.expect("the simulator answers").status()
}

db_test! {
    async fn a_card_authorization_is_held_for_seven_days(app: TestApp) {
        let order = app.authorized_payjp(10_000).await;
        assert_eq!(order.amount_authorized, 10_000);
        assert_eq!(order.amount_capturable, 10_000);
        assert!(!order.livemode);
        assert_eq!(order.provider(), v1::Provider::Payjp);
        assert_eq!(order.payment_method(), v1::PaymentMethod::Card);
        assert_eq!(expires_in_days(&order, &app), 7);
        let flow = app.ledger_flow(&order.provider_order_id);
        assert_eq!((flow.status.as_str(), flow.authorized), ("requires_capture", 10_000));
    }
}

db_test! {
    async fn paypay_is_held_for_thirty_days(app: TestApp) {
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 5_000, "pm_test_paypay")).await.unwrap();
        assert_eq!(order.status(), OrderStatus::Authorized);
        assert_eq!(order.payment_method(), v1::PaymentMethod::Paypay);
        assert_eq!(expires_in_days(&order, &app), 30);
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(stored.payment_method(), v1::PaymentMethod::Paypay, "kept with the order");
    }
}

db_test! {
    async fn paypay_chosen_in_the_front_end_shows_once_authorized(app: TestApp) {
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 5_000, "")).await.unwrap();
        assert_eq!(order.status(), OrderStatus::RequiresAction);
        assert!(front_end_confirms(&app, &order, "pm_test_paypay").await.is_success());
        let authorized = app.get_order(&order.id, true).await.unwrap();
        assert_eq!(authorized.status(), OrderStatus::Authorized);
        assert_eq!(authorized.payment_method(), v1::PaymentMethod::Paypay, "{authorized:?}");
        assert_eq!(expires_in_days(&authorized, &app), 30);
    }
}

db_test! {
    async fn extended_card_authorization_is_held_for_thirty_days(app: TestApp) {
        let mut request = payjp_authorize(&unique_key("auth"), 5_000, "pm_test_approve");
        if let Some(v1::authorize_request::ProviderDetails::Payjp(d)) = request.provider_details.as_mut() {
            d.extended_authorization = true;
        }
        let order = app.authorize(request).await.unwrap();
        assert_eq!(expires_in_days(&order, &app), 30);
    }
}

db_test! {
    async fn automatic_capture_captures_at_once(app: TestApp) {
        let mut request = payjp_authorize(&unique_key("auth"), 2_000, "pm_test_approve");
        request.capture_method = v1::CaptureMethod::Automatic as i32;
        let order = app.authorize(request).await.unwrap();
        assert_eq!(order.status(), OrderStatus::Captured);
        assert_eq!(order.amount_captured, 2_000);
        assert_eq!(order.captures.len(), 1);
        assert_eq!(app.ledger_flow(&order.provider_order_id).captured, 2_000);
    }
}

db_test! {
    async fn a_decline_is_a_declined_order_not_an_rpc_error(app: TestApp) {
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 3_000, "pm_test_decline")).await.unwrap();
        assert_eq!(order.status(), OrderStatus::Declined);
        let failure = order.failure.expect("failure");
        assert_eq!(failure.code, "CARD_DECLINED");
        assert_eq!(failure.provider_code, "payment_failed");
        assert_eq!(order.amount_authorized, 0);
        let capture = app.capture(&order.id, None, false).await;
        assert_error(capture, Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED");
    }
}

db_test! {
    async fn three_d_secure_waits_for_the_shopper_then_refresh_sees_the_authorization(app: TestApp) {
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 4_000, "pm_test_3ds")).await.unwrap();
        assert_eq!(order.status(), OrderStatus::RequiresAction);
        let Some(v1::next_action::Action::RedirectUrl(url)) = order.next_action.and_then(|a| a.action) else {
            panic!("a redirect URL for 3-D Secure");
        };
        assert!(url.contains(&order.provider_order_id), "{url}");
        assert!(app.payjp.complete_three_d_secure(&order.provider_order_id, true));
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(stored.status(), OrderStatus::RequiresAction, "without refresh nothing is asked");
        let refreshed = app.get_order(&order.id, true).await.unwrap();
        assert_eq!(refreshed.status(), OrderStatus::Authorized);
        assert_eq!(refreshed.amount_authorized, 4_000);
        assert!(refreshed.next_action.is_none());
    }
}

db_test! {
    async fn a_failed_three_d_secure_declines_the_order(app: TestApp) {
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 4_000, "pm_test_3ds")).await.unwrap();
        assert_eq!(order.status(), OrderStatus::RequiresAction);
        assert!(app.payjp.complete_three_d_secure(&order.provider_order_id, false));
        let refreshed = app.get_order(&order.id, true).await.unwrap();
        assert_eq!(refreshed.status(), OrderStatus::Declined, "{refreshed:?}");
        let failure = refreshed.failure.clone().expect("failure");
        assert_eq!(failure.code, "AUTHENTICATION_FAILED");
        assert_eq!(failure.provider_code, "three_d_secure_failed");
        assert_eq!(refreshed.amount_authorized, 0);
        assert!(refreshed.next_action.is_none(), "nothing left for the shopper to do: {refreshed:?}");
        assert!(refreshed.expires_at.is_none(), "nothing authorized, no deadline: {refreshed:?}");
        assert_error(app.capture(&order.id, None, false).await, Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED");
        // Reconciliation, asking again, finds nothing more to change.
        app.reconcile().await;
        assert_eq!(app.get_order(&order.id, true).await.unwrap(), refreshed);
    }
}

db_test! {
    async fn a_card_refused_in_the_front_end_leaves_the_shopper_free_to_try_another(app: TestApp) {
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 4_000, "")).await.unwrap();
        // payjp.js confirms with a declined card: the shopper is still there.
        assert_eq!(front_end_confirms(&app, &order, "pm_test_decline").await, reqwest::StatusCode::PAYMENT_REQUIRED);
        let waiting = app.get_order(&order.id, true).await.unwrap();
        assert_eq!(waiting.status(), OrderStatus::RequiresAction, "{waiting:?}");
        assert!(matches!(waiting.next_action.and_then(|a| a.action), Some(v1::next_action::Action::ClientSecret(_))));
        // Another card goes through.
        assert!(front_end_confirms(&app, &order, "pm_test_approve").await.is_success());
        assert_eq!(app.get_order(&order.id, true).await.unwrap().status(), OrderStatus::Authorized);
    }
}

db_test! {
    async fn without_a_payment_method_the_front_end_gets_the_client_secret(app: TestApp) {
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 4_000, "")).await.unwrap();
        assert_eq!(order.status(), OrderStatus::RequiresAction);
        let Some(v1::next_action::Action::ClientSecret(secret)) = order.next_action.and_then(|a| a.action) else {
            panic!("a client secret");
        };
        assert!(secret.starts_with(&format!("{}_secret_", order.provider_order_id)));
        assert_eq!(app.ledger_flow(&order.provider_order_id).status, "requires_payment_method");
    }
}

db_test! {
    async fn a_full_capture_takes_everything(app: TestApp) {
        let order = app.authorized_payjp(10_000).await;
        let captured = app.capture(&order.id, None, false).await.unwrap();
        assert_eq!(captured.status(), OrderStatus::Captured);
        assert_eq!((captured.amount_captured, captured.amount_capturable), (10_000, 0));
        assert_eq!(app.ledger_flow(&order.provider_order_id).status, "succeeded");
    }
}

db_test! {
    async fn one_partial_capture_then_only_the_whole_remainder(app: TestApp) {
        let order = app.authorized_payjp(10_000).await;
        let partly = app.capture(&order.id, Some(3_000), false).await.unwrap();
        assert_eq!(partly.status(), OrderStatus::PartiallyCaptured);
        assert_eq!((partly.amount_captured, partly.amount_capturable), (3_000, 7_000));

        let calls = app.payjp.requests_seen();
        let second = app.capture(&order.id, Some(1_000), false).await;
        assert_error(second, Code::FailedPrecondition, "PARTIAL_CAPTURE_NOT_ALLOWED");
        assert_eq!(app.payjp.requests_seen(), calls, "refused before PAY.JP is called");

        let rest = app.capture(&order.id, Some(7_000), false).await.unwrap();
        assert_eq!(rest.status(), OrderStatus::Captured);
        assert_eq!(rest.amount_captured, 10_000);
        let flow = app.ledger_flow(&order.provider_order_id);
        assert_eq!((flow.status.as_str(), flow.captured), ("succeeded", 10_000));
    }
}

db_test! {
    async fn a_final_partial_capture_releases_the_rest(app: TestApp) {
        let order = app.authorized_payjp(10_000).await;
        let captured = app.capture(&order.id, Some(3_000), true).await.unwrap();
        assert_eq!(captured.status(), OrderStatus::Captured);
        assert_eq!((captured.amount_captured, captured.amount_capturable), (3_000, 0));
        let flow = app.ledger_flow(&order.provider_order_id);
        assert_eq!((flow.captured, flow.canceled), (3_000, true), "captured, then the rest cancelled at PAY.JP");
        let again = app.capture(&order.id, None, false).await;
        assert_error(again, Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED");
    }
}

db_test! {
    async fn a_partial_that_would_leave_less_than_fifty_yen_is_refused(app: TestApp) {
        let order = app.authorized_payjp(1_000).await;
        let calls = app.payjp.requests_seen();
        let capture = app.capture(&order.id, Some(960), false).await;
        assert_error(capture, Code::FailedPrecondition, "PARTIAL_CAPTURE_NOT_ALLOWED");
        let too_small = app.capture(&order.id, Some(49), true).await;
        assert_error(too_small, Code::InvalidArgument, "INVALID_AMOUNT");
        assert_eq!(app.payjp.requests_seen(), calls);
    }
}

db_test! {
    async fn over_capture_is_refused_before_the_provider_is_called(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        let calls = app.payjp.requests_seen();
        let capture = app.capture(&order.id, Some(5_001), false).await;
        assert_error(capture, Code::FailedPrecondition, "AMOUNT_EXCEEDS_CAPTURABLE");
        assert_eq!(app.payjp.requests_seen(), calls);
        assert_eq!(app.get_order(&order.id, false).await.unwrap().amount_captured, 0);
    }
}

db_test! {
    async fn capture_after_the_seven_days_is_refused_and_the_order_expires(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        app.clock.advance(Duration::days(7) + Duration::seconds(1));
        let calls = app.payjp.requests_seen();
        let capture = app.capture(&order.id, None, false).await;
        assert_error(capture, Code::FailedPrecondition, "AUTHORIZATION_EXPIRED");
        assert_eq!(app.payjp.requests_seen(), calls, "enforced from stored state");
        assert_eq!(app.get_order(&order.id, false).await.unwrap().status(), OrderStatus::Expired);
    }
}

db_test! {
    async fn paypay_can_still_be_captured_on_day_twenty_nine(app: TestApp) {
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 5_000, "pm_test_paypay")).await.unwrap();
        app.clock.advance(Duration::days(29));
        let captured = app.capture(&order.id, None, false).await.unwrap();
        assert_eq!(captured.status(), OrderStatus::Captured);
    }
}

db_test! {
    async fn the_providers_own_expiry_answer_is_mapped_and_recorded(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = app.authorized_payjp(5_000).await;
        let body = serde_json::from_str(include_str!("../fixtures/payjp/error.400.payment_flow_expired.json")).unwrap();
        app.payjp.faults().inject(Fault::new("POST", "/capture", FaultKind::Status { status: 400, body }));
        let capture = app.capture(&order.id, None, false).await;
        assert_error(capture, Code::FailedPrecondition, "AUTHORIZATION_EXPIRED");
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(stored.status(), OrderStatus::Expired);
        assert_eq!(stored.captures[0].status(), v1::CaptureStatus::Failed);
    }
}

db_test! {
    async fn refunds_go_in_parts_up_to_what_was_captured(app: TestApp) {
        let order = app.authorized_payjp(10_000).await;
        app.capture(&order.id, Some(6_000), true).await.unwrap();
        let first = app.refund(&order.id, Some(2_000)).await.unwrap();
        assert_eq!(first.amount_refunded, 2_000);
        assert_eq!(first.status(), OrderStatus::Captured, "refunds never change the status");
        let second = app.refund(&order.id, Some(3_000)).await.unwrap();
        assert_eq!(second.amount_refunded, 5_000);
        assert_eq!(second.refunds.len(), 2);
        assert!(second.refunds.iter().all(|r| r.status() == v1::RefundStatus::Succeeded));

        let calls = app.payjp.requests_seen();
        let beyond = app.refund(&order.id, Some(1_001)).await;
        assert_error(beyond, Code::FailedPrecondition, "AMOUNT_EXCEEDS_REFUNDABLE");
        assert_eq!(app.payjp.requests_seen(), calls, "refused before PAY.JP is called");

        let rest = app.refund(&order.id, None).await.unwrap();
        assert_eq!(rest.amount_refunded, 6_000);
        assert_eq!(app.ledger_flow(&order.provider_order_id).refunded, 6_000);
    }
}

db_test! {
    async fn nothing_captured_means_nothing_to_refund(app: TestApp) {
        let order = app.authorized_payjp(1_000).await;
        assert_error(app.refund(&order.id, None).await, Code::FailedPrecondition, "REFUND_NOT_ALLOWED");
    }
}

db_test! {
    async fn void_releases_an_untouched_authorization(app: TestApp) {
        let order = app.authorized_payjp(1_000).await;
        let voided = app.void(&order.id).await.unwrap();
        assert_eq!(voided.status(), OrderStatus::Voided);
        assert_eq!(voided.amount_capturable, 0);
        assert_eq!(app.ledger_flow(&order.provider_order_id).status, "canceled");
        assert_error(app.capture(&order.id, None, false).await, Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED");
        assert_error(app.void(&order.id).await, Code::FailedPrecondition, "VOID_NOT_ALLOWED");
    }
}

db_test! {
    async fn void_after_a_full_capture_is_refused(app: TestApp) {
        let order = app.authorized_payjp(1_000).await;
        app.capture(&order.id, None, false).await.unwrap();
        let calls = app.payjp.requests_seen();
        assert_error(app.void(&order.id).await, Code::FailedPrecondition, "VOID_NOT_ALLOWED");
        assert_eq!(app.payjp.requests_seen(), calls);
    }
}

db_test! {
    async fn void_after_a_partial_capture_releases_the_rest_and_the_order_is_captured(app: TestApp) {
        let order = app.authorized_payjp(10_000).await;
        app.capture(&order.id, Some(4_000), false).await.unwrap();
        let voided = app.void(&order.id).await.unwrap();
        assert_eq!(voided.status(), OrderStatus::Captured);
        assert_eq!((voided.amount_captured, voided.amount_capturable), (4_000, 0));
    }
}

db_test! {
    async fn a_payment_flow_waiting_for_the_front_end_can_be_voided(app: TestApp) {
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 4_000, "")).await.unwrap();
        let voided = app.void(&order.id).await.unwrap();
        assert_eq!(voided.status(), OrderStatus::Voided);
        assert!(voided.next_action.is_none());
    }
}

db_test! {
    async fn payjp_errors_map_to_the_two_tier_model(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let fixture = |name: &str| -> serde_json::Value {
            let path = format!("{}/tests/fixtures/payjp/{name}", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let order = app.authorized_payjp(5_000).await;
        let cases = [
            (401, "error.401.unauthorized.json", Code::Internal, "PROVIDER_CREDENTIALS_REJECTED"),
            (404, "error.404.not_found.json", Code::FailedPrecondition, "PROVIDER_ORDER_NOT_FOUND"),
            (422, "error.422.validation_error.json", Code::InvalidArgument, "INVALID_ARGUMENT"),
            (400, "error.400.invalid_status.json", Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED"),
            (402, "error.402.payment_failed.json", Code::FailedPrecondition, "PROVIDER_REJECTED"),
        ];
        for (status, name, code, reason) in cases {
            app.payjp.faults().inject(Fault::new("POST", "/capture", FaultKind::Status { status, body: fixture(name) }));
            assert_error(app.capture(&order.id, Some(100), false).await, code, reason);
        }
        // 429 on every attempt: nothing moved, the caller may retry.
        app.payjp.faults().inject(
            Fault::new("POST", "/capture", FaultKind::Status { status: 429, body: fixture("error.429.rate_limit.json") }).times(5),
        );
        let status = assert_error(app.capture(&order.id, Some(100), false).await, Code::Unavailable, "PROVIDER_UNAVAILABLE");
        assert!(tonic_types::StatusExt::get_details_retry_info(&status).is_some());
        app.payjp.faults().clear();
        // None of these moved money; the order is still whole.
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!((stored.status(), stored.amount_captured), (OrderStatus::Authorized, 0));
        assert_eq!(app.capture(&order.id, None, false).await.unwrap().amount_captured, 5_000);
    }
}

db_test! {
    async fn a_server_error_is_retried_with_the_same_key(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = app.authorized_payjp(5_000).await;
        app.payjp.faults().inject(Fault::new("POST", "/capture", FaultKind::Status { status: 500, body: serde_json::json!({}) }));
        let captured = app.capture(&order.id, None, false).await.unwrap();
        assert_eq!(captured.status(), OrderStatus::Captured);
        assert_eq!(app.ledger_flow(&order.provider_order_id).captured, 5_000);
    }
}

db_test! {
    async fn an_answer_lost_after_payjp_acted_is_recovered_by_the_idempotent_retry(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = app.authorized_payjp(5_000).await;
        app.payjp.faults().inject(Fault::new("POST", "/capture", FaultKind::DropAfterActing));
        let captured = app.capture(&order.id, Some(2_000), false).await.unwrap();
        assert_eq!(captured.amount_captured, 2_000);
        let flow = app.ledger_flow(&order.provider_order_id);
        assert_eq!(flow.captured, 2_000, "captured once, not twice");
    }
}

db_test! {
    async fn an_unknown_outcome_leaves_the_order_pending_and_a_retry_settles_it(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = app.authorized_payjp(5_000).await;
        // PAY.JP acts every time, but no answer comes back within the timeout.
        app.payjp.faults().inject(Fault::new("POST", "/capture", FaultKind::DelayAfterActing { ms: 3_000 }).times(2));
        let key = unique_key("cap");
        let status = assert_error(
            app.capture_with_key(&key, &order.id, None, false).await,
            Code::DeadlineExceeded,
            "OUTCOME_UNKNOWN",
        );
        let info = tonic_types::StatusExt::get_details_error_info(&status).unwrap();
        assert_eq!(info.metadata.get("order_id"), Some(&order.id));
        assert_eq!(app.get_order(&order.id, false).await.unwrap().status(), OrderStatus::Pending);
        assert_eq!(app.ledger_flow(&order.provider_order_id).captured, 5_000, "PAY.JP did capture");

        app.payjp.faults().clear();
        let settled = app.capture_with_key(&key, &order.id, None, false).await.unwrap();
        assert_eq!(settled.status(), OrderStatus::Captured);
        assert_eq!(settled.amount_captured, 5_000);
        assert_eq!(app.ledger_flow(&order.provider_order_id).captured, 5_000, "still captured once");
    }
}

db_test! {
    async fn an_unreachable_provider_moves_nothing_and_the_same_key_can_retry(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = app.authorized_payjp(5_000).await;
        app.payjp.faults().inject(
            Fault::new("POST", "/capture", FaultKind::Status { status: 429, body: serde_json::json!({"status": 429, "code": "rate_limit"}) }).times(2),
        );
        let key = unique_key("cap");
        assert_error(app.capture_with_key(&key, &order.id, None, false).await, Code::Unavailable, "PROVIDER_UNAVAILABLE");
        let retried = app.capture_with_key(&key, &order.id, None, false).await.unwrap();
        assert_eq!(retried.status(), OrderStatus::Captured);
    }
}

db_test! {
    async fn every_change_is_in_the_order_history(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        app.capture(&order.id, Some(2_000), false).await.unwrap();
        app.refund(&order.id, Some(500)).await.unwrap();
        let id = kessai::domain::OrderId::parse(&order.id, "order_id").unwrap();
        let events = app.store.events(&id).await.unwrap();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(
            types,
            [
                "authorization.requested",
                "authorization.succeeded",
                "capture.requested",
                "capture.succeeded",
                "refund.requested",
                "refund.settled",
            ]
        );
        assert!(events.iter().all(|e| e.actor == "anonymous"));
        assert_eq!(events[3].data["amount"], 2_000);
    }
}

db_test! {
    async fn a_refund_lost_past_the_idempotency_window_is_found_not_sent_again(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = app.authorized_payjp(5_000).await;
        app.capture(&order.id, None, false).await.unwrap();
        app.payjp.faults().inject(
            Fault::new("POST", "/payment_refunds", FaultKind::DelayAfterActing { ms: 3_000 }).times(2),
        );
        assert_error(app.refund(&order.id, Some(1_000)).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        app.payjp.faults().clear();
        // PAY.JP has forgotten the idempotency key: a resend would refund again.
        app.clock.advance(Duration::hours(25));
        app.reconcile().await;
        let settled = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(settled.amount_refunded, 1_000);
        assert_eq!(settled.refunds[0].status(), v1::RefundStatus::Succeeded);
        assert_eq!(app.ledger_flow(&order.provider_order_id).refunded, 1_000, "refunded once");
    }
}
