//! The Smartpay simulator's tests, through its router.

mod orders;
mod requests;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use chrono::{DateTime, Duration, Utc};
use kessai_clock::ManualClock;
use serde_json::{Value, json};

use super::ID_LENGTH;
use super::*;
use crate::testing::{Answer, authorized, fixture, keys, request, send, start};

const KEY: &str = "sk_test_smartpaySimulator";
const BASE: &str = "http://sim.test/smartpay";
const SESSION_REQUEST: &str =
    include_str!("../../../../tests/fixtures/smartpay/checkout_session.create.request.json");
const SESSION_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/smartpay/checkout_session.created.json");
const ORDER_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/smartpay/order.requires_capture.json");
const ORDER_AUTHORIZATION_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/smartpay/order.requires_authorization.json");
const PAYMENT_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/smartpay/payment.processed.json");
const PARTIAL_CAPTURE_REQUEST: &str =
    include_str!("../../../../tests/fixtures/smartpay/payment.create.request.partial_manual.json");
const REFUND_REQUEST: &str =
    include_str!("../../../../tests/fixtures/smartpay/refund.create.request.json");
const REFUND_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/smartpay/refund.succeeded.json");
const UNAUTHORIZED_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/smartpay/error.401.json");
const CANNOT_CAPTURE_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/smartpay/error.409.order.cannot-capture.json");
const EXCESSIVE_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/smartpay/error.409.payment.excessive-amount.json");
const CANNOT_CANCEL_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/smartpay/error.409.order.cannot-cancel.json");
const INSUFFICIENT_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/smartpay/error.403.amount.insufficient.json");
const ORDER_NOT_FOUND_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/smartpay/error.404.order.not-found.json");

struct Sim {
    sim: SmartpaySimulator,
    clock: ManualClock,
    app: Router,
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn sim() -> Sim {
    let clock = ManualClock::new(start());
    let sim = SmartpaySimulator::new(Arc::new(clock.clone()), format!("{BASE}/"), KEY);
    let app = sim.router();
    Sim { sim, clock, app }
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

fn is_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix("_test_"))
        .is_some_and(|tail| {
            tail.len() == ID_LENGTH && tail.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.json["statusCode"], status.as_u16());
    assert_eq!(answer.json["errorCode"], code, "{}", answer.json);
    assert!(answer.json["message"].is_string());
    assert!(answer.json["details"].is_array());
}

impl Sim {
    async fn send(&self, request: HttpRequest<Body>) -> Answer {
        send(&self.app, request).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let basic = format!("Basic {KEY}");
        let request = authorized(&basic, method, path, headers, body.as_ref());
        self.send(request).await
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_with(method, path, body, &[]).await
    }

    /// Unauthenticated, like a shopper's browser.
    async fn browse(&self, method: &str, path: &str) -> Answer {
        self.send(request(method, path, &[], None)).await
    }

