//! The test-only example provider (the `example-provider` feature): its entry
//! in the conformance suite (with its configuration), and its notifications
//! tested the way `webhooks.rs` tests the real providers'.

use hmac::{Hmac, Mac};
use kessai::clock::Clock;
use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use kessai::sandbox::example::{SANDBOX_API_KEY, SANDBOX_WEBHOOK_SECRET};
use serde_json::json;
use sha2::Sha256;

use crate::conformance::Conformer;
use crate::db_test;
use crate::helpers::{TestApp, unique_key};
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

/// Captures at the provider itself (its dashboard), behind kessai's back.
async fn capture_at_the_provider(app: &TestApp, charge: &str, amount: i64) {
    kessai::startup::install_crypto_provider();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = app.sandbox().example.base_url();
    let answer = client
        .post(format!("{base}/v1/charges/{charge}/captures"))
        .bearer_auth(SANDBOX_API_KEY)
        .json(&json!({ "amount": amount }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
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
    async fn example_a_verified_notification_is_applied_and_a_forged_one_refused(app: TestApp) {
        let order = app.authorize(authorize(8_000, "tok_approve")).await.unwrap();
        let charge = order.provider_order_id.clone();
        let addr = app.webhook_addr.to_string();
        let body = json!({"id": "evt_forged", "type": "charge.captured", "charge": charge}).to_string();
        let now = app.clock.now().timestamp();
        for headers in [
            signature("whsec_not_the_secret", now, &body),
            signature(SANDBOX_WEBHOOK_SECRET, now - 600, &body),
            Vec::new(),
        ] {
            let answer = post_webhook(&addr, "example", &headers, &body).await;
            assert_eq!(answer.status, 401, "{:?}", answer.json);
        }
        // A capture at the provider that only its notification tells kessai of.
        capture_at_the_provider(&app, &charge, 3_000).await;
        assert_eq!(app.get_order(&order.id, false).await.unwrap().amount_captured, 0);
        let sent = post_webhook(&addr, "example", &signature(SANDBOX_WEBHOOK_SECRET, now, &body), &body).await;
        assert_eq!(sent.json["outcome"], "applied", "the forged requests recorded nothing under its id");
        let applied = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(applied.status(), OrderStatus::PartiallyCaptured);
        crate::example::CONFORMER.assert_books(&app.simulators(), &applied).await;
        // The simulator's own signed notifications move the order on alone.
        let url = format!("http://{addr}/webhooks/example");
        app.sandbox().example.deliver_webhooks_to(url, SANDBOX_WEBHOOK_SECRET.to_owned().into());
        capture_at_the_provider(&app, &charge, 5_000).await;
        let done = app.until_status(&order.id, OrderStatus::Captured).await;
        assert_eq!(done.amount_captured, 8_000);
        crate::example::CONFORMER.assert_books(&app.simulators(), &done).await;
        assert!(app.sandbox().example.webhooks().settled(std::time::Duration::from_secs(10)).await);
    }
}
