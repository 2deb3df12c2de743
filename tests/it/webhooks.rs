//! Provider notifications: only verified ones are taken, each event id is
//! applied once, a stale or late event never moves an order backwards, and
//! the simulators' own notifications alone move orders forward.

use chrono::Duration;
use hmac::{Hmac, Mac};
use kessai::clock::Clock;
use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::db_test;
use crate::helpers::{
    PAYJP_WEBHOOK_TOKEN, SMARTPAY_WEBHOOK_KEY_HEX, TestApp, payjp_authorize, unique_key,
};

/// A refused request: what it is, its headers, its body.
type Case<'a> = (&'a str, Vec<(&'static str, String)>, &'a str);

/// What the listener answered.
pub struct Answer {
    pub status: u16,
    pub json: Value,
}

async fn post(app: &TestApp, provider: &str, headers: &[(&str, String)], body: &str) -> Answer {
    post_webhook(&app.webhook_addr.to_string(), provider, headers, body).await
}

/// Posts a notification to kessai's listener at `addr`.
pub async fn post_webhook(
    addr: &str,
    provider: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Answer {
    kessai::startup::install_crypto_provider();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut request = client
        .post(format!("http://{addr}/webhooks/{provider}"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("the listener answers");
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(Value::Null);
    Answer { status, json }
}

/// `Smartpay-Signature` headers, computed here from the key bytes.
pub fn smartpay_headers(
    body: &str,
    timestamp_ms: i64,
    key_hex: &str,
) -> Vec<(&'static str, String)> {
    let timestamp = timestamp_ms.to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(&hex::decode(key_hex).unwrap()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    vec![
        (
            "Smartpay-Signature",
            hex::encode(mac.finalize().into_bytes()),
        ),
        ("Smartpay-Signature-Timestamp", timestamp),
    ]
}

pub fn smartpay_event(event_id: &str, event_type: &str, data: Value) -> String {
    json!({
        "id": event_id,
        "object": "event",
        "createdAt": 1_700_000_000_000_i64,
        "test": true,
        "eventData": {"type": event_type, "version": "2022-02-18", "data": data},
    })
    .to_string()
}

fn now_ms(app: &TestApp) -> i64 {
    app.clock.now().timestamp_millis()
}

/// Signed as Smartpay signs, now.
async fn post_smartpay(app: &TestApp, body: &str) -> Answer {
    let headers = smartpay_headers(body, now_ms(app), SMARTPAY_WEBHOOK_KEY_HEX);
    post(app, "smartpay", &headers, body).await
}

fn payjp_event(event_id: &str, event_type: &str, data: Value) -> String {
    json!({
        "object": "event",
        "id": event_id,
        "livemode": false,
        "type": event_type,
        "pending_webhooks": 1,
        "data": data,
        "created_at": "2025-06-05T09:30:00Z",
        "updated_at": "2025-06-05T09:30:00Z",
    })
    .to_string()
}

async fn post_payjp(app: &TestApp, body: &str) -> Answer {
    let headers = [("X-Payjp-Webhook-Token", PAYJP_WEBHOOK_TOKEN.to_owned())];
    post(app, "payjp", &headers, body).await
}

fn checkout(amount: i64) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        idempotency_key: unique_key("auth"),
        amount,
        currency: "JPY".into(),
        provider_details: Some(v1::authorize_request::ProviderDetails::Smartpay(
            v1::SmartpayDetails {
                items: vec![v1::SmartpayItem {
                    name: "Tシャツ".into(),
                    amount,
                    quantity: 1,
                    ..Default::default()
                }],
                success_url: "https://shop.example/success".into(),
                cancel_url: "https://shop.example/cancel".into(),
                customer: crate::helpers::smartpay_customer(),
                shipping: crate::helpers::smartpay_shipping(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// A Smartpay checkout waiting for the shopper, and its session id.
async fn waiting_checkout(app: &TestApp, amount: i64) -> (v1::Order, String) {
    let order = app.authorize(checkout(amount)).await.unwrap();
    assert_eq!(order.status(), OrderStatus::RequiresAction, "{order:?}");
    let Some(v1::next_action::Action::RedirectUrl(url)) =
        order.next_action.clone().and_then(|a| a.action)
    else {
        panic!("a checkout URL: {order:?}");
    };
    let session = url.rsplit('/').next().unwrap().to_owned();
    (order, session)
}

/// The provider's view of the order as an `order.*` event carries it.
fn smartpay_order_data(order: &v1::Order, status: &str) -> Value {
    json!({"id": order.provider_order_id, "object": "order", "amount": order.amount, "currency": "JPY", "status": status})
}

async fn stored(app: &TestApp, order: &v1::Order) -> v1::Order {
    app.get_order(&order.id, false).await.unwrap()
}

// ---------------------------------------------------------------------------
// Smartpay
// ---------------------------------------------------------------------------

db_test! {
    async fn a_checkout_approved_at_smartpay_is_authorized_by_its_notification_alone(app: TestApp) {
        app.notify_kessai();
        let (order, session) = waiting_checkout(&app, 5_000).await;
        // A service watching the order's events.
        let mut watcher = crate::helpers::watch_order(app.channel.clone(), &order.id).await;
        // The reconciliation worker is off in tests, and nothing refreshes.
        assert!(app.smartpay.approve_checkout(&session));
        let seen = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let event = watcher.message().await.unwrap().unwrap().event.unwrap();
                if event.status() == OrderStatus::Authorized {
                    return event;
                }
            }
        })
        .await
        .expect("the watcher sees the authorization");
        assert_eq!((seen.event_type.as_str(), seen.actor.as_str()), ("order.provider_state_synced", "webhook:smartpay"));
        assert_eq!(seen.amounts.unwrap().amount_authorized, 5_000);
        let now = app.until_status(&order.id, OrderStatus::Authorized).await;
        assert_eq!(now.status(), OrderStatus::Authorized, "{now:?}");
        assert_eq!(now.amount_authorized, 5_000);
        assert!(now.next_action.is_none());
        assert!(app.smartpay.webhooks().settled(std::time::Duration::from_secs(10)).await);
        let sent = app.smartpay.webhooks().deliveries();
        let authorized = sent.iter().find(|d| d.event_type == "order.authorized").expect("notified");
        assert!(authorized.delivered, "{authorized:?}");
        assert_eq!(authorized.last_status, Some(200));
        let events = app.store.events(&kessai::domain::OrderId::from_trusted(order.id.clone())).await.unwrap();
        let synced = events.iter().find(|e| e.event_type == "order.provider_state_synced").expect("a sync event");
        assert_eq!(synced.actor, "webhook:smartpay");
        assert_eq!(synced.status, "authorized");
    }
}

db_test! {
    async fn smartpay_notifications_with_a_wrong_missing_or_stale_signature_change_nothing(app: TestApp) {
        let (order, session) = waiting_checkout(&app, 3_000).await;
        // Approved at Smartpay without kessai being told.
        assert!(app.smartpay.approve_checkout(&session));
        let body = smartpay_event("evt_test_forged", "order.authorized", smartpay_order_data(&order, "requires_capture"));
        let now = now_ms(&app);
        let wrong_key = "00c019ef8c14058df9343e16b22aaf3240aa0c0bb9fb61670109e8cd0bb3";
        let tampered = body.replace("requires_capture", "requires_capturE");
        let signed = smartpay_headers(&body, now, SMARTPAY_WEBHOOK_KEY_HEX);
        let cases: Vec<Case> = vec![
            ("a signature made with another key", smartpay_headers(&body, now, wrong_key), body.as_str()),
            ("no signature", vec![signed[1].clone()], body.as_str()),
            ("no timestamp", vec![signed[0].clone()], body.as_str()),
            ("a body changed after signing", signed.clone(), tampered.as_str()),
            ("a signature over another timestamp", vec![signed[0].clone(), ("Smartpay-Signature-Timestamp", (now + 1).to_string())], body.as_str()),
            ("a stale timestamp", smartpay_headers(&body, now - 6 * 60 * 1000, SMARTPAY_WEBHOOK_KEY_HEX), body.as_str()),
            ("a timestamp in the future", smartpay_headers(&body, now + 6 * 60 * 1000, SMARTPAY_WEBHOOK_KEY_HEX), body.as_str()),
        ];
        for (case, headers, body) in cases {
            let answer = post(&app, "smartpay", &headers, body).await;
            assert_eq!(answer.status, 401, "{case}: {}", answer.json);
            assert!(!answer.json.to_string().contains(&signed[0].1), "{case}: the answer does not echo the signature");
        }
        let garbled = post(&app, "smartpay", &[signed[0].clone(), ("Smartpay-Signature-Timestamp", "yesterday".into())], &body).await;
        assert_eq!(garbled.status, 400, "{}", garbled.json);
        assert_eq!(stored(&app, &order).await.status(), OrderStatus::RequiresAction);
        assert_eq!(app.count("webhook_events").await, 0, "nothing recorded");

        // Within the five minutes' tolerance, the same event is taken.
        let headers = smartpay_headers(&body, now - 4 * 60 * 1000, SMARTPAY_WEBHOOK_KEY_HEX);
        let answer = post(&app, "smartpay", &headers, &body).await;
        assert_eq!((answer.status, answer.json["outcome"].as_str()), (200, Some("applied")), "{}", answer.json);
        assert_eq!(stored(&app, &order).await.status(), OrderStatus::Authorized);
        assert_eq!(app.count("webhook_events").await, 1);
    }
}

db_test! {
    async fn late_smartpay_events_never_move_an_order_backwards(app: TestApp) {
        app.notify_kessai();
        let (order, session) = waiting_checkout(&app, 6_000).await;
        assert!(app.smartpay.approve_checkout(&session));
        app.until_status(&order.id, OrderStatus::Authorized).await;
        app.capture(&order.id, Some(2_000), false).await.unwrap();
        let captured = app.void(&order.id).await.unwrap();
        assert_eq!(captured.status(), OrderStatus::Captured, "{captured:?}");
        assert!(app.smartpay.webhooks().settled(std::time::Duration::from_secs(10)).await);
        // The first notification, delivered again late, is a duplicate.
        let sent = app.smartpay.webhooks().deliveries();
        let types: Vec<&str> = sent.iter().map(|d| d.event_type.as_str()).collect();
        assert_eq!(types, ["order.authorized", "payment.created", "order.canceled"]);
        assert!(sent.iter().all(|d| d.delivered), "{sent:?}");
        assert_eq!(app.smartpay.webhooks().redeliver(&sent[0].event_id).await, Some(200));
        // Stale events under new ids: still waiting, then just authorized.
        for (id, status) in [("evt_test_late_1", "requires_authorization"), ("evt_test_late_2", "requires_capture")] {
            let body = smartpay_event(id, "order.authorized", smartpay_order_data(&order, status));
            assert_eq!(post_smartpay(&app, &body).await.status, 200);
        }
        let now = stored(&app, &order).await;
        assert_eq!(now.status(), OrderStatus::Captured, "{now:?}");
        assert_eq!((now.amount_authorized, now.amount_captured, now.amount_capturable), (6_000, 2_000, 0));
        assert_eq!(now.captures.len(), 1, "no capture recorded twice");
    }
}

db_test! {
    async fn smartpay_events_kessai_does_not_act_on_or_about_unknown_orders_are_acknowledged(app: TestApp) {
        let (order, _) = waiting_checkout(&app, 3_000).await;
        let seen = app.smartpay.requests_seen();
        let unknown_type = smartpay_event("evt_test_customer", "customer.updated", json!({"id": "customer_test_1"}));
        let answer = post_smartpay(&app, &unknown_type).await;
        assert_eq!((answer.status, answer.json["outcome"].as_str()), (200, Some("ignored")), "{}", answer.json);
        let unknown_order = smartpay_event(
            "evt_test_stranger",
            "order.authorized",
            json!({"id": "order_test_NotOneOfKessais000", "object": "order", "status": "requires_capture"}),
        );
        let answer = post_smartpay(&app, &unknown_order).await;
        assert_eq!((answer.status, answer.json["outcome"].as_str()), (200, Some("unknown_order")), "{}", answer.json);
        // Both recorded, so a redelivery is recognised; nothing asked, nothing changed.
        assert_eq!(app.count("webhook_events").await, 2);
        assert_eq!(post_smartpay(&app, &unknown_order).await.json["outcome"], "duplicate");
        assert_eq!(app.smartpay.requests_seen(), seen);
        assert_eq!(stored(&app, &order).await.status(), OrderStatus::RequiresAction);
        let unreadable = post_smartpay(&app, "{not json").await;
        assert_eq!(unreadable.status, 400);
    }
}

// ---------------------------------------------------------------------------
// PAY.JP
// ---------------------------------------------------------------------------

fn flow_data(order: &v1::Order, status: &str) -> Value {
    json!({"object": "payment_flow", "id": order.provider_order_id, "amount": order.amount, "currency": "jpy", "status": status})
}

db_test! {
    async fn three_d_secure_completed_at_payjp_is_authorized_by_its_notification_alone(app: TestApp) {
        app.notify_kessai();
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 4_000, "pm_test_3ds")).await.unwrap();
        assert_eq!(order.status(), OrderStatus::RequiresAction);
        assert!(app.payjp.complete_three_d_secure(&order.provider_order_id, true));
        let now = app.until_status(&order.id, OrderStatus::Authorized).await;
        assert_eq!(now.status(), OrderStatus::Authorized, "{now:?}");
        assert_eq!(now.amount_authorized, 4_000);
        // A refund is notified too, and changes nothing kessai has not
        // recorded itself.
        app.capture(&order.id, None, false).await.unwrap();
        let refunded = app.refund(&order.id, Some(1_000)).await.unwrap();
        assert!(app.payjp.webhooks().settled(std::time::Duration::from_secs(10)).await);
        let sent = app.payjp.webhooks().deliveries();
        let types: Vec<&str> = sent.iter().map(|d| d.event_type.as_str()).collect();
        assert_eq!(types, ["payment_flow.requires_action", "payment_flow.amount_capturable_updated", "payment_flow.succeeded", "refund.created"]);
        assert!(sent.iter().all(|d| d.delivered && d.last_status == Some(200)), "{sent:?}");
        let after = stored(&app, &order).await;
        assert_eq!((after.amount_captured, after.amount_refunded), (4_000, 1_000));
        assert_eq!(after.refunds, refunded.refunds);
    }
}

db_test! {
    async fn three_d_secure_failed_at_payjp_is_declined_by_its_notification_alone(app: TestApp) {
        app.notify_kessai();
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 4_000, "pm_test_3ds")).await.unwrap();
        assert!(app.payjp.complete_three_d_secure(&order.provider_order_id, false));
        let now = app.until_status(&order.id, OrderStatus::Declined).await;
        assert_eq!(now.status(), OrderStatus::Declined, "{now:?}");
        assert_eq!(now.failure.map(|f| f.code).as_deref(), Some("AUTHENTICATION_FAILED"));
        assert!(app.payjp.webhooks().settled(std::time::Duration::from_secs(10)).await);
        let types: Vec<String> = app.payjp.webhooks().deliveries().into_iter().map(|d| d.event_type).collect();
        assert_eq!(types, ["payment_flow.requires_action", "payment_flow.payment_failed"]);
    }
}

db_test! {
    async fn payjp_notifications_without_the_token_change_nothing(app: TestApp) {
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 4_000, "pm_test_3ds")).await.unwrap();
        assert!(app.payjp.complete_three_d_secure(&order.provider_order_id, true));
        let body = payjp_event("evnt_forged", "payment_flow.amount_capturable_updated", flow_data(&order, "requires_capture"));
        for (case, headers) in [
            ("no token", vec![]),
            ("a wrong token", vec![("X-Payjp-Webhook-Token", "whtok_it_5f1c9a7e3b2d8c41".to_owned())]),
            ("a prefix of the token", vec![("X-Payjp-Webhook-Token", PAYJP_WEBHOOK_TOKEN[..10].to_owned())]),
        ] {
            let answer = post(&app, "payjp", &headers, &body).await;
            assert_eq!(answer.status, 401, "{case}: {}", answer.json);
        }
        assert_eq!(post_payjp(&app, "[]").await.status, 400);
        assert_eq!(stored(&app, &order).await.status(), OrderStatus::RequiresAction);
        assert_eq!(app.count("webhook_events").await, 0);
        let answer = post_payjp(&app, &body).await;
        assert_eq!((answer.status, answer.json["outcome"].as_str()), (200, Some("applied")), "{}", answer.json);
        assert_eq!(stored(&app, &order).await.status(), OrderStatus::Authorized);
    }
}

