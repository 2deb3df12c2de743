//! The PAY.JP simulator's tests, through its router.

mod capture;
mod requests;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use chrono::{DateTime, Duration, Utc};
use kessai_clock::ManualClock;
use serde_json::{Value, json};

use super::*;
use crate::testing::{Answer, authorized, fixture, keys, send, start};

const KEY: &str = "sk_test_simulator";
const BASE: &str = "http://sim.test/payjp";
const FLOW_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/payjp/payment_flow.confirmed.requires_capture.json");
const REFUND_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/payjp/payment_refund.succeeded.json");
const INVALID_STATUS_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/payjp/error.400.invalid_status.json");
const VALIDATION_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/payjp/error.422.validation_error.json");

struct Sim {
    sim: PayjpSimulator,
    clock: ManualClock,
    app: Router,
}

fn sim() -> Sim {
    let clock = ManualClock::new(start());
    let sim = PayjpSimulator::new(Arc::new(clock.clone()), BASE.to_owned(), KEY);
    let app = sim.router();
    Sim { sim, clock, app }
}

impl Sim {
    async fn send(&self, request: HttpRequest<Body>) -> Answer {
        send(&self.app, request).await
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_with(method, path, body, &[]).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let bearer = format!("Bearer {KEY}");
        let request = authorized(&bearer, method, path, headers, body.as_ref());
        self.send(request).await
    }

    async fn create(&self, body: Value) -> Answer {
        self.call("POST", "/v2/payment_flows", Some(body)).await
    }

    /// A manual-capture flow authorized with `method`.
    async fn authorized(&self, amount: i64, method: &str) -> String {
        let answer = self
            .create(json!({
                "amount": amount,
                "capture_method": "manual",
                "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": method,
                "confirm": true,
                "metadata": {"order_id": "1001"}
            }))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        answer.json["id"].as_str().expect("an id").to_owned()
    }

    async fn capture(&self, id: &str, body: Option<Value>) -> Answer {
        self.call("POST", &format!("/v2/payment_flows/{id}/capture"), body)
            .await
    }

    async fn get(&self, id: &str) -> Value {
        self.call("GET", &format!("/v2/payment_flows/{id}"), None)
            .await
            .json
    }
}

fn fixture_keys(text: &str) -> BTreeSet<String> {
    keys(&fixture(text))
}

fn at(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .expect("an RFC 3339 timestamp")
}

fn assert_problem(answer: &Answer, status: StatusCode, code: &str, instance: &str) {
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.content_type, PROBLEM_JSON);
    assert_eq!(answer.json["status"], status.as_u16());
    // The SDK's ErrorResponse: no `code`; the problem is named by `type`.
    assert!(answer.json.get("code").is_none(), "{}", answer.json);
    assert_eq!(
        answer.json["type"],
        format!("{TYPE_PREFIX}{}", code.replace('_', "-")),
        "{}",
        answer.json
    );
    assert_eq!(answer.json["instance"], instance);
    assert!(answer.json["title"].is_string() && answer.json["type"].is_string());
    assert!(answer.json["detail"].is_string());
}

