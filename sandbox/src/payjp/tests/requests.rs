//! Idempotency, authentication, validation, faults and routing.

use axum::http::header;
use base64::Engine as _;
use tower::ServiceExt;

use super::*;
use crate::faults::{Fault, FaultKind};
use crate::pipeline::reply::JSON;

#[tokio::test]
async fn an_idempotent_retry_replays_the_first_answer_without_acting() {
    let s = sim();
    let body = json!({"amount": 10_000, "capture_method": "manual", "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_approve", "confirm": true});
    let key = [("Idempotency-Key", "order-1001_authorize")];
    let first = s
        .call_with("POST", "/v2/payment_flows", Some(body.clone()), &key)
        .await;
    let ledger = s.sim.ledger();
    s.clock.advance(Duration::hours(23));
    let second = s
        .call_with("POST", "/v2/payment_flows", Some(body), &key)
        .await;
    assert_eq!(second.status, first.status);
    assert_eq!(second.bytes, first.bytes);
    assert_eq!(s.sim.ledger(), ledger);
    assert_eq!(s.sim.requests_seen(), 2);

    let id = first.json["id"].as_str().unwrap_or_default().to_owned();
    let capture_key = [("Idempotency-Key", "capture-1")];
    let path = format!("/v2/payment_flows/{id}/capture");
    let capture = json!({"amount_to_capture": 3000});
    let c1 = s
        .call_with("POST", &path, Some(capture.clone()), &capture_key)
        .await;
    let c2 = s
        .call_with("POST", &path, Some(capture), &capture_key)
        .await;
    assert_eq!(c1.bytes, c2.bytes);
    assert_eq!(s.sim.ledger().flows[0].captured, 3000, "captured once");
}

#[tokio::test]
async fn a_payment_method_needs_the_customer_that_owns_it() {
    let s = sim();
    let body = |customer: Option<&str>, method: &str| {
        let mut body = json!({"amount": 1000, "payment_method_id": method, "confirm": true});
        if let Some(customer) = customer {
            body["customer_id"] = json!(customer);
        }
        body
    };
    let missing = s.create(body(None, "pm_test_approve")).await;
    assert_problem(
        &missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "/v2/payment_flows",
    );
    assert_eq!(missing.json["errors"][0]["field"], "customer_id");
    for (customer, method) in [
        ("cus_someone_else", "pm_test_approve"),
        (SANDBOX_CUSTOMER_ID, PM_UNATTACHED),
    ] {
        let refused = s.create(body(Some(customer), method)).await;
        assert_problem(
            &refused,
            StatusCode::BAD_REQUEST,
            "invalid_payment_method",
            "/v2/payment_flows",
        );
    }
    assert!(s.sim.ledger().flows.is_empty(), "nothing was created");
    // A flow made without a customer cannot be confirmed with a method.
    let bare = s.create(json!({"amount": 1000})).await;
    let id = bare.json["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/v2/payment_flows/{id}/confirm");
    let confirm = s
        .call(
            "POST",
            &path,
            Some(json!({"payment_method_id": "pm_test_approve"})),
        )
        .await;
    assert_problem(
        &confirm,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        &path,
    );
    let approved = s
        .create(body(Some(SANDBOX_CUSTOMER_ID), "pm_test_approve"))
        .await;
    assert_eq!(approved.json["status"], "succeeded", "{}", approved.json);
}

#[tokio::test]
async fn a_key_reused_with_other_parameters_is_a_400() {
    let s = sim();
    let key = [("Idempotency-Key", "k1")];
    s.call_with(
        "POST",
        "/v2/payment_flows",
        Some(json!({"amount": 1000})),
        &key,
    )
    .await;
    let other_body = s
        .call_with(
            "POST",
            "/v2/payment_flows",
            Some(json!({"amount": 2000})),
            &key,
        )
        .await;
    assert_problem(
        &other_body,
        StatusCode::BAD_REQUEST,
        "idempotency_conflict",
        "/v2/payment_flows",
    );
    let other_path = s
        .call_with("POST", REFUNDS_PATH, Some(json!({"amount": 1000})), &key)
        .await;
    assert_eq!(other_path.status, StatusCode::BAD_REQUEST);
    assert_eq!(s.sim.ledger().flows.len(), 1);
}