db_test! {
    async fn payjp_replays_and_late_events_change_nothing(app: TestApp) {
        let order = app.authorize(payjp_authorize(&unique_key("auth"), 4_000, "pm_test_3ds")).await.unwrap();
        let waiting = payjp_event("evnt_waiting", "payment_flow.requires_action", flow_data(&order, "requires_action"));
        assert_eq!(post_payjp(&app, &waiting).await.json["outcome"], "applied");
        // Authorized at PAY.JP behind kessai's back: the replay is not acted on.
        assert!(app.payjp.complete_three_d_secure(&order.provider_order_id, true));
        let replay = post_payjp(&app, &waiting).await;
        assert_eq!((replay.status, replay.json["outcome"].as_str()), (200, Some("duplicate")));
        assert_eq!(stored(&app, &order).await.status(), OrderStatus::RequiresAction);
        let authorized = payjp_event("evnt_authorized", "payment_flow.amount_capturable_updated", flow_data(&order, "requires_capture"));
        assert_eq!(post_payjp(&app, &authorized).await.json["outcome"], "applied");
        app.capture(&order.id, None, false).await.unwrap();
        // Late events of earlier states, under new ids.
        for (id, event_type, status) in [
            ("evnt_late_1", "payment_flow.requires_action", "requires_action"),
            ("evnt_late_2", "payment_flow.amount_capturable_updated", "requires_capture"),
            ("evnt_late_3", "payment_flow.payment_failed", "requires_payment_method"),
        ] {
            let body = payjp_event(id, event_type, flow_data(&order, status));
            assert_eq!(post_payjp(&app, &body).await.status, 200);
        }
        let unknown = payjp_event("evnt_customer", "customer.created", json!({"id": "cus_1"}));
        assert_eq!(post_payjp(&app, &unknown).await.json["outcome"], "ignored");
        let now = stored(&app, &order).await;
        assert_eq!(now.status(), OrderStatus::Captured, "{now:?}");
        assert_eq!((now.amount_captured, now.amount_capturable), (4_000, 0));
    }
}

