//! One conformance suite for every provider: the same guarantees, asked the
//! same way of each, so no provider silently skips one. Authorize, capture
//! part then the rest (as far as the provider's rules allow), refund, void,
//! and a capture whose answer is lost (here); the provider's own
//! notifications taken and forged or replayed ones not (`webhooks.rs`); a
//! process killed between the commits of an authorization and of a capture
//! (`crash.rs`). After each, kessai's books equal the provider's ledger.
//! Every row runs against every entry of `PROVIDERS`, and a provider enters
//! the suite only with everything a row needs of it (`Conformer`).

mod crash;
mod webhooks;

use chrono::Datelike;
use futures::future::BoxFuture;
use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use kessai::sandbox::faults::{Fault, FaultKind, Faults};
use kessai::sandbox::notifications::Notifier;
use kessai::sandbox::{
    PAYJP_SANDBOX_SECRET_KEY, PAYMENTOPTIONS_SANDBOX_API_KEY, PAYMENTOPTIONS_SANDBOX_MERCHANT_ID,
    SMARTPAY_SANDBOX_SECRET_KEY,
};
use tonic::Code;

use crate::db_test;
use crate::helpers::{
    PAYJP_WEBHOOK_TOKEN, SMARTPAY_WEBHOOK_SECRET, TestApp, assert_error, card_authorize,
    payjp_authorize, smartpay_token_authorize, unique_key,
};
use crate::paymentoptions_rules::APPROVE;
pub use webhooks::{Webhook, at_the_provider};

/// What the suite needs to know of one provider.
pub struct Conformer {
    pub name: &'static str,
    /// kessai's name for it: the path its simulator is served under (beside
    /// the others) and its route on kessai's webhook listener.
    pub slug: &'static str,
    /// kessai's configuration of it, pointed at the simulators served at
    /// the given root (`http://127.0.0.1:…`).
    pub env: fn(&str) -> Vec<(&'static str, String)>,
    /// An Authorize request the provider approves, for manual capture.
    pub authorize: fn(i64) -> v1::AuthorizeRequest,
    /// The path of the provider's capture request, for faults.
    pub capture_path: &'static str,
    /// The list of its charges in its simulator's ledger
    /// (`/_sandbox/ledger`): rows with `id`, `captured` and `refunded`.
    pub ledger_list: &'static str,
    /// Whether such a row was canceled (voided).
    pub canceled: fn(&serde_json::Value) -> bool,
    pub faults: fn(&TestApp) -> &Faults,
    /// Whether the provider deduplicates a resent call; where it does not, a
    /// call whose answer was lost is left for a person.
    pub deduplicates: bool,
    /// Points its simulator's notifications at a URL, authenticated as
    /// kessai is configured to verify them.
    pub deliver_to: fn(&TestApp, String),
    /// Its simulator's outgoing notifications.
    pub notifier: fn(&TestApp) -> &Notifier,
    /// Moves the provider's ledger on without kessai recording it, in a way
    /// the provider notifies and kessai can learn from asking it: a capture
    /// of 3,000 made at the provider itself; PaymentOptions, whose lookup
    /// shows no capture kessai did not make, refunds a captured order in
    /// full and the answer is lost.
    pub diverge: for<'a> fn(&'a TestApp, &'a v1::Order) -> BoxFuture<'a, ()>,
    /// The provider's notification of the divergence, forged: the same body
    /// under a wrong signature or token; PaymentOptions signs nothing, so a
    /// hint that names the order's capture as the refund, which
    /// PaymentOptions does not confirm.
    pub forge: fn(&TestApp, &v1::Order, &Webhook) -> Webhook,
}

/// One charge (authorization, payment flow, order) in a provider's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub id: String,
    pub captured: i64,
    pub refunded: i64,
    pub canceled: bool,
}

/// Every provider kessai drives: a new one is added here.
pub const PROVIDERS: &[Conformer] = &[
    PAYJP,
    SMARTPAY,
    PAYMENTOPTIONS,
    #[cfg(feature = "example-provider")]
    crate::example::CONFORMER,
];

