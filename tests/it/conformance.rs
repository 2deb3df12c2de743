//! One conformance suite for every provider: the same guarantees, asked the
//! same way of each, so no provider silently skips one. Authorize, capture
//! part then the rest (as far as the provider's rules allow), refund, void,
//! and a capture whose answer is lost; after each, kessai's books equal the
//! provider's ledger. (Crashes: `crash.rs` and `crash_paymentoptions.rs`;
//! webhooks: `webhooks.rs`.)

use chrono::Datelike;
use kessai::clock::Clock;
use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use kessai::sandbox::faults::{Fault, FaultKind};
use tonic::Code;

use crate::db_test;
#[allow(unused_imports)]
use crate::helpers::TestApp;
use crate::helpers::{
    assert_error, card_authorize, payjp_authorize, smartpay_token_authorize, unique_key,
};
use crate::paymentoptions_rules::APPROVE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    Payjp,
    Smartpay,
    PaymentOptions,
}

/// Every provider kessai drives: a new one is added here.
const PROVIDERS: [Provider; 3] = [
    Provider::Payjp,
    Provider::Smartpay,
    Provider::PaymentOptions,
];

impl Provider {
    fn authorize(self, app: &TestApp, amount: i64) -> v1::AuthorizeRequest {
        let key = unique_key("conf");
        match self {
            Provider::Payjp => payjp_authorize(&key, amount, "pm_test_approve"),
            Provider::Smartpay => smartpay_token_authorize(&key, amount, "paytok_test_approved"),
            Provider::PaymentOptions => {
                card_authorize(&key, amount, APPROVE, "123", app.clock.now().year() + 3)
            }
        }
    }

    /// The path of the provider's capture request, for faults.
    fn capture_path(self) -> &'static str {
        match self {
            Provider::Payjp | Provider::PaymentOptions => "/capture",
            Provider::Smartpay => "/payments",
        }
    }

    /// (captured, refunded, canceled) in the provider's own ledger.
    fn ledger(self, app: &TestApp, provider_order_id: &str) -> (i64, i64, bool) {
        match self {
            Provider::Payjp => {
                let flow = app.ledger_flow(provider_order_id);
                (flow.captured, flow.refunded, flow.canceled)
            }
            Provider::Smartpay => {
                let ledger = app.smartpay.ledger();
                let order = ledger
                    .orders
                    .iter()
                    .find(|o| o.id == provider_order_id)
                    .expect("Smartpay knows the order");
                (order.captured, order.refunded, order.canceled)
            }
            Provider::PaymentOptions => {
                let ledger = app.paymentoptions.ledger();
                let auth = ledger
                    .authorizations
                    .iter()
                    .find(|a| a.id == provider_order_id)
                    .expect("PaymentOptions knows the authorization");
                (auth.captured, auth.refunded, auth.status == "voided")
            }
        }
    }

    #[track_caller]
    fn assert_books(self, app: &TestApp, order: &v1::Order) {
        let (captured, refunded, canceled) = self.ledger(app, &order.provider_order_id);
        assert_eq!(
            (order.amount_captured, order.amount_refunded),
            (captured, refunded),
            "{self:?}: kessai's books against the provider's"
        );
        if order.status() == OrderStatus::Voided {
            assert!(canceled, "{self:?}: voided at the provider too");
        }
    }
}

db_test! {
    async fn every_provider_authorizes_captures_part_then_the_rest_and_refunds(app: TestApp) {
        for provider in PROVIDERS {
            let order = app.authorize(provider.authorize(&app, 10_000)).await.unwrap();
            assert_eq!(order.status(), OrderStatus::Authorized, "{provider:?}");
            assert_eq!(order.amount_authorized, 10_000);
            let part = app.capture(&order.id, Some(4_000), false).await.unwrap();
            assert_eq!(part.amount_captured, 4_000, "{provider:?}");
            provider.assert_books(&app, &part);
            let done = if part.amount_capturable > 0 {
                let rest = app.capture(&order.id, None, false).await.unwrap();
                assert_eq!(rest.amount_captured, 10_000, "{provider:?}: the rest");
                rest
            } else {
                // The provider takes one capture and releases the rest.
                assert_eq!(part.status(), OrderStatus::Captured, "{provider:?}");
                part
            };
            provider.assert_books(&app, &done);
            let refunded = app.refund(&order.id, Some(1_500)).await.unwrap();
            assert_eq!(refunded.amount_refunded, 1_500, "{provider:?}");
            provider.assert_books(&app, &refunded);
        }
    }
}

db_test! {
    async fn every_provider_voids_an_authorization(app: TestApp) {
        for provider in PROVIDERS {
            let order = app.authorize(provider.authorize(&app, 5_000)).await.unwrap();
            let voided = app.void(&order.id).await.unwrap();
            assert_eq!(voided.status(), OrderStatus::Voided, "{provider:?}");
            assert_eq!(voided.amount_capturable, 0);
            provider.assert_books(&app, &voided);
            assert_error(app.capture(&order.id, Some(100), false).await, Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED");
        }
    }
}

db_test! {
    async fn every_provider_keeps_a_lost_capture_answer_safe(app: TestApp) {
        for provider in PROVIDERS {
            let order = app.authorize(provider.authorize(&app, 6_000)).await.unwrap();
            let faults = match provider {
                Provider::Payjp => app.payjp.faults(),
                Provider::Smartpay => app.smartpay.faults(),
                Provider::PaymentOptions => app.paymentoptions.faults(),
            };
            // The provider acts, and answers after kessai stopped waiting.
            faults.inject(Fault::new("POST", provider.capture_path(), FaultKind::DelayAfterActing { ms: 3_000 }).times(2));
            let key = unique_key("lost");
            assert_error(app.capture_with_key(&key, &order.id, Some(2_000), false).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
            faults.clear();
            assert_eq!(app.get_order(&order.id, false).await.unwrap().status(), OrderStatus::Pending, "{provider:?}");
            app.reconcile().await;
            let retried = app.capture_with_key(&key, &order.id, Some(2_000), false).await;
            let order = app.get_order(&order.id, false).await.unwrap();
            let (captured, _, _) = provider.ledger(&app, &order.provider_order_id);
            assert_eq!(captured, 2_000, "{provider:?}: captured once at the provider, never twice");
            if order.needs_review {
                // No idempotency at the provider: never resent, a person settles it.
                assert_eq!(provider, Provider::PaymentOptions, "only where the provider cannot deduplicate");
                assert_error(retried, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
            } else {
                assert_eq!(retried.unwrap().amount_captured, 2_000, "{provider:?}: the retry replays the outcome");
                provider.assert_books(&app, &order);
            }
        }
    }
}
