//! Contract tests against the official PAY.JP v2 SDK (`payjpv2`, pinned in
//! `tests/contract/requirements.txt`): every request kessai sends to PAY.JP,
//! every answer the simulator gives and every webhook it sends must validate
//! strictly against the SDK's models (`tests/contract/payjp_check.py`), and
//! the SDK's own client must be able to drive the simulator
//! (`tests/contract/payjp_sdk_drive.py`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Duration;
use kessai::clock::ManualClock;
use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use kessai::sandbox::faults::{Fault, FaultKind};
use kessai::sandbox::payjp::SANDBOX_CUSTOMER_ID;
use kessai::sandbox::{PAYJP_SANDBOX_SECRET_KEY, Sandbox};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Backend, TestApp, assert_error, payjp_authorize, unique_key};
use crate::tools::contract_python;

fn contract_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/contract")
}

/// A fresh directory for this test's files.
fn work_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kessai-{name}-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Runs a contract script with the pinned SDK; (exit code, stdout + stderr).
async fn python(script: &str, args: Vec<String>) -> (i32, String) {
    let script = contract_dir().join(script);
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(contract_python())
            .arg(&script)
            .args(&args)
            .output()
            .expect("the contract Python runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), text)
    })
    .await
    .expect("the checker's thread")
}

/// The checker's verdict on the sandbox's exchanges and `webhooks` (written
/// to `dir`), with the checker's `extra` arguments.
async fn check(
    dir: &Path,
    sandbox: &Sandbox,
    webhooks: &[Vec<u8>],
    extra: &[&str],
) -> (i32, String) {
    let exchanges = dir.join("exchanges.jsonl");
    let count = sandbox
        .received()
        .write_exchanges(&exchanges)
        .expect("write the exchanges");
    assert!(count > 0, "no exchange was recorded");
    let events = dir.join("webhooks.jsonl");
    let mut lines = Vec::new();
    for body in webhooks {
        lines.extend_from_slice(body);
        lines.push(b'\n');
    }
    std::fs::write(&events, lines).expect("write the webhooks");
    python(
        "payjp_check.py",
        [
            exchanges.display().to_string(),
            "--webhooks".into(),
            events.display().to_string(),
        ]
        .into_iter()
        .chain(extra.iter().map(|a| (*a).to_owned()))
        .collect(),
    )
    .await
}

/// `/payjp/v2/payment_flows/pfw_…/capture` → `POST /v2/payment_flows/{id}/capture`.
fn endpoint(method: &str, path: &str) -> String {
    let path: Vec<&str> = path
        .trim_start_matches("/payjp")
        .split('/')
        .map(|part| {
            if part.starts_with("pfw_") || part.starts_with("pyr_") {
                "{id}"
            } else {
                part
            }
        })
        .collect();
    format!("{method} {}", path.join("/"))
}

fn payjp(order: &mut v1::AuthorizeRequest) -> &mut v1::PayjpDetails {
    match order.provider_details.as_mut() {
        Some(v1::authorize_request::ProviderDetails::Payjp(details)) => details,
        _ => panic!("a PAY.JP authorization"),
    }
}