const PAYJP: Conformer = Conformer {
    name: "PAY.JP",
    slug: "payjp",
    env: |root| {
        vec![
            ("KESSAI_PAYJP_SECRET_KEY", PAYJP_SANDBOX_SECRET_KEY.into()),
            ("KESSAI_PAYJP_BASE_URL", format!("{root}/payjp/v2")),
        ]
    },
    authorize: |amount| payjp_authorize(&unique_key("conf"), amount, "pm_test_approve"),
    capture_path: "/capture",
    ledger_list: "flows",
    canceled: |flow| flow["canceled"] == true,
    faults: |app| app.payjp.faults(),
    deduplicates: true,
    deliver_to: |app, url| {
        app.payjp
            .deliver_webhooks_to(url, PAYJP_WEBHOOK_TOKEN.to_owned().into())
    },
    notifier: |app| app.payjp.webhooks(),
    diverge: |app, order| {
        let flow = &order.provider_order_id;
        at_the_provider(
            format!("{}/payjp/v2/payment_flows/{flow}/capture", app.simulators()),
            format!("Bearer {PAYJP_SANDBOX_SECRET_KEY}"),
            serde_json::json!({ "amount_to_capture": 3_000 }),
        )
    },
    forge: |_, _, news| news.signed_as(vec![("X-Payjp-Webhook-Token", "whtok_it_forged".into())]),
};

const SMARTPAY: Conformer = Conformer {
    name: "Smartpay",
    slug: "smartpay",
    env: |root| {
        vec![
            (
                "KESSAI_SMARTPAY_SECRET_KEY",
                SMARTPAY_SANDBOX_SECRET_KEY.into(),
            ),
            ("KESSAI_SMARTPAY_BASE_URL", format!("{root}/smartpay/v1")),
        ]
    },
    authorize: |amount| {
        smartpay_token_authorize(&unique_key("conf"), amount, "paytok_test_approved")
    },
    capture_path: "/payments",
    ledger_list: "orders",
    canceled: |order| order["canceled"] == true,
    faults: |app| app.smartpay.faults(),
    deduplicates: true,
    deliver_to: |app, url| {
        let secret = SMARTPAY_WEBHOOK_SECRET.to_owned().into();
        assert!(app.smartpay.deliver_webhooks_to(url, secret));
    },
    notifier: |app| app.smartpay.webhooks(),
    diverge: |app, order| {
        let payment = serde_json::json!({
            "order": order.provider_order_id,
            "amount": 3_000,
            "currency": "JPY",
            "cancelRemainder": "manual",
        });
        at_the_provider(
            format!("{}/smartpay/v1/payments", app.simulators()),
            format!("Basic {SMARTPAY_SANDBOX_SECRET_KEY}"),
            payment,
        )
    },
    forge: webhooks::smartpay_forged,
};

const PAYMENTOPTIONS: Conformer = Conformer {
    name: "PaymentOptions",
    slug: "paymentoptions",
    env: |root| {
        vec![
            (
                "KESSAI_PAYMENTOPTIONS_API_KEY",
                PAYMENTOPTIONS_SANDBOX_API_KEY.into(),
            ),
            (
                "KESSAI_PAYMENTOPTIONS_MERCHANT_ID",
                PAYMENTOPTIONS_SANDBOX_MERCHANT_ID.into(),
            ),
            (
                "KESSAI_PAYMENTOPTIONS_BASE_URL",
                format!("{root}/paymentoptions"),
            ),
        ]
    },
    authorize: |amount| {
        let year = chrono::Utc::now().year() + 3;
        card_authorize(&unique_key("conf"), amount, APPROVE, "123", year)
    },
    capture_path: "/capture",
    ledger_list: "authorizations",
    canceled: |authorization| authorization["status"] == "voided",
    faults: |app| app.paymentoptions.faults(),
    deduplicates: false,
    deliver_to: |app, url| app.paymentoptions.deliver_webhooks_to(url),
    notifier: |app| app.paymentoptions.webhooks(),
    diverge: |app, order| {
        Box::pin(async move {
            app.capture(&order.id, None, false).await.unwrap();
            let lost = Fault::new("POST", "/refund", FaultKind::DropAfterActing);
            app.paymentoptions.faults().inject(lost);
            let refund = app.refund(&order.id, None).await;
            assert_error(refund, Code::DeadlineExceeded, "OUTCOME_UNKNOWN");
        })
    },
    forge: webhooks::paymentoptions_forged,
};

/// kessai's configuration of every provider, pointed at the simulators
/// served at `root`.
pub fn provider_env(root: &str) -> impl Iterator<Item = (String, String)> + '_ {
    PROVIDERS
        .iter()
        .flat_map(move |provider| (provider.env)(root))
        .map(|(name, value)| (name.to_owned(), value))
}

