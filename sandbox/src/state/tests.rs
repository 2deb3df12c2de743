//! A sandbox started again on its state file answers as before the stop:
//! each simulator's payment taken before is captured and refunded after.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use kessai_clock::ManualClock;
use serde_json::{Value, json};

use super::FORMAT;
use crate::testing::{Answer, authorized, send, start};
use crate::{
    PAYJP_SANDBOX_SECRET_KEY, PAYMENTOPTIONS_SANDBOX_API_KEY, PAYMENTOPTIONS_SANDBOX_MERCHANT_ID,
    SMARTPAY_SANDBOX_SECRET_KEY, Sandbox, SandboxOptions,
};

const APPROVED_CARD: &str = "5200000000001005";
const PO: &str = "/api/v1/server-to-server-interface";
const PO_AUTHORIZATION: &str =
    include_str!("../../../tests/fixtures/paymentoptions/authorization.request.json");

/// A state file in a directory of its own, removed when dropped.
struct StateDir(PathBuf);

impl StateDir {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("kessai-sandbox-state-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        Self(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("sandbox.json")
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A state file and a clock, to start sandboxes on again and again.
struct Restartable {
    dir: StateDir,
    clock: ManualClock,
}

impl Restartable {
    fn new() -> Self {
        Self {
            dir: StateDir::new(),
            clock: ManualClock::new(start()),
        }
    }

    async fn start(&self) -> Sandbox {
        sandbox(&self.dir.file(), &self.clock).await
    }
}

/// The id at `pointer` in an answer that must have `status`.
fn id_at(answer: &Answer, status: StatusCode, pointer: &str) -> String {
    let id = ok(answer, status).pointer(pointer).and_then(Value::as_str);
    id.expect("an id").to_owned()
}

async fn sandbox(path: &Path, clock: &ManualClock) -> Sandbox {
    let options = SandboxOptions {
        state: Some(path.to_owned()),
    };
    Sandbox::start_with(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(clock.clone()),
        options,
    )
    .await
    .expect("the sandbox starts")
}

async fn call(app: &Router, auth: &str, method: &str, path: &str, body: Value) -> Answer {
    call_with(app, auth, method, path, body, &[]).await
}

async fn call_with(
    app: &Router,
    auth: &str,
    method: &str,
    path: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> Answer {
    send(app, authorized(auth, method, path, headers, Some(&body))).await
}

fn ok(answer: &Answer, status: StatusCode) -> &Value {
    assert_eq!(answer.status, status, "{}", answer.json);
    &answer.json
}

fn payjp_auth() -> String {
    format!("Bearer {PAYJP_SANDBOX_SECRET_KEY}")
}

async fn payjp_authorize(app: &Router) -> Answer {
    let body = json!({
        "amount": 10_000, "capture_method": "manual", "confirm": true,
        "customer_id": crate::payjp::SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_approve",
    });
    let key = [("Idempotency-Key", "order-1001-authorize")];
    call_with(app, &payjp_auth(), "POST", "/v2/payment_flows", body, &key).await
}

#[tokio::test]
async fn a_payjp_flow_authorized_before_a_restart_is_captured_and_refunded_after() {
    let sandboxes = Restartable::new();
    let first = sandboxes.start().await;
    let authorized = payjp_authorize(&first.payjp.router()).await;
    let id = id_at(&authorized, StatusCode::OK, "/id");
    first.stop().await;

    let again = sandboxes.start().await;
    let app = again.payjp.router();
    // The answer kept for the key is replayed byte for byte, not acted on.
    let replay = payjp_authorize(&app).await;
    assert_eq!(replay.bytes, authorized.bytes);
    let capture = format!("/v2/payment_flows/{id}/capture");
    let captured = call(
        &app,
        &payjp_auth(),
        "POST",
        &capture,
        json!({"amount_to_capture": 6000}),
    )
    .await;
    assert_eq!(ok(&captured, StatusCode::OK)["amount_received"], 6000);
    let refund = json!({"payment_flow_id": id, "amount": 1000});
    let refunded = call(&app, &payjp_auth(), "POST", "/v2/payment_refunds", refund).await;
    ok(&refunded, StatusCode::OK);
    let ledger = again.payjp.ledger();
    assert_eq!(ledger.flows.len(), 1, "{ledger:?}");
    assert_eq!(
        (ledger.flows[0].captured, ledger.flows[0].refunded),
        (6000, 1000)
    );
    again.stop().await;
}

#[tokio::test]
async fn a_smartpay_order_authorized_before_a_restart_is_captured_and_refunded_after() {
    let auth = format!("Basic {SMARTPAY_SANDBOX_SECRET_KEY}");
    let sandboxes = Restartable::new();
    let first = sandboxes.start().await;
    let order = json!({
        "token": "paytok_test_approved", "amount": 5000, "currency": "JPY", "captureMethod": "manual",
        "items": [{"name": "Tea", "amount": 5000, "quantity": 1}], "reference": "order-77",
        "customerInfo": {"emailAddress": "shopper@example.jp"},
        "shippingInfo": {"address": {"line1": "1-2-3", "locality": "渋谷区", "postalCode": "150-0002", "country": "JP"}}
    });
    let created = call(&first.smartpay.router(), &auth, "POST", "/v1/orders", order).await;
    let id = id_at(&created, StatusCode::OK, "/id");
    first.stop().await;

    let again = sandboxes.start().await;
    let app = again.smartpay.router();
    let capture =
        json!({"order": id, "amount": 3000, "currency": "JPY", "cancelRemainder": "manual"});
    let payment = call(&app, &auth, "POST", "/v1/payments", capture).await;
    let payment_id = id_at(&payment, StatusCode::OK, "/id");
    let refund = json!({"payment": payment_id, "amount": 1000, "currency": "JPY", "reason": "requested_by_customer"});
    let refunded = call(&app, &auth, "POST", "/v1/refunds", refund).await;
    ok(&refunded, StatusCode::OK);
    let ledger = again.smartpay.ledger();
    assert_eq!(ledger.orders.len(), 1, "{ledger:?}");
    assert_eq!(
        (ledger.orders[0].captured, ledger.orders[0].refunded),
        (3000, 1000)
    );
    again.stop().await;
}

async fn po_post(app: &Router, operation: &str, mut body: Value) -> Answer {
    body["merchant_id"] = json!(PAYMENTOPTIONS_SANDBOX_MERCHANT_ID);
    let auth = format!("Basic {PAYMENTOPTIONS_SANDBOX_API_KEY}");
    let api_key = [("x-api-key", PAYMENTOPTIONS_SANDBOX_API_KEY)];
    let path = format!("{PO}/{operation}");
    call_with(app, &auth, "POST", &path, body, &api_key).await
}

/// An approved PRE_AUTH's transaction id.
async fn po_pre_auth(app: &Router, amount: i64) -> String {
    let mut body: Value = serde_json::from_str(PO_AUTHORIZATION).expect("fixture JSON");
    body["amount"] = json!(amount);
    body["card"]["expiry_year"] = json!("30");
    let answer = po_post(app, "authorization", body).await;
    let id = &ok(&answer, StatusCode::CREATED)["transaction_details"]["id"];
    id.as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn a_paymentoptions_pre_auth_before_a_restart_is_captured_and_refunded_after_with_no_card_number_kept()
 {
    let sandboxes = Restartable::new();
    let first = sandboxes.start().await;
    let id = po_pre_auth(&first.paymentoptions.router(), 4000).await;
    first.stop().await;
    let kept = std::fs::read_to_string(sandboxes.dir.file()).expect("the state file");
    assert!(kept.contains(&id), "{kept}");
    assert!(
        !kept.contains(APPROVED_CARD),
        "the whole card number is never kept: {kept}"
    );

    let again = sandboxes.start().await;
    let app = again.paymentoptions.router();
    let captured = po_post(
        &app,
        "capture",
        json!({"transactionId": id, "amount": 4000}),
    )
    .await;
    let capture = ok(&captured, StatusCode::CREATED);
    assert_eq!(
        capture["payment_details"]["card"]["number"],
        "520000******1005"
    );
    assert_eq!(capture["payment_details"]["scheme"], "MASTERCARD");
    let capture_id = capture["transaction_details"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refund = json!({"transactionId": capture_id, "amount": 1500});
    ok(&po_post(&app, "refund", refund).await, StatusCode::CREATED);
    let ledger = again.paymentoptions.ledger();
    let kept = &ledger.authorizations[0];
    assert_eq!(
        (kept.captured, kept.refunded, kept.card_last4.as_str()),
        (4000, 1500, "1005")
    );
    again.stop().await;
}

#[tokio::test]
async fn a_change_is_saved_in_the_background_without_a_stop() {
    let sandboxes = Restartable::new();
    let first = sandboxes.start().await;
    let authorized = payjp_authorize(&first.payjp.router()).await;
    let id = id_at(&authorized, StatusCode::OK, "/id");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(sandboxes.dir.file()).is_ok_and(|kept| kept.contains(&id)) {
        assert!(Instant::now() < deadline, "not saved within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // As if the process were killed: no final save.
    drop(first);

    let again = sandboxes.start().await;
    assert_eq!(again.payjp.ledger().flows[0].id, id);
    let leftovers: Vec<_> = std::fs::read_dir(&sandboxes.dir.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["sandbox.json"],
        "no temporary file is left behind"
    );
    again.stop().await;
}

#[tokio::test]
async fn an_unusable_state_file_starts_the_simulators_empty_and_is_replaced() {
    let unusable = [
        b"{\"format\": 1, \"payjp\": {\"flows\": [tru".to_vec(),
        json!({"format": FORMAT - 1, "payjp": {}})
            .to_string()
            .into_bytes(),
        json!({"format": FORMAT, "payjp": {"flows": "many"}})
            .to_string()
            .into_bytes(),
        vec![0xff, 0xfe, 0x00],
    ];
    for bytes in unusable {
        let sandboxes = Restartable::new();
        std::fs::write(sandboxes.dir.file(), &bytes).unwrap();
        let started = sandboxes.start().await;
        assert!(started.payjp.ledger().flows.is_empty());
        assert!(started.paymentoptions.ledger().authorizations.is_empty());
        payjp_authorize(&started.payjp.router()).await;
        started.stop().await;
        let again = sandboxes.start().await;
        assert_eq!(again.payjp.ledger().flows.len(), 1, "the file was replaced");
        again.stop().await;
    }
}

#[tokio::test]
async fn books_that_do_not_hold_together_start_the_simulators_empty() {
    let sandboxes = Restartable::new();
    let first = sandboxes.start().await;
    po_pre_auth(&first.paymentoptions.router(), 4000).await;
    first.stop().await;
    // The transaction now stems from an authorization that is not there.
    let mut kept: Value =
        serde_json::from_slice(&std::fs::read(sandboxes.dir.file()).unwrap()).unwrap();
    kept["paymentoptions"]["authorizations"] = json!([]);
    std::fs::write(sandboxes.dir.file(), kept.to_string()).unwrap();

    let again = sandboxes.start().await;
    assert!(again.paymentoptions.ledger().authorizations.is_empty());
    again.stop().await;
}
