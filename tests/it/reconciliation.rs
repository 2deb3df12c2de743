//! Reconciliation settles what a lost answer left open, and polls providers
//! for changes kessai was not told about.

use chrono::Duration;
use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use kessai::sandbox::faults::{Fault, FaultKind};
use tonic::Code;

use crate::db_test;
use crate::helpers::{TestApp, assert_error, payjp_authorize, unique_key};

/// PAY.JP acts on every attempt but answers after the client gave up.
fn lose_answers(app: &TestApp, path: &str) {
    app.payjp
        .faults()
        .inject(Fault::new("POST", path, FaultKind::DelayAfterActing { ms: 3_000 }).times(2));
}

db_test! {
    async fn a_capture_whose_answer_was_lost_is_settled_without_the_callers_retry(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        lose_answers(&app, "/capture");
        let key = unique_key("cap");
        assert_error(app.capture_with_key(&key, &order.id, Some(2_000), false).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        app.payjp.faults().clear();
        assert_eq!(app.get_order(&order.id, false).await.unwrap().status(), OrderStatus::Pending);

        let report = app.reconcile().await;
        assert_eq!(report.attempts, 1, "{report:?}");
        let settled = app.get_order(&order.id, false).await.unwrap();
        assert_eq!((settled.status(), settled.amount_captured), (OrderStatus::PartiallyCaptured, 2_000));
        assert_eq!(settled.captures[0].status(), v1::CaptureStatus::Succeeded);

        // The caller's retry now replays what reconciliation recorded.
        let calls = app.payjp.requests_seen();
        let replay = app.capture_with_key(&key, &order.id, Some(2_000), false).await.unwrap();
        assert_eq!(replay.amount_captured, 2_000);
        assert_eq!(app.payjp.requests_seen(), calls);
        assert_eq!(app.ledger_flow(&order.provider_order_id).captured, 2_000, "captured once");
    }
}

db_test! {
    async fn an_authorization_whose_answer_was_lost_is_settled(app: TestApp) {
        lose_answers(&app, "/payment_flows");
        let key = unique_key("auth");
        let status = assert_error(
            app.authorize(payjp_authorize(&key, 3_000, "pm_test_approve")).await,
            Code::DeadlineExceeded,
            "OUTCOME_UNKNOWN",
        );
        let order_id = tonic_types::StatusExt::get_details_error_info(&status).unwrap().metadata["order_id"].clone();
        app.payjp.faults().clear();
        app.reconcile().await;
        let order = app.get_order(&order_id, false).await.unwrap();
        assert_eq!(order.status(), OrderStatus::Authorized);
        assert_eq!(app.payjp.ledger().flows.len(), 1, "one payment flow");
        let replay = app.authorize(payjp_authorize(&key, 3_000, "pm_test_approve")).await.unwrap();
        assert_eq!(replay.id, order_id);
    }
}

db_test! {
    async fn a_refund_whose_answer_was_lost_is_settled(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        app.capture(&order.id, None, false).await.unwrap();
        app.payjp
            .faults()
            .inject(Fault::new("POST", "/payment_refunds", FaultKind::DelayAfterActing { ms: 3_000 }).times(2));
        assert_error(app.refund(&order.id, Some(1_000)).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        app.payjp.faults().clear();
        app.reconcile().await;
        let settled = app.get_order(&order.id, false).await.unwrap();
        assert_eq!((settled.status(), settled.amount_refunded), (OrderStatus::Captured, 1_000));
        assert_eq!(settled.refunds[0].status(), v1::RefundStatus::Succeeded);
        assert_eq!(app.ledger_flow(&order.provider_order_id).refunded, 1_000);
    }
}

db_test! {
    async fn a_void_whose_answer_was_lost_is_settled(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        lose_answers(&app, "/cancel");
        assert_error(app.void(&order.id).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        app.payjp.faults().clear();
        app.reconcile().await;
        assert_eq!(app.get_order(&order.id, false).await.unwrap().status(), OrderStatus::Voided);
    }
}

db_test! {
    async fn a_burst_of_lost_answers_is_settled_in_one_pass(app: TestApp) {
        // More than a pass reads at a time: a provider outage loses many.
        const LOST: usize = 100;
        app.payjp.faults().inject(
            Fault::new("POST", "/payment_flows", FaultKind::DelayAfterActing { ms: 3_000 }).times(2 * LOST as u32),
        );
        let calls = (0..LOST).map(|i| {
            let mut client = app.client.clone();
            async move { client.authorize(payjp_authorize(&unique_key(&format!("lost{i}")), 1_000, "pm_test_approve")).await }
        });
        let mut lost = Vec::new();
        for result in futures::future::join_all(calls).await {
            let status = assert_error(result, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
            lost.push(tonic_types::StatusExt::get_details_error_info(&status).unwrap().metadata["order_id"].clone());
        }
        app.payjp.faults().clear();

        let report = app.reconcile().await;
        assert_eq!((report.attempts, report.errors), (LOST, 0), "{report:?}");
        for order_id in &lost {
            assert_eq!(app.get_order(order_id, false).await.unwrap().status(), OrderStatus::Authorized, "{order_id}");
        }
        assert_eq!(app.payjp.ledger().flows.len(), LOST, "one payment flow each");
        assert_eq!(app.reconcile().await.attempts, 0, "nothing left to settle");
    }
}

db_test! {
    async fn concurrent_passes_settle_a_call_once(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        lose_answers(&app, "/capture");
        assert_error(app.capture(&order.id, Some(1_500), false).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        app.payjp.faults().clear();
        let (a, b) = tokio::join!(app.payments.reconcile_once(), app.payments.reconcile_once());
        assert_eq!(a.unwrap().attempts + b.unwrap().attempts, 1, "one pass wins the lease");
        let settled = app.get_order(&order.id, false).await.unwrap();
        assert_eq!((settled.status(), settled.amount_captured), (OrderStatus::PartiallyCaptured, 1_500));
        assert_eq!(app.reconcile().await.attempts, 0, "nothing left to settle");
    }
}

db_test! {
    async fn an_approved_checkout_is_found_without_a_refresh(app: TestApp) {
        let request = v1::AuthorizeRequest {
            idempotency_key: unique_key("auth"),
            amount: 4_000,
            currency: "JPY".into(),
            provider_details: Some(v1::authorize_request::ProviderDetails::Smartpay(v1::SmartpayDetails {
                items: vec![v1::SmartpayItem { name: "item".into(), amount: 4_000, quantity: 1, ..Default::default() }],
                success_url: "https://shop.example/ok".into(),
                cancel_url: "https://shop.example/cancel".into(),
                customer: crate::helpers::smartpay_customer(), shipping: crate::helpers::smartpay_shipping(), ..Default::default()
            })),
            ..Default::default()
        };
        let order = app.authorize(request).await.unwrap();
        let Some(v1::next_action::Action::RedirectUrl(url)) = order.next_action.and_then(|a| a.action) else {
            panic!("a checkout URL");
        };
        assert!(app.smartpay.approve_checkout(url.rsplit('/').next().unwrap()));
        let report = app.reconcile().await;
        assert_eq!(report.orders, 1);
        assert_eq!(app.get_order(&order.id, false).await.unwrap().status(), OrderStatus::Authorized);
        // Asked about again only after its backoff.
        assert_eq!(app.reconcile().await.orders, 0);
    }
}

db_test! {
    async fn lapsed_authorizations_become_expired(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        let partly = app.authorized_payjp(5_000).await;
        app.capture(&partly.id, Some(1_000), false).await.unwrap();
        app.clock.advance(Duration::days(7) + Duration::minutes(1));
        app.reconcile().await;
        assert_eq!(app.get_order(&order.id, false).await.unwrap().status(), OrderStatus::Expired);
        let partly = app.get_order(&partly.id, false).await.unwrap();
        assert_eq!((partly.status(), partly.amount_capturable), (OrderStatus::Captured, 0));
    }
}

db_test! {
    async fn completed_keys_are_reaped_after_their_replay_window(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        app.capture(&order.id, None, false).await.unwrap();
        assert_eq!(app.count("idempotency_keys").await, 2);
        app.clock.advance(Duration::hours(23));
        assert_eq!(app.reconcile().await.keys_reaped, 0, "kept at least 24 hours");
        app.clock.advance(Duration::hours(2));
        assert_eq!(app.reconcile().await.keys_reaped, 2);
        assert_eq!(app.count("idempotency_keys").await, 0);
    }
}

db_test! {
    async fn a_card_call_that_cannot_be_proven_is_left_for_review(app: TestApp) {
        let request = crate::paymentoptions_rules::card_request(
            &app,
            &unique_key("auth"),
            5_000,
            crate::paymentoptions_rules::APPROVE,
            v1::CaptureMethod::Manual,
        );
        let order = app.authorize(request).await.unwrap();
        app.paymentoptions.faults().inject(Fault::new("POST", "/capture", FaultKind::DropAfterActing));
        assert_error(app.capture(&order.id, None, false).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        let before = app.paymentoptions.ledger();
        app.reconcile().await;
        // It may look the transaction up; it never sends the capture again.
        assert_eq!(app.paymentoptions.ledger(), before, "never resent");
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(stored.status(), OrderStatus::Pending);
        assert!(stored.needs_review);
    }
}