#[tokio::test]
async fn approve_authorizes_for_seven_days_with_the_fixture_shape() {
    let s = sim();
    let id = s.authorized(10_000, "pm_test_approve").await;
    let flow = s.get(&id).await;
    assert_eq!(flow["status"], "requires_capture");
    assert_eq!(flow["amount_capturable"], 10_000);
    assert_eq!(flow["amount_received"], 0);
    assert_eq!(flow["livemode"], false);
    assert_eq!(at(&flow["expired_at"]) - start(), Duration::days(7));
    assert_eq!(flow["created_at"], "2025-06-02T03:15:42Z");
    let mut expected = fixture_keys(FLOW_FIXTURE);
    expected.insert("redirect_options".to_owned());
    assert_eq!(keys(&flow), expected);
    let hex24 = |s: &str| {
        s.len() == 24
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    assert!(id.strip_prefix("pfw_").is_some_and(hex24), "{id}");
    let secret = flow["client_secret"].as_str().unwrap_or_default();
    let tail = secret
        .strip_prefix(&format!("{id}_secret_"))
        .unwrap_or_default();
    assert_eq!(tail.len(), 32, "{secret}");
    let ledger = s.sim.ledger();
    assert_eq!(ledger.flows.len(), 1);
    assert_eq!(ledger.flows[0].authorized, 10_000);
    assert_eq!(ledger.flows[0].metadata["order_id"], "1001");
}

#[tokio::test]
async fn a_flow_waits_for_a_method_or_a_confirmation_then_confirms() {
    let s = sim();
    let bare = s.create(json!({"amount": 1000})).await;
    assert_eq!(bare.status, StatusCode::OK);
    assert_eq!(bare.json["status"], "requires_payment_method");
    assert_eq!(bare.json["capture_method"], "automatic");
    assert_eq!(bare.json["currency"], "jpy");
    assert_eq!(bare.json["payment_method_types"], json!(["card"]));
    assert!(bare.json["expired_at"].is_null() && bare.json["payment_method_id"].is_null());

    let with_method = s
        .create(json!({"amount": 1000, "capture_method": "manual", "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_approve"}))
        .await;
    assert_eq!(with_method.json["status"], "requires_confirmation");
    let id = with_method.json["id"].as_str().unwrap_or_default();
    let confirmed = s
        .call("POST", &format!("/v2/payment_flows/{id}/confirm"), None)
        .await;
    assert_eq!(confirmed.status, StatusCode::OK);
    assert_eq!(confirmed.json["status"], "requires_capture");
}

#[tokio::test]
async fn automatic_capture_succeeds_at_once() {
    let s = sim();
    let answer = s
        .create(
            json!({"amount": 3000, "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_approve", "confirm": true}),
        )
        .await;
    assert_eq!(answer.json["status"], "succeeded");
    assert_eq!(answer.json["amount_received"], 3000);
    assert_eq!(answer.json["amount_capturable"], 0);
    assert_eq!(s.sim.ledger().flows[0].captured, 3000);
}

#[tokio::test]
async fn paypay_authorizes_for_thirty_days() {
    let s = sim();
    let id = s.authorized(5000, "pm_test_paypay").await;
    let flow = s.get(&id).await;
    assert_eq!(flow["status"], "requires_capture");
    assert_eq!(flow["payment_method_types"], json!(["paypay"]));
    assert_eq!(at(&flow["expired_at"]) - start(), Duration::days(30));
}

#[tokio::test]
async fn an_extended_card_authorization_lasts_thirty_days() {
    let s = sim();
    let answer = s
        .create(json!({
            "amount": 5000, "capture_method": "manual", "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_approve",
            "confirm": true,
            "payment_method_options": {"card": {"request_extended_authorization": "if_available"}}
        }))
        .await;
    assert_eq!(at(&answer.json["expired_at"]) - start(), Duration::days(30));
}

#[tokio::test]
async fn a_decline_is_a_402_and_the_flow_waits_for_another_method() {
    let s = sim();
    let created = s
        .create(
            json!({"amount": 5000, "capture_method": "manual", "customer_id": SANDBOX_CUSTOMER_ID}),
        )
        .await;
    let id = created.json["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/v2/payment_flows/{id}/confirm");
    let declined = s
        .call(
            "POST",
            &path,
            Some(json!({"payment_method_id": "pm_test_decline"})),
        )
        .await;
    assert_problem(
        &declined,
        StatusCode::PAYMENT_REQUIRED,
        "payment_failed",
        &path,
    );
    let flow = s.get(&id).await;
    assert_eq!(flow["status"], "requires_payment_method");
    assert_eq!(flow["last_payment_error"]["code"], "card_declined");
    assert!(flow["last_payment_error"]["message"].is_string());
    assert_eq!(s.sim.ledger().flows[0].authorized, 0);

    let retried = s
        .call(
            "POST",
            &path,
            Some(json!({"payment_method_id": "pm_test_approve"})),
        )
        .await;
    assert_eq!(retried.json["status"], "requires_capture");
    assert!(retried.json["last_payment_error"].is_null());
}

#[tokio::test]
async fn three_d_secure_waits_for_the_shopper_then_authorizes() {
    let s = sim();
    let answer = s
        .create(json!({
            "amount": 8000, "capture_method": "manual", "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_3ds",
            "confirm": true, "return_url": "https://shop.example.com/back"
        }))
        .await;
    assert_eq!(answer.json["status"], "requires_action");
    let id = answer.json["id"].as_str().unwrap_or_default().to_owned();
    let action = &answer.json["next_action"];
    assert_eq!(action["type"], "redirect_to_url");
    assert_eq!(
        action["redirect_to_url"]["url"],
        format!("{BASE}/_sandbox/3ds/{id}")
    );
    assert_eq!(
        action["redirect_to_url"]["return_url"],
        "https://shop.example.com/back"
    );

    let page = s.call("GET", &format!("/_sandbox/3ds/{id}"), None).await;
    let html = String::from_utf8_lossy(&page.bytes);
    assert_eq!(page.status, StatusCode::OK);
    assert!(html.contains(&format!("./{id}/complete")) && html.contains(&format!("./{id}/fail")));

    let done = s
        .call("POST", &format!("/_sandbox/3ds/{id}/complete"), None)
        .await;
    assert_eq!(done.status, StatusCode::OK);
    let flow = s.get(&id).await;
    assert_eq!(flow["status"], "requires_capture");
    assert!(flow["next_action"].is_null());
    assert_eq!(at(&flow["expired_at"]) - start(), Duration::days(7));
    assert!(
        !s.sim.complete_three_d_secure(&id, true),
        "not waiting any more"
    );
    assert!(!s.sim.complete_three_d_secure("pfw_nope", true));
}

#[tokio::test]
async fn a_failed_three_d_secure_sends_the_flow_back() {
    let s = sim();
    let answer = s
        .create(json!({"amount": 8000, "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_3ds", "confirm": true}))
        .await;
    let id = answer.json["id"].as_str().unwrap_or_default().to_owned();
    let failed = s
        .call("POST", &format!("/_sandbox/3ds/{id}/fail"), None)
        .await;
    assert_eq!(failed.status, StatusCode::OK);
    let page = String::from_utf8_lossy(&failed.bytes);
    assert!(page.contains("Authentication failed"), "{page}");
    // What the SDK's model allows: no failed status, the attempt's error in
    // `last_payment_error`, nothing left for the shopper to do.
    let flow = s.get(&id).await;
    assert_eq!(flow["status"], "requires_payment_method");
    assert_eq!(flow["last_payment_error"]["code"], "three_d_secure_failed");
    assert!(flow["last_payment_error"]["message"].is_string());
    assert!(flow["next_action"].is_null() && flow["payment_method_id"].is_null());
    assert_eq!(s.sim.ledger().flows[0].authorized, 0);
    assert!(
        !s.sim.complete_three_d_secure(&id, false),
        "not waiting any more"
    );
}
