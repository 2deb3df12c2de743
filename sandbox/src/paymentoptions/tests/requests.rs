//! Authentication, the ledger, faults, bad requests and helpers.

use axum::http::header;
use base64::Engine as _;
use tower::ServiceExt;

use super::super::books::{Pan, uuid_v4};
use super::super::cards::{card_scheme, luhn_valid, mask_pan};
use super::*;
use crate::faults::{Fault, FaultKind};

#[tokio::test]
async fn raw_and_base64_basic_keys_are_accepted_and_wrong_keys_are_401() {
    let s = sim();
    let body = authorization_body(APPROVE, json!(1000));
    let path = format!("{P}/authorization");
    let encoded = base64::engine::general_purpose::STANDARD.encode(KEY);
    for authorization in [format!("Basic {KEY}"), format!("basic {encoded}")] {
        let answer = s
            .call_with("POST", &path, Some(&body), &authorization, Some(KEY))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{authorization}");
    }
    assert_eq!(s.sim.requests_seen(), 2);
    let raw = format!("Basic {KEY}");
    let refusals = [
        (raw.as_str(), Some("wrong")),
        (raw.as_str(), None),
        ("Basic wrong", Some(KEY)),
        (KEY, Some(KEY)),
        ("Bearer po_test_key_123", Some(KEY)),
    ];
    for (authorization, api_key) in refusals {
        let answer = s
            .call_with("POST", &path, Some(&body), authorization, api_key)
            .await;
        assert_failure(&answer, StatusCode::UNAUTHORIZED, None);
    }
    let missing = HttpRequest::builder()
        .uri(format!("{P}/transaction/status/x"))
        .body(Body::empty())
        .expect("a valid request");
    assert_eq!(s.send(missing).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.sim.requests_seen(), 2, "refused requests are not counted");
    assert_eq!(s.sim.ledger().authorizations.len(), 2);
}

#[tokio::test]
async fn the_ledger_never_holds_the_full_pan() {
    let s = sim();
    let pre_auth = s.pre_auth(1000).await;
    s.follow_up("capture", &pre_auth, Some(1000)).await;
    s.authorize("4000000000000002", 1000).await;
    let ledger = s.sim.ledger();
    let text = serde_json::to_string(&ledger).expect("serializable");
    assert!(!text.contains(APPROVE));
    assert!(!text.contains("4000000000000002"));
    assert_eq!(ledger.authorizations[0].card_last4, "1005");
    assert_eq!(ledger.authorizations[1].card_last4, "0002");

    let served = s
        .send(
            HttpRequest::builder()
                .uri("/_sandbox/ledger")
                .body(Body::empty())
                .expect("a valid request"),
        )
        .await;
    assert_eq!(served.status, StatusCode::OK);
    assert!(!served.json.to_string().contains(APPROVE));
    let parsed: PaymentOptionsLedger = serde_json::from_value(served.json).expect("a ledger");
    assert_eq!(parsed, ledger);
    assert_eq!(s.sim.requests_seen(), 3, "control routes are not counted");
    let debug = format!("{:?}", Pan(APPROVE.to_owned()));
    assert!(!debug.contains(APPROVE));
}