/// An HTTP client for the simulators.
pub fn http_client() -> reqwest::Client {
    kessai::startup::install_crypto_provider();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A simulator's ledger as JSON: `slug`'s, of the simulators at `root`.
pub async fn ledger(root: &str, slug: &str) -> serde_json::Value {
    let url = format!("{root}/{slug}/_sandbox/ledger");
    let answer = http_client().get(&url).send().await.unwrap();
    assert!(answer.status().is_success(), "{url}: {}", answer.status());
    answer.json().await.unwrap()
}

impl Conformer {
    /// Its charges, oldest first, as the simulators at `root` hold them.
    pub async fn charges(&self, root: &str) -> Vec<Charge> {
        let ledger = ledger(root, self.slug).await;
        let rows = ledger[self.ledger_list].as_array();
        let rows =
            rows.unwrap_or_else(|| panic!("{}: no {} in {ledger}", self.name, self.ledger_list));
        let amount = |row: &serde_json::Value, field: &str| row[field].as_i64().unwrap();
        let charge = |row: &serde_json::Value| Charge {
            id: row["id"].as_str().unwrap().to_owned(),
            captured: amount(row, "captured"),
            refunded: amount(row, "refunded"),
            canceled: (self.canceled)(row),
        };
        rows.iter().map(charge).collect()
    }

    pub async fn charge(&self, root: &str, id: &str) -> Charge {
        let charges = self.charges(root).await;
        let found = charges.into_iter().find(|c| c.id == id);
        found.unwrap_or_else(|| panic!("{}: the provider has no charge {id:?}", self.name))
    }

    /// Asserts kessai's books of `order` are the provider's ledger.
    pub async fn assert_books(&self, root: &str, order: &v1::Order) {
        let charge = self.charge(root, &order.provider_order_id).await;
        let name = self.name;
        assert_eq!(
            (order.amount_captured, order.amount_refunded),
            (charge.captured, charge.refunded),
            "{name}: kessai's books against the provider's"
        );
        if order.status() == OrderStatus::Voided {
            assert!(charge.canceled, "{name}: voided at the provider too");
        }
    }
}

db_test! {
    async fn every_provider_authorizes_captures_part_then_the_rest_and_refunds(app: TestApp) {
        let root = app.simulators();
        for provider in PROVIDERS {
            let name = provider.name;
            let order = app.authorize((provider.authorize)(10_000)).await.unwrap();
            assert_eq!(order.status(), OrderStatus::Authorized, "{name}");
            assert_eq!(order.amount_authorized, 10_000);
            let part = app.capture(&order.id, Some(4_000), false).await.unwrap();
            assert_eq!(part.amount_captured, 4_000, "{name}");
            provider.assert_books(&root, &part).await;
            let done = if part.amount_capturable > 0 {
                let rest = app.capture(&order.id, None, false).await.unwrap();
                assert_eq!(rest.amount_captured, 10_000, "{name}: the rest");
                rest
            } else {
                // The provider takes one capture and releases the rest.
                assert_eq!(part.status(), OrderStatus::Captured, "{name}");
                part
            };
            provider.assert_books(&root, &done).await;
            let refunded = app.refund(&order.id, Some(1_500)).await.unwrap();
            assert_eq!(refunded.amount_refunded, 1_500, "{name}");
            provider.assert_books(&root, &refunded).await;
        }
    }
}

db_test! {
    async fn every_provider_voids_an_authorization(app: TestApp) {
        for provider in PROVIDERS {
            let name = provider.name;
            let order = app.authorize((provider.authorize)(5_000)).await.unwrap();
            let voided = app.void(&order.id).await.unwrap();
            assert_eq!(voided.status(), OrderStatus::Voided, "{name}");
            assert_eq!(voided.amount_capturable, 0);
            provider.assert_books(&app.simulators(), &voided).await;
            assert_error(app.capture(&order.id, Some(100), false).await, Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED");
        }
    }
}

db_test! {
    async fn every_provider_keeps_a_lost_capture_answer_safe(app: TestApp) {
        let root = app.simulators();
        for provider in PROVIDERS {
            let name = provider.name;
            let order = app.authorize((provider.authorize)(6_000)).await.unwrap();
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
            let captured = provider.charge(&root, &order.provider_order_id).await.captured;
            assert_eq!(captured, 2_000, "{name}: captured once at the provider, never twice");
            if order.needs_review {
                // No idempotency at the provider: never resent, a person settles it.
                assert!(!provider.deduplicates, "{name}: only where the provider cannot deduplicate");
                // The retry is told so, not to keep retrying.
                assert_error(retried, Code::FailedPrecondition, "NEEDS_REVIEW");
            } else {
                assert_eq!(retried.unwrap().amount_captured, 2_000, "{name}: the retry replays the outcome");
                provider.assert_books(&root, &order).await;
            }
        }
    }
}
