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
use kessai::sandbox::faults::{Fault, FaultKind, Faults};
use tonic::Code;

use crate::db_test;
use crate::helpers::{
    TestApp, assert_error, card_authorize, payjp_authorize, smartpay_token_authorize, unique_key,
};
use crate::paymentoptions_rules::APPROVE;

/// What the suite needs to know of one provider.
pub struct Conformer {
    pub name: &'static str,
    /// An Authorize request the provider approves.
    pub authorize: fn(&TestApp, i64) -> v1::AuthorizeRequest,
    /// The path of the provider's capture request, for faults.
    pub capture_path: &'static str,
    /// (captured, refunded, canceled) in the provider's own ledger.
    pub ledger: fn(&TestApp, &str) -> (i64, i64, bool),
    pub faults: fn(&TestApp) -> &Faults,
    /// Whether the provider deduplicates a resent call; where it does not, a
    /// call whose answer was lost is left for a person.
    pub deduplicates: bool,
}

/// Every provider kessai drives: a new one is added here.
const PROVIDERS: &[Conformer] = &[
    PAYJP,
    SMARTPAY,
    PAYMENTOPTIONS,
    #[cfg(feature = "example-provider")]
    crate::example::CONFORMER,
];

const PAYJP: Conformer = Conformer {
    name: "PAY.JP",
    authorize: |_, amount| payjp_authorize(&unique_key("conf"), amount, "pm_test_approve"),
    capture_path: "/capture",
    ledger: |app, id| {
        let flow = app.ledger_flow(id);
        (flow.captured, flow.refunded, flow.canceled)
    },
    faults: |app| app.payjp.faults(),
    deduplicates: true,
};

const SMARTPAY: Conformer = Conformer {
    name: "Smartpay",
    authorize: |_, amount| {
        smartpay_token_authorize(&unique_key("conf"), amount, "paytok_test_approved")
    },
    capture_path: "/payments",
    ledger: |app, id| {
        let ledger = app.smartpay.ledger();
        let order = ledger
            .orders
            .iter()
            .find(|o| o.id == id)
            .expect("Smartpay knows the order");
        (order.captured, order.refunded, order.canceled)
    },
    faults: |app| app.smartpay.faults(),
    deduplicates: true,
};

const PAYMENTOPTIONS: Conformer = Conformer {
    name: "PaymentOptions",
    authorize: |app, amount| {
        let year = app.clock.now().year() + 3;
        card_authorize(&unique_key("conf"), amount, APPROVE, "123", year)
    },
    capture_path: "/capture",
    ledger: |app, id| {
        let ledger = app.paymentoptions.ledger();
        let auth = ledger
            .authorizations
            .iter()
            .find(|a| a.id == id)
            .expect("PaymentOptions knows the authorization");
        (auth.captured, auth.refunded, auth.status == "voided")
    },
    faults: |app| app.paymentoptions.faults(),
    deduplicates: false,
};

impl Conformer {
    #[track_caller]
    pub fn assert_books(&self, app: &TestApp, order: &v1::Order) {
        let (captured, refunded, canceled) = (self.ledger)(app, &order.provider_order_id);
        let name = self.name;
        assert_eq!(
            (order.amount_captured, order.amount_refunded),
            (captured, refunded),
            "{name}: kessai's books against the provider's"
        );
        if order.status() == OrderStatus::Voided {
            assert!(canceled, "{name}: voided at the provider too");
        }
    }
}

db_test! {
    async fn every_provider_authorizes_captures_part_then_the_rest_and_refunds(app: TestApp) {
        for provider in PROVIDERS {
            let name = provider.name;
            let order = app.authorize((provider.authorize)(&app, 10_000)).await.unwrap();
            assert_eq!(order.status(), OrderStatus::Authorized, "{name}");
            assert_eq!(order.amount_authorized, 10_000);
            let part = app.capture(&order.id, Some(4_000), false).await.unwrap();
            assert_eq!(part.amount_captured, 4_000, "{name}");
            provider.assert_books(&app, &part);
            let done = if part.amount_capturable > 0 {
                let rest = app.capture(&order.id, None, false).await.unwrap();
                assert_eq!(rest.amount_captured, 10_000, "{name}: the rest");
                rest
            } else {
                // The provider takes one capture and releases the rest.
                assert_eq!(part.status(), OrderStatus::Captured, "{name}");
                part
            };
            provider.assert_books(&app, &done);
            let refunded = app.refund(&order.id, Some(1_500)).await.unwrap();
            assert_eq!(refunded.amount_refunded, 1_500, "{name}");
            provider.assert_books(&app, &refunded);
        }
    }
}

db_test! {
    async fn every_provider_voids_an_authorization(app: TestApp) {
        for provider in PROVIDERS {
            let name = provider.name;
            let order = app.authorize((provider.authorize)(&app, 5_000)).await.unwrap();
            let voided = app.void(&order.id).await.unwrap();
            assert_eq!(voided.status(), OrderStatus::Voided, "{name}");
            assert_eq!(voided.amount_capturable, 0);
            provider.assert_books(&app, &voided);
            assert_error(app.capture(&order.id, Some(100), false).await, Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED");
        }
    }
}

db_test! {
    async fn every_provider_keeps_a_lost_capture_answer_safe(app: TestApp) {
        for provider in PROVIDERS {
            let name = provider.name;
            let order = app.authorize((provider.authorize)(&app, 6_000)).await.unwrap();
            let faults = (provider.faults)(&app);
            // The provider acts, and answers after kessai stopped waiting.
            faults.inject(Fault::new("POST", provider.capture_path, FaultKind::DelayAfterActing { ms: 3_000 }).times(2));
            let key = unique_key("lost");
            assert_error(app.capture_with_key(&key, &order.id, Some(2_000), false).await, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
            faults.clear();
            assert_eq!(app.get_order(&order.id, false).await.unwrap().status(), OrderStatus::Pending, "{name}");
            app.reconcile().await;
            let retried = app.capture_with_key(&key, &order.id, Some(2_000), false).await;
            let order = app.get_order(&order.id, false).await.unwrap();
            let (captured, _, _) = (provider.ledger)(&app, &order.provider_order_id);
            assert_eq!(captured, 2_000, "{name}: captured once at the provider, never twice");
            if order.needs_review {
                // No idempotency at the provider: never resent, a person settles it.
                assert!(!provider.deduplicates, "{name}: only where the provider cannot deduplicate");
                // The retry is told so, not to keep retrying.
                assert_error(retried, Code::FailedPrecondition, "NEEDS_REVIEW");
            } else {
                assert_eq!(retried.unwrap().amount_captured, 2_000, "{name}: the retry replays the outcome");
                provider.assert_books(&app, &order);
            }
        }
    }
}
