//! The test-only example provider (the `example-provider` feature): its entry
//! in the conformance suite (with its configuration), and what of it the
//! suite does not ask of every provider.

use hmac::{Hmac, Mac};
use kessai::clock::Clock;
use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use kessai::sandbox::example::{SANDBOX_API_KEY, SANDBOX_WEBHOOK_SECRET};
use serde_json::json;
use sha2::Sha256;

use crate::conformance::{Conformer, at_the_provider};
use crate::db_test;
use crate::helpers::unique_key;
use crate::webhooks::post_webhook;

pub const CONFORMER: Conformer = Conformer {
    name: "Example",
    slug: "example",
    env: |root| {
        vec![
            ("KESSAI_EXAMPLE_API_KEY", SANDBOX_API_KEY.into()),
            ("KESSAI_EXAMPLE_BASE_URL", format!("{root}/example")),
            (
                "KESSAI_EXAMPLE_WEBHOOK_SECRET",
                SANDBOX_WEBHOOK_SECRET.into(),
            ),
        ]
    },
    authorize: |amount| authorize(amount, "tok_approve"),
    capture_path: "/captures",
    ledger_list: "charges",
    canceled: |charge| charge["status"] == "voided",
    faults: |app| app.sandbox().example.faults(),
    deduplicates: true,
    deliver_to: |app, url| {
        let secret = SANDBOX_WEBHOOK_SECRET.to_owned().into();
        app.sandbox().example.deliver_webhooks_to(url, secret);
    },
    notifier: |app| app.sandbox().example.webhooks(),
    // Captured at the provider itself (its dashboard).
    diverge: |app, order| {
        let charge = &order.provider_order_id;
        at_the_provider(
            format!("{}/example/v1/charges/{charge}/captures", app.simulators()),
            format!("Bearer {SANDBOX_API_KEY}"),
            json!({ "amount": 3_000 }),
        )
    },
    forge: |app, _, news| {
        let now = app.clock.now().timestamp();
        news.signed_as(signature("whsec_not_the_secret", now, &news.body))
    },
};

fn authorize(amount: i64, card_token: &str) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        idempotency_key: unique_key("auth"),
        amount,
        currency: "JPY".into(),
        provider_details: Some(v1::authorize_request::ProviderDetails::Example(
            v1::ExampleDetails {
                card_token: card_token.into(),
            },
        )),
        ..Default::default()
    }
}

/// `Example-Signature` for `body` at `t`, signed with `secret`.
fn signature(secret: &str, t: i64, body: &str) -> Vec<(&'static str, String)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let v1 = hex::encode(mac.finalize().into_bytes());
    vec![("Example-Signature", format!("t={t},v1={v1}"))]
}

db_test! {
    async fn example_declines_and_unknown_tokens_are_told_apart(app: TestApp) {
        let declined = app.authorize(authorize(1_000, "tok_decline")).await.unwrap();
        assert_eq!(declined.status(), OrderStatus::Declined);
        assert!(declined.provider_order_id.is_empty(), "a decline makes no charge");
        let unknown = app.authorize(authorize(1_000, "card_4242")).await;
        crate::helpers::assert_error(unknown, tonic::Code::InvalidArgument, "PAYMENT_METHOD_NOT_FOUND");
    }
}

db_test! {
    async fn example_notifications_signed_too_long_ago_or_not_at_all_are_refused(app: TestApp) {
        // A wrong signature, and the signed notification taken: the conformance suite.
        let order = app.authorize(authorize(8_000, "tok_approve")).await.unwrap();
        let charge = order.provider_order_id.clone();
        let addr = app.webhook_addr.to_string();
        let body = json!({"id": "evt_stale", "type": "charge.authorized", "charge": charge}).to_string();
        let now = app.clock.now().timestamp();
        for headers in [signature(SANDBOX_WEBHOOK_SECRET, now - 600, &body), Vec::new()] {
            let answer = post_webhook(&addr, "example", &headers, &body).await;
            assert_eq!(answer.status, 401, "{:?}", answer.json);
        }
        assert_eq!(app.count("webhook_events").await, 0, "nothing recorded");
        let signed = post_webhook(&addr, "example", &signature(SANDBOX_WEBHOOK_SECRET, now, &body), &body).await;
        assert_eq!(signed.json["outcome"], "applied", "the refused requests recorded nothing under its id");
    }
}