#[tokio::test]
async fn an_injected_fault_is_met_before_the_provider_acts() {
    let s = sim();
    s.sim.faults().inject(Fault::new(
        "POST",
        "/authorization",
        FaultKind::Status {
            status: 503,
            body: json!({"success": false}),
        },
    ));
    let faulted = s.authorize(APPROVE, 1000).await;
    assert_eq!(faulted.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(s.sim.ledger().authorizations.is_empty());
    assert_eq!(s.sim.requests_seen(), 0);
    assert_eq!(s.authorize(APPROVE, 1000).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_capture_whose_answer_was_dropped_is_found_by_looking_it_up() {
    let s = sim();
    let pre_auth = s.pre_auth(1000).await;
    s.sim
        .faults()
        .inject(Fault::new("POST", "/capture", FaultKind::DropAfterActing));
    let request = HttpRequest::builder()
        .method("POST")
        .uri(format!("{P}/capture"))
        .header(header::AUTHORIZATION, format!("Basic {KEY}"))
        .header("x-api-key", KEY)
        .body(Body::from(
            json!({"transactionId": pre_auth, "amount": 1000, "merchant_id": MID}).to_string(),
        ))
        .expect("a valid request");
    let response = s.app.clone().oneshot(request).await.expect("infallible");
    assert!(
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .is_err()
    );
    let capture_id = s.sim.ledger().authorizations[0]
        .capture_id
        .clone()
        .expect("the provider acted");
    let by_ref = s
        .send(
            HttpRequest::builder()
                .uri("/_sandbox/transactions/by-ref/qwe")
                .body(Body::empty())
                .expect("a valid request"),
        )
        .await;
    assert_eq!(by_ref.json, json!([pre_auth, capture_id]));
    let status = s.status_of(&capture_id).await;
    assert_eq!(status.json["transaction_type"], "CAPTURE");
}

#[tokio::test]
async fn bad_requests_are_400_envelopes_not_panics() {
    let s = sim();
    let path = format!("{P}/authorization");
    for raw in ["{not json", "[1,2]", "\"text\"", ""] {
        let request = HttpRequest::builder()
            .method("POST")
            .uri(&path)
            .header(header::AUTHORIZATION, format!("Basic {KEY}"))
            .header("x-api-key", KEY)
            .body(Body::from(raw))
            .expect("a valid request");
        assert_failure(&s.send(request).await, StatusCode::BAD_REQUEST, None);
    }
    let good = authorization_body(APPROVE, json!(1000));
    let edits: [(&str, Value); 9] = [
        ("merchant_id", json!("JP00000329")),
        ("merchant_id", json!("JP000003280")),
        ("merchant_id", Value::Null),
        ("currency", json!("USD")),
        ("merchant_txn_ref", json!("r".repeat(46))),
        ("merchant_txn_ref", Value::Null),
        ("amount", json!("12a")),
        ("amount", json!(0)),
        ("card", json!("5200000000001005")),
    ];
    for (name, value) in edits {
        let mut body = good.clone();
        body[name] = value;
        let answer = s.post("authorization", &body).await;
        assert_failure(&answer, StatusCode::BAD_REQUEST, None);
    }
    let capture = s
        .post("capture", &json!({"amount": 1, "merchant_id": MID}))
        .await;
    assert_failure(&capture, StatusCode::BAD_REQUEST, None);
    let long_notes = s
        .post(
            "refund",
            &json!({"transactionId": "x", "amount": 1, "merchant_id": MID, "notes": "n".repeat(129)}),
        )
        .await;
    assert_failure(&long_notes, StatusCode::BAD_REQUEST, None);
    assert!(s.sim.ledger().authorizations.is_empty());
}

#[tokio::test]
async fn amounts_may_be_numbers_or_numeric_strings() {
    let s = sim();
    for amount in [json!(1000), json!("1000"), json!(1000.0)] {
        let answer = s
            .post("authorization", &authorization_body(APPROVE, amount))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED);
        assert_eq!(answer.json["payment_details"]["amount"], 1000);
    }
    let id = s.sim.ledger().authorizations[0].id.clone();
    let capture = s
        .post(
            "capture",
            &json!({"transactionId": id, "amount": "400", "merchant_id": MID}),
        )
        .await;
    assert_eq!(capture.json["payment_details"]["amount"], 400);
}

#[tokio::test]
async fn unknown_transactions_are_404() {
    let s = sim();
    let status = s.status_of("e0b0731e-7170-4b64-8a21-7d835eebd641").await;
    assert_failure(&status, StatusCode::NOT_FOUND, None);
    for operation in ["refund", "void"] {
        let answer = s.follow_up(operation, "nope", Some(1)).await;
        assert_failure(&answer, StatusCode::NOT_FOUND, None);
    }
}

#[tokio::test]
async fn nested_under_a_prefix_the_api_and_the_controls_work() {
    let s = sim();
    let app = Router::new().nest("/paymentoptions", s.sim.router());
    let request = HttpRequest::builder()
        .method("POST")
        .uri(format!("/paymentoptions{DOUBLED}/authorization"))
        .header(header::AUTHORIZATION, format!("Basic {KEY}"))
        .header("x-api-key", KEY)
        .body(Body::from(
            authorization_body(APPROVE, json!(1000)).to_string(),
        ))
        .expect("a valid request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::CREATED);
    let ledger = HttpRequest::builder()
        .uri("/paymentoptions/_sandbox/ledger")
        .body(Body::empty())
        .expect("a valid request");
    let response = app.oneshot(ledger).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn helpers_check_luhn_mask_pans_and_make_v4_uuids() {
    for pan in [
        APPROVE,
        "5454545454545454",
        "4000000000000002",
        "4000000000009995",
    ] {
        assert!(luhn_valid(pan), "{pan}");
    }
    assert!(!luhn_valid("5200000000001006"));
    assert_eq!(mask_pan("5454545454545454"), "545454******5454");
    assert_eq!(mask_pan("520000000001"), "520000**0001");
    assert!((0..100).map(|_| uuid_v4()).all(|id| is_uuid_v4(&id)));
    assert_ne!(uuid_v4(), uuid_v4());
    assert_eq!(card_scheme("3530111333300000"), ("JCB-SSL", "JCB"));
    assert_eq!(card_scheme("2223000048400011").1, "MASTERCARD");
}