    async fn checkout(&self, amount: i64, capture_method: &str) -> Answer {
        let mut body = fixture(SESSION_REQUEST);
        body["amount"] = json!(amount);
        body["captureMethod"] = json!(capture_method);
        let answer = self.call("POST", "/v1/checkout-sessions", Some(body)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        answer
    }

    /// A manual-capture order the shopper approved.
    async fn authorized(&self, amount: i64) -> String {
        let session = self.checkout(amount, "manual").await;
        assert!(self.sim.approve_checkout(&id_of(&session.json)));
        id_of(&session.json["order"])
    }

    async fn order(&self, id: &str) -> Value {
        let answer = self.call("GET", &format!("/v1/orders/{id}"), None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        answer.json
    }

    async fn capture(&self, order: &str, amount: i64, remainder: &str) -> Answer {
        self.call(
            "POST",
            "/v1/payments",
            Some(json!({"order": order, "amount": amount, "currency": "JPY", "cancelRemainder": remainder})),
        )
        .await
    }

    async fn cancel(&self, order: &str) -> Answer {
        self.call("PUT", &format!("/v1/orders/{order}/cancellation"), None)
            .await
    }

    async fn refund(&self, payment: &str, amount: i64) -> Answer {
        let mut body = fixture(REFUND_REQUEST);
        body["payment"] = json!(payment);
        body["amount"] = json!(amount);
        self.call("POST", "/v1/refunds", Some(body)).await
    }

    async fn token_order(&self, token: &str, capture_method: &str) -> Answer {
        self.call(
            "POST",
            "/v1/orders",
            Some(json!({
                "token": token, "amount": 5000, "currency": "JPY", "captureMethod": capture_method,
                "items": [{"name": "Tea", "amount": 5000, "quantity": 1}], "reference": "order-77",
                "customerInfo": {"emailAddress": "shopper@example.jp"},
                "shippingInfo": {"address": {"line1": "1-2-3", "locality": "渋谷区", "postalCode": "150-0002", "country": "JP"}}
            })),
        )
        .await
    }
}

#[tokio::test]
async fn a_checkout_session_has_the_fixture_shape_and_a_sandbox_url() {
    let s = sim();
    let answer = s.checkout(350, "manual").await;
    let session = &answer.json;
    assert_eq!(keys(session), keys(&fixture(SESSION_FIXTURE)));
    let session_id = id_of(session);
    assert!(is_id(&session_id, "checkout"), "{session_id}");
    assert_eq!(session["object"], "checkoutSession");
    assert_eq!(
        session["url"],
        format!("{BASE}/_sandbox/checkout/{session_id}")
    );
    assert_eq!(session["reference"], "order_ref_1234567");
    assert_eq!(session["createdAt"], ms(start()));
    assert_eq!(session["test"], true);
    let order = &session["order"];
    assert_eq!(keys(order), keys(&fixture(SESSION_FIXTURE)["order"]));
    assert!(is_id(&id_of(order), "order"));
    assert_eq!(order["status"], "requires_authorization");
    assert_eq!(order["amount"], 350, "the order amount, not the items' sum");
    let line_item = &order["lineItems"][0];
    assert_eq!(
        keys(line_item),
        keys(&fixture(SESSION_FIXTURE)["order"]["lineItems"][0])
    );
    assert!(is_id(&id_of(line_item), "li"));
    assert_eq!(
        line_item["price"]["product"]["name"],
        "オリジナルス STAN SMITH"
    );
    assert_eq!(line_item["price"]["amount"], 250);
}

#[tokio::test]
async fn an_order_awaiting_the_shopper_has_no_expires_at() {
    let s = sim();
    let answer = s.checkout(2100, "manual").await;
    let order = s.order(&id_of(&answer.json["order"])).await;
    assert_eq!(keys(&order), keys(&fixture(ORDER_AUTHORIZATION_FIXTURE)));
    assert_eq!(order["status"], "requires_authorization");
    assert_eq!(order["payments"], json!([]));
    assert!(is_id(
        order["lineItems"][0].as_str().unwrap_or_default(),
        "li"
    ));
    let expanded = s
        .call(
            "GET",
            &format!("/v1/orders/{}?expand=all", id_of(&order)),
            None,
        )
        .await;
    assert_eq!(expanded.json, order, "expand is ignored");
}

#[tokio::test]
async fn approving_the_checkout_authorizes_for_seven_days() {
    let s = sim();
    let answer = s.checkout(2100, "manual").await;
    let session_id = id_of(&answer.json);
    s.clock.advance(Duration::minutes(3));
    assert!(s.sim.approve_checkout(&session_id));
    let order = s.order(&id_of(&answer.json["order"])).await;
    assert_eq!(keys(&order), keys(&fixture(ORDER_FIXTURE)));
    assert_eq!(order["status"], "requires_capture");
    let approved_at = ms(start() + Duration::minutes(3));
    assert_eq!(order["updatedAt"], approved_at);
    assert_eq!(
        order["expiresAt"],
        approved_at + Duration::days(7).num_milliseconds()
    );
    assert_eq!(order["payments"], json!([]));
    assert!(!s.sim.approve_checkout(&session_id), "no longer awaiting");
    assert!(!s.sim.reject_checkout(&session_id));
    assert!(!s.sim.approve_checkout("checkout_test_nope"));
    let ledger = s.sim.ledger();
    assert_eq!(ledger.orders[0].authorized, 2100);
    assert_eq!(
        ledger.orders[0].reference.as_deref(),
        Some("order_ref_1234567")
    );
}

#[tokio::test]
async fn rejecting_the_checkout_rejects_the_order() {
    let s = sim();
    let answer = s.checkout(2100, "manual").await;
    assert!(s.sim.reject_checkout(&id_of(&answer.json)));
    let order = s.order(&id_of(&answer.json["order"])).await;
    assert_eq!(order["status"], "rejected");
    assert!(order.get("expiresAt").is_none());
    assert_eq!(s.sim.ledger().orders[0].authorized, 0);
    assert!(!s.sim.approve_checkout(&id_of(&answer.json)));
}

#[tokio::test]
async fn automatic_capture_takes_the_whole_amount_on_approval() {
    let s = sim();
    let answer = s.checkout(3000, "automatic").await;
    assert!(s.sim.approve_checkout(&id_of(&answer.json)));
    let order = s.order(&id_of(&answer.json["order"])).await;
    assert_eq!(order["status"], "succeeded");
    let payment_id = order["payments"][0].as_str().unwrap_or_default();
    let payment = s
        .call("GET", &format!("/v1/payments/{payment_id}"), None)
        .await;
    assert_eq!(payment.json["amount"], 3000);
    assert_eq!(payment.json["status"], "processed");
    assert_eq!(payment.json["order"], id_of(&order));
    assert_eq!(s.sim.ledger().orders[0].captured, 3000);
}

#[tokio::test]
async fn the_checkout_page_offers_both_buttons_and_they_work() {
    let s = sim();
    let answer = s.checkout(2100, "manual").await;
    let session_id = id_of(&answer.json);
    let page = s
        .browse("GET", &format!("/_sandbox/checkout/{session_id}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.bytes);
    assert!(
        html.contains(&format!("action=\"./{session_id}/approve\"")),
        "{html}"
    );
    assert!(
        html.contains(&format!("action=\"./{session_id}/reject\"")),
        "{html}"
    );

    let approved = s
        .browse("POST", &format!("/_sandbox/checkout/{session_id}/approve"))
        .await;
    assert_eq!(approved.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&approved.bytes).contains("requires_capture"));
    assert_eq!(
        s.order(&id_of(&answer.json["order"])).await["status"],
        "requires_capture"
    );
    let again = s
        .browse("POST", &format!("/_sandbox/checkout/{session_id}/reject"))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let unknown = s
        .browse("GET", "/_sandbox/checkout/checkout_test_nope")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        s.sim.requests_seen(),
        2,
        "the shopper's pages are not counted"
    );
}

#[tokio::test]
async fn an_approved_token_authorizes_at_once() {
    let s = sim();
    let manual = s.token_order(TOKEN_APPROVED, "manual").await;
    assert_eq!(manual.status, StatusCode::OK, "{}", manual.json);
    assert_eq!(manual.json["status"], "requires_capture");
    assert_eq!(
        manual.json["expiresAt"],
        ms(start()) + Duration::days(7).num_milliseconds()
    );
    assert_eq!(manual.json["reference"], "order-77");
    let automatic = s.token_order(TOKEN_APPROVED, "automatic").await;
    assert_eq!(automatic.json["status"], "succeeded");
    assert_eq!(automatic.json["payments"].as_array().map(Vec::len), Some(1));
    let ledger = s.sim.ledger();
    assert_eq!(ledger.orders[0].reference.as_deref(), Some("order-77"));
    assert_eq!(ledger.orders[1].captured, 5000);
}

#[tokio::test]
async fn a_rejected_token_creates_a_rejected_order_and_an_unknown_one_is_404() {
    let s = sim();
    let rejected = s.token_order(TOKEN_REJECTED, "manual").await;
    assert_eq!(rejected.status, StatusCode::OK);
    assert_eq!(rejected.json["status"], "rejected");
    assert_eq!(s.order(&id_of(&rejected.json)).await["status"], "rejected");
    let unknown = s.token_order("paytok_test_other", "manual").await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "token.not-found");
    assert_eq!(s.sim.ledger().orders.len(), 1);
}