/// Every endpoint, state and error case kessai meets at PAY.JP, through
/// kessai's gRPC API; then the recorded wire must match the SDK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_kessai_and_the_simulator_exchange_matches_the_sdk() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.notify_kessai();

    // Approve, capture a part then the rest, refund twice, refresh.
    let card = app.authorized_payjp(10_000).await;
    let part = app.capture(&card.id, Some(3_000), false).await.unwrap();
    assert_eq!(part.status(), OrderStatus::PartiallyCaptured);
    let rest = app.capture(&card.id, None, false).await.unwrap();
    assert_eq!(
        (rest.status(), rest.amount_captured),
        (OrderStatus::Captured, 10_000)
    );
    app.refund(&card.id, Some(2_500)).await.unwrap();
    let refunded = app.refund(&card.id, None).await.unwrap();
    assert_eq!(refunded.amount_refunded, 10_000);
    assert_eq!(
        app.get_order(&card.id, true).await.unwrap().status(),
        refunded.status()
    );
    // Over-refunding is refused by kessai before PAY.JP is asked.
    assert!(app.refund(&card.id, Some(1)).await.is_err());

    // Decline: PAY.JP's 402.
    let declined = app
        .authorize(payjp_authorize(
            &unique_key("auth"),
            3_000,
            "pm_test_decline",
        ))
        .await
        .unwrap();
    assert_eq!(declined.status(), OrderStatus::Declined);
    assert_eq!(declined.failure.unwrap().provider_code, "payment_failed");

    // 3-D Secure: requires_action, the shopper passes, refresh, void.
    let three_ds = app
        .authorize(payjp_authorize(&unique_key("auth"), 4_000, "pm_test_3ds"))
        .await
        .unwrap();
    assert_eq!(three_ds.status(), OrderStatus::RequiresAction);
    assert!(matches!(
        three_ds
            .next_action
            .as_ref()
            .and_then(|a| a.action.as_ref()),
        Some(v1::next_action::Action::RedirectUrl(_))
    ));
    assert!(
        app.payjp
            .complete_three_d_secure(&three_ds.provider_order_id, true)
    );
    let authorized = app.get_order(&three_ds.id, true).await.unwrap();
    assert_eq!(authorized.status(), OrderStatus::Authorized);
    assert_eq!(
        app.void(&three_ds.id).await.unwrap().status(),
        OrderStatus::Voided
    );
    // The shopper fails 3-D Secure: the flow is back without a method.
    let failed = app
        .authorize(payjp_authorize(&unique_key("auth"), 4_000, "pm_test_3ds"))
        .await
        .unwrap();
    assert!(
        app.payjp
            .complete_three_d_secure(&failed.provider_order_id, false)
    );
    let failed = app.get_order(&failed.id, true).await.unwrap();
    assert_eq!(failed.status(), OrderStatus::Declined);

    // PayPay, extended card authorization, automatic capture.
    let paypay = app
        .authorize(payjp_authorize(
            &unique_key("auth"),
            5_000,
            "pm_test_paypay",
        ))
        .await
        .unwrap();
    assert_eq!(paypay.status(), OrderStatus::Authorized);
    let mut extended = payjp_authorize(&unique_key("auth"), 6_000, "pm_test_approve");
    payjp(&mut extended).extended_authorization = true;
    payjp(&mut extended).return_url = "https://shop.example/return".into();
    let extended = app.authorize(extended).await.unwrap();
    app.capture(&extended.id, Some(2_000), true).await.unwrap();
    let mut automatic = payjp_authorize(&unique_key("auth"), 2_000, "pm_test_approve");
    automatic.capture_method = v1::CaptureMethod::Automatic as i32;
    let automatic = app.authorize(automatic).await.unwrap();
    assert_eq!(automatic.status(), OrderStatus::Captured);

    // No payment method: the flow waits for the shop's front end; void it.
    let mut waiting = payjp_authorize(&unique_key("auth"), 7_000, "");
    payjp(&mut waiting).customer_id.clear();
    let waiting = app.authorize(waiting).await.unwrap();
    assert!(matches!(
        waiting.next_action.as_ref().and_then(|a| a.action.as_ref()),
        Some(v1::next_action::Action::ClientSecret(_))
    ));
    app.get_order(&waiting.id, true).await.unwrap();
    assert_eq!(
        app.void(&waiting.id).await.unwrap().status(),
        OrderStatus::Voided
    );

    // A payment method without its customer never reaches PAY.JP.
    // (Counting creations only: webhooks make kessai read flows meanwhile.)
    let creations = || {
        app.sandbox()
            .received()
            .exchanges()
            .iter()
            .filter(|e| e.method == "POST" && e.path == "/payjp/v2/payment_flows")
            .count()
    };
    let before = creations();
    let mut orphan = payjp_authorize(&unique_key("auth"), 1_000, "pm_test_approve");
    payjp(&mut orphan).customer_id.clear();
    let status = assert_error(
        app.authorize(orphan).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let fields: Vec<String> = status
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["payjp.customer_id"]);
    assert_eq!(creations(), before, "no payment flow was asked for");
    // A payment method the customer does not own: PAY.JP refuses it.
    assert!(
        app.authorize(payjp_authorize(
            &unique_key("auth"),
            1_000,
            "pm_test_unattached"
        ))
        .await
        .is_err()
    );

    // PAY.JP's state changed behind kessai's back: invalid_status.
    let behind = app.authorized_payjp(3_000).await;
    let cancel = reqwest::Client::new()
        .post(format!(
            "{}/payment_flows/{}/cancel",
            app.sandbox().payjp_base_url(),
            behind.provider_order_id
        ))
        .bearer_auth(PAYJP_SANDBOX_SECRET_KEY)
        .json(&serde_json::json!({"cancellation_reason": "abandoned"}))
        .send()
        .await
        .unwrap();
    assert!(cancel.status().is_success());
    assert_error(
        app.capture(&behind.id, None, false).await,
        Code::FailedPrecondition,
        "CAPTURE_NOT_ALLOWED",
    );

    // A refund whose answer was lost is settled by listing the flow's refunds.
    let lost = app.authorized_payjp(5_000).await;
    app.capture(&lost.id, None, false).await.unwrap();
    app.payjp.faults().inject(
        Fault::new(
            "POST",
            "/payment_refunds",
            FaultKind::DelayAfterActing { ms: 3_000 },
        )
        .times(2),
    );
    assert_error(
        app.refund(&lost.id, Some(1_000)).await,
        Code::DeadlineExceeded,
        "OUTCOME_UNKNOWN",
    );
    app.payjp.faults().clear();
    app.reconcile().await;
    assert_eq!(
        app.get_order(&lost.id, false)
            .await
            .unwrap()
            .amount_refunded,
        1_000
    );
    assert_eq!(app.ledger_flow(&lost.provider_order_id).refunded, 1_000);

    // Past the card's seven days: payment_flow_expired.
    let late = app.authorized_payjp(2_000).await;
    app.clock.advance(Duration::days(8));
    assert_error(
        app.capture(&late.id, None, false).await,
        Code::FailedPrecondition,
        "AUTHORIZATION_EXPIRED",
    );

    assert!(
        app.payjp
            .webhooks()
            .settled(std::time::Duration::from_secs(10))
            .await,
        "every webhook answered"
    );
    let webhooks: Vec<Vec<u8>> = app
        .payjp
        .webhooks()
        .deliveries()
        .into_iter()
        .map(|d| d.body.to_vec())
        .collect();
    assert!(!webhooks.is_empty(), "PAY.JP notified kessai");

    let exchanges = app.sandbox().received().exchanges();
    let seen: BTreeSet<String> = exchanges
        .iter()
        .filter(|e| e.path.starts_with("/payjp/v2/"))
        .map(|e| endpoint(&e.method, &e.path))
        .collect();
    for wanted in [
        "POST /v2/payment_flows",
        "GET /v2/payment_flows/{id}",
        "POST /v2/payment_flows/{id}/capture",
        "POST /v2/payment_flows/{id}/cancel",
        "GET /v2/payment_flows/{id}/refunds",
        "POST /v2/payment_refunds",
    ] {
        assert!(
            seen.contains(wanted),
            "the workload never used {wanted}: {seen:?}"
        );
    }
    let statuses: BTreeSet<u16> = exchanges.iter().map(|e| e.status).collect();
    for wanted in [200, 400, 402] {
        assert!(
            statuses.contains(&wanted),
            "no {wanted} answer in {statuses:?}"
        );
    }

    let dir = work_dir("contract-payjp");
    let (code, report) = check(&dir, app.sandbox(), &webhooks, &[]).await;
    assert_eq!(code, 0, "the PAY.JP wire does not match the SDK:\n{report}");
    assert!(report.contains(" 0 violations"), "{report}");
    println!("{report}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The checker is not vacuous: the docs' shapes the SDK does not have, a
/// status it does not list, a request breaking a stated rule, are caught.
#[tokio::test]
async fn the_checker_refuses_what_the_sdk_refuses() {
    let fixture = |name: &str| -> serde_json::Value {
        let path = format!("{}/tests/fixtures/payjp/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let mut create = fixture("payment_flow.create.request.json");
    create.as_object_mut().unwrap().remove("customer_id");
    let mut flow = fixture("payment_flow.confirmed.requires_capture.json");
    flow["redirect_options"] = serde_json::json!({"include_client_secret": true});
    flow["status"] = "authorized".into();
    let lines = [
        serde_json::json!({"method": "POST", "path": "/payjp/v2/payment_flows", "query": null,
            "status": 200, "request": create, "response": flow}),
        serde_json::json!({"method": "POST", "path": "/payjp/v2/payment_flows/pfw_1/capture", "query": null,
            "status": 200, "request": {"amount_to_capture": 10},
            "response": fixture("payment_flow.succeeded.json")}),
        serde_json::json!({"method": "POST", "path": "/payjp/v2/payment_refunds", "query": null,
            "status": 409, "request": {"payment_flow_id": "pfw_1", "amount": 100, "extra": 1},
            "response": fixture("error.409.idempotency_conflict.json")}),
        serde_json::json!({"method": "GET", "path": "/payjp/v2/charges", "query": null,
            "status": 404, "request": null, "response": fixture("error.404.not_found.json")}),
    ];
    let dir = work_dir("contract-payjp-bad");
    let exchanges = dir.join("exchanges.jsonl");
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&exchanges, text.join("\n")).unwrap();
    let (code, report) = python("payjp_check.py", vec![exchanges.display().to_string()]).await;
    assert_eq!(code, 1, "{report}");
    for caught in [
        "payment_method_id without customer_id",
        "response.status: 'authorized' is not a PaymentFlowStatus",
        "response.redirect_options: required by PaymentFlowResponse, missing",
        "PaymentFlowCaptureRequest refuses it",
        "request.extra: not a field of PaymentRefundCreateRequest",
        "status 409: not an answer the SDK lists",
        "response.code: not a field of ErrorResponse",
        "no SDK endpoint is GET /v2/charges",
    ] {
        assert!(report.contains(caught), "missed {caught:?}:\n{report}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The official client drives the simulator through a whole lifecycle and
/// its error cases, parsing every answer; the wire it produced is checked
/// strictly as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_drives_the_simulator() {
    let clock = ManualClock::starting_now();
    let sandbox = Sandbox::start("127.0.0.1:0".parse().unwrap(), Arc::new(clock))
        .await
        .expect("the simulators start");
    let host = format!("http://{}/payjp", sandbox.addr());
    let (code, report) = python(
        "payjp_sdk_drive.py",
        vec![
            host,
            PAYJP_SANDBOX_SECRET_KEY.into(),
            SANDBOX_CUSTOMER_ID.into(),
        ],
    )
    .await;
    assert_eq!(code, 0, "the SDK could not drive the simulator:\n{report}");
    assert!(report.contains("the SDK parsed every answer"), "{report}");

    let dir = work_dir("contract-payjp-sdk");
    // The session sent bad requests on purpose: its answers are checked.
    let (code, report) = check(&dir, &sandbox, &[], &["--answers-only"]).await;
    assert_eq!(code, 0, "the simulator's answers to the SDK:\n{report}");
    let _ = std::fs::remove_dir_all(dir);
    sandbox.stop().await;
}