// ---------------------------------------------------------------------------
// PaymentOptions
// ---------------------------------------------------------------------------

fn card_authorize(amount: i64) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        idempotency_key: unique_key("auth"),
        amount,
        currency: "JPY".into(),
        provider_details: Some(v1::authorize_request::ProviderDetails::Paymentoptions(
            v1::PaymentOptionsDetails {
                card: Some(v1::Card {
                    number: "5200000000001005".into(),
                    cvc: "123".into(),
                    expiry_month: 12,
                    expiry_year: 2040,
                    name: "Taro Tanaka".into(),
                }),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

db_test! {
    async fn a_paymentoptions_notification_naming_no_order_of_kessais_costs_nothing(app: TestApp) {
        // One naming an order: a hint kessai confirms with PaymentOptions
        // (the conformance suite).
        let seen = app.paymentoptions.requests_seen();
        let stranger = json!({"transaction_type": "CAPTURE", "merchant_details": {"merchant_txn_ref": "ord_01JZZZZZZZZZZZZZZZZZZZZZZZ"}, "transaction_details": {"id": "9dfd39ec-eb4a-4f8b-a526-17abf140a717"}}).to_string();
        let answer = post(&app, "paymentoptions", &[], &stranger).await;
        assert_eq!((answer.status, answer.json["outcome"].as_str()), (200, Some("unknown_order")), "{}", answer.json);
        assert_eq!(app.paymentoptions.requests_seen(), seen, "nothing asked");
        assert_eq!(app.count("webhook_events").await, 0, "nothing kept");
        assert_eq!(post(&app, "paymentoptions", &[], "not json").await.status, 400);
    }
}

db_test! {
    async fn the_paymentoptions_simulator_notifies_each_transaction(app: TestApp) {
        app.notify_kessai();
        let order = app.authorize(card_authorize(2_000)).await.unwrap();
        app.capture(&order.id, Some(1_500), false).await.unwrap();
        app.refund(&order.id, Some(500)).await.unwrap();
        assert!(app.paymentoptions.webhooks().settled(std::time::Duration::from_secs(10)).await);
        let sent = app.paymentoptions.webhooks().deliveries();
        let types: Vec<&str> = sent.iter().map(|d| d.event_type.as_str()).collect();
        assert_eq!(types, ["PRE_AUTH", "CAPTURE", "REFUND"]);
        assert!(sent.iter().all(|d| d.last_status == Some(200)), "{sent:?}");
        // The notification shows the card masked, as the status endpoint does.
        assert!(sent.iter().all(|d| !String::from_utf8_lossy(&d.body).contains("5200000000001005")));
        let now = stored(&app, &order).await;
        assert_eq!((now.status(), now.amount_captured, now.amount_refunded), (OrderStatus::Captured, 1_500, 500));
    }
}

db_test! {
    async fn the_clock_decides_staleness(app: TestApp) {
        // kessai's clock, not the wall clock, judges the timestamp: tests
        // (and the simulators) move it.
        let (order, session) = waiting_checkout(&app, 3_000).await;
        assert!(app.smartpay.approve_checkout(&session));
        let body = smartpay_event("evt_test_clock", "order.authorized", smartpay_order_data(&order, "requires_capture"));
        let headers = smartpay_headers(&body, now_ms(&app), SMARTPAY_WEBHOOK_KEY_HEX);
        app.clock.advance(Duration::minutes(10));
        assert_eq!(post(&app, "smartpay", &headers, &body).await.status, 401);
        let headers = smartpay_headers(&body, now_ms(&app), SMARTPAY_WEBHOOK_KEY_HEX);
        assert_eq!(post(&app, "smartpay", &headers, &body).await.status, 200);
        assert_eq!(stored(&app, &order).await.status(), OrderStatus::Authorized);
    }
}

db_test! {
    async fn event_ids_are_remembered_for_thirty_days(app: TestApp) {
        let body = smartpay_event("evt_test_kept", "customer.updated", json!({"id": "customer_test_1"}));
        assert_eq!(post_smartpay(&app, &body).await.json["outcome"], "ignored");
        app.clock.advance(Duration::days(29));
        assert_eq!(app.reconcile().await.webhook_events_reaped, 0);
        assert_eq!(post_smartpay(&app, &body).await.json["outcome"], "duplicate");
        app.clock.advance(Duration::days(2));
        assert_eq!(app.reconcile().await.webhook_events_reaped, 1);
        assert_eq!(app.count("webhook_events").await, 0);
    }
}

db_test! {
    async fn a_notification_kessai_cannot_confirm_now_is_refused_and_applied_on_redelivery(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        app.notify_kessai();
        let (order, session) = waiting_checkout(&app, 3_000).await;
        // Smartpay's API fails both attempts of kessai's look-up.
        let outage = FaultKind::Status { status: 503, body: json!({}) };
        app.smartpay.faults().inject(Fault::new("GET", "/v1/orders/", outage).times(2));
        assert!(app.smartpay.approve_checkout(&session));
        assert!(app.smartpay.webhooks().settled(std::time::Duration::from_secs(10)).await);
        let sent = app.smartpay.webhooks().deliveries();
        let authorized = sent.iter().find(|d| d.event_type == "order.authorized").unwrap();
        // 503 first (recorded, not applied), then the retry is applied.
        assert_eq!((authorized.attempts, authorized.last_status), (2, Some(200)), "{authorized:?}");
        assert_eq!(stored(&app, &order).await.status(), OrderStatus::Authorized);
        assert_eq!(app.count("webhook_events").await, 1);
    }
}