#[tokio::test]
async fn keys_are_forgotten_after_24_hours() {
    let s = sim();
    let key = [("Idempotency-Key", "k1")];
    let body = Some(json!({"amount": 1000}));
    s.call_with("POST", "/v2/payment_flows", body.clone(), &key)
        .await;
    s.clock.advance(Duration::hours(24));
    let again = s.call_with("POST", "/v2/payment_flows", body, &key).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(s.sim.ledger().flows.len(), 2);
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_refused() {
    let s = sim();
    let long = "a".repeat(256);
    for bad in ["has space", "dots.not.allowed", long.as_str()] {
        let answer = s
            .call_with(
                "POST",
                "/v2/payment_flows",
                Some(json!({"amount": 1000})),
                &[("Idempotency-Key", bad)],
            )
            .await;
        assert_problem(
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "/v2/payment_flows",
        );
    }
    assert!(s.sim.ledger().flows.is_empty());
}

#[tokio::test]
async fn a_wrong_key_is_a_401_and_not_counted() {
    let s = sim();
    let wrong = HttpRequest::builder()
        .method("POST")
        .uri("/v2/payment_flows")
        .header(header::AUTHORIZATION, "Bearer sk_test_wrong")
        .header("Idempotency-Key", "k1")
        .body(Body::from(json!({"amount": 1000}).to_string()))
        .expect("a valid request");
    let answer = s.send(wrong).await;
    assert_problem(
        &answer,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "/v2/payment_flows",
    );
    let missing = HttpRequest::builder()
        .uri("/v2/payment_flows/pfw_x")
        .body(Body::empty())
        .expect("a valid request");
    assert_eq!(s.send(missing).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.sim.requests_seen(), 0);
    // The rejected request did not take the key.
    let ok = s
        .call_with(
            "POST",
            "/v2/payment_flows",
            Some(json!({"amount": 2000})),
            &[("Idempotency-Key", "k1")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn basic_auth_with_the_key_as_user_is_accepted() {
    let s = sim();
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    let request = HttpRequest::builder()
        .method("POST")
        .uri("/v2/payment_flows")
        .header(header::AUTHORIZATION, format!("Basic {credentials}"))
        .body(Body::from(json!({"amount": 1000}).to_string()))
        .expect("a valid request");
    assert_eq!(s.send(request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn amount_49_and_other_bad_parameters_are_422() {
    let s = sim();
    let answer = s
        .create(json!({"amount": 49, "currency": "usd", "capture_method": "later"}))
        .await;
    assert_problem(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "/v2/payment_flows",
    );
    let mut expected = fixture_keys(VALIDATION_FIXTURE);
    expected.remove("code");
    assert_eq!(keys(&answer.json), expected);
    let errors = &answer.json["errors"];
    assert_eq!(errors[0]["field"], "amount");
    assert_eq!(
        errors[0]["message"],
        "Input should be greater than or equal to 50"
    );
    assert_eq!(errors[1]["field"], "currency");
    assert_eq!(errors[1]["message"], "Input should be 'jpy'");
    assert_eq!(errors[2]["field"], "capture_method");
    let missing = s.create(json!({"currency": "jpy"})).await;
    assert_eq!(missing.json["errors"][0]["message"], "Field required");
    let too_big = s.create(json!({"amount": 10_000_000})).await;
    assert_eq!(too_big.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(s.create(json!({"amount": 50})).await.status, StatusCode::OK);
    assert_eq!(s.sim.ledger().flows.len(), 1);
}

#[tokio::test]
async fn malformed_json_is_a_422_not_a_panic() {
    let s = sim();
    for raw in ["{not json", "[1,2]", "\"text\""] {
        let request = HttpRequest::builder()
            .method("POST")
            .uri("/v2/payment_flows")
            .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
            .body(Body::from(raw))
            .expect("a valid request");
        let answer = s.send(request).await;
        assert_problem(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "/v2/payment_flows",
        );
    }
}

#[tokio::test]
async fn unknown_ids_and_routes_are_404_problems() {
    let s = sim();
    let answer = s.capture("pfw_doesnotexist", None).await;
    assert_problem(
        &answer,
        StatusCode::NOT_FOUND,
        "not_found",
        "/v2/payment_flows/pfw_doesnotexist/capture",
    );
    assert_eq!(
        answer.json["detail"],
        "payment_flow: pfw_doesnotexist not found."
    );
    let refund = s
        .call("GET", &format!("{REFUNDS_PATH}/pyr_nope"), None)
        .await;
    assert_eq!(refund.json["detail"], "payment_refund: pyr_nope not found.");
    let route = s.call("GET", "/v2/charges", None).await;
    assert_problem(&route, StatusCode::NOT_FOUND, "not_found", "/v2/charges");
}

#[tokio::test]
async fn an_injected_fault_is_met_before_the_provider_acts() {
    let s = sim();
    s.sim.faults().inject(Fault::new(
        "POST",
        "/v2/payment_flows",
        FaultKind::Status {
            status: 503,
            body: json!({"status": 503}),
        },
    ));
    let faulted = s.create(json!({"amount": 1000})).await;
    assert_eq!(faulted.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(s.sim.ledger().flows.is_empty());
    assert_eq!(s.sim.requests_seen(), 0, "the provider was not called");
    assert_eq!(
        s.create(json!({"amount": 1000})).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_dropped_answer_is_recovered_by_retrying_with_the_same_key() {
    let s = sim();
    s.sim.faults().inject(Fault::new(
        "POST",
        "/v2/payment_flows",
        FaultKind::DropAfterActing,
    ));
    let request = || {
        HttpRequest::builder()
            .method("POST")
            .uri("/v2/payment_flows")
            .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
            .header("Idempotency-Key", "retry-me")
            .body(Body::from(json!({"amount": 1000}).to_string()))
            .expect("a valid request")
    };
    let response = s.app.clone().oneshot(request()).await.expect("infallible");
    assert!(
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .is_err()
    );
    let ledger = s.sim.ledger();
    assert_eq!(ledger.flows.len(), 1, "the provider acted");
    let retry = s.send(request()).await;
    assert_eq!(retry.json["id"], ledger.flows[0].id.as_str());
    assert_eq!(s.sim.ledger().flows.len(), 1);
}

#[tokio::test]
async fn nested_under_a_prefix_the_api_and_the_fault_controls_still_work() {
    let s = sim();
    let app = Router::new().nest("/payjp", s.sim.router());
    let fault = HttpRequest::builder()
        .method("POST")
        .uri("/payjp/_sandbox/faults")
        .header(header::CONTENT_TYPE, JSON)
        .body(Body::from(
            json!({"method": "GET", "path_contains": "/payment_flows/", "kind": "status", "status": 500})
                .to_string(),
        ))
        .expect("a valid request");
    let queued = app.clone().oneshot(fault).await.expect("infallible");
    assert_eq!(queued.status(), StatusCode::NO_CONTENT);
    let get = || {
        HttpRequest::builder()
            .uri("/payjp/v2/payment_flows/pfw_missing")
            .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
            .body(Body::empty())
            .expect("a valid request")
    };
    let faulted = app.clone().oneshot(get()).await.expect("infallible");
    assert_eq!(faulted.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let response = app.clone().oneshot(get()).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a complete body");
    let problem: Value = serde_json::from_slice(&bytes).expect("a problem body");
    assert_eq!(problem["instance"], "/v2/payment_flows/pfw_missing");
}

#[tokio::test]
async fn the_ledger_is_served_without_auth() {
    let s = sim();
    s.authorized(1000, "pm_test_approve").await;
    let request = HttpRequest::builder()
        .uri("/_sandbox/ledger")
        .body(Body::empty())
        .expect("a valid request");
    let answer = s.send(request).await;
    assert_eq!(answer.status, StatusCode::OK);
    let ledger: PayjpLedger = serde_json::from_value(answer.json).expect("a ledger");
    assert_eq!(ledger, s.sim.ledger());
    assert_eq!(s.sim.requests_seen(), 1, "control routes are not counted");
}
