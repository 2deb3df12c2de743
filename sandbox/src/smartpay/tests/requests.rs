//! Routing, validation, collections, idempotency, authentication and faults.

use base64::Engine as _;
use tower::ServiceExt;

use super::*;
use crate::faults::{Fault, FaultKind};
use crate::pipeline::reply::JSON;
use axum::http::header;

#[tokio::test]
async fn unknown_ids_and_routes_are_404s() {
    let s = sim();
    let order = s.call("GET", "/v1/orders/order_test_nope", None).await;
    assert_eq!(order.status, StatusCode::NOT_FOUND);
    assert_eq!(order.json, fixture(ORDER_NOT_FOUND_FIXTURE));
    assert_error(
        &s.capture("order_test_nope", 100, "automatic").await,
        StatusCode::NOT_FOUND,
        "order.not-found",
    );
    assert_error(
        &s.call("GET", "/v1/payments/payment_test_nope", None).await,
        StatusCode::NOT_FOUND,
        "payment.not-found",
    );
    assert_error(
        &s.call("GET", "/v1/refunds/refund_test_nope", None).await,
        StatusCode::NOT_FOUND,
        "refund.not-found",
    );
    assert_eq!(
        s.call("GET", "/v1/coupons", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn checkout_validation_names_every_bad_field() {
    let s = sim();
    let answer = s
        .call(
            "POST",
            "/v1/checkout-sessions",
            Some(json!({
                "amount": 0, "currency": "jpy", "captureMethod": "later",
                "items": [{"name": "Tea", "amount": 1.5}], "successUrl": "https://shop.test/ok"
            })),
        )
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "request.invalid");
    let fields: BTreeSet<String> = answer.json["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|d| d.as_str()?.split(':').next().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let expected = [
        "amount",
        "currency",
        "captureMethod",
        "items[0].amount",
        "items[0].quantity",
        "shippingInfo",
        "customerInfo",
        "cancelUrl",
    ];
    assert_eq!(fields, expected.iter().map(|f| (*f).to_owned()).collect());
    assert!(s.sim.ledger().orders.is_empty());
}

#[tokio::test]
async fn collections_page_newest_first_with_the_sdks_parameters() {
    let s = sim();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(id_of(&s.token_order(TOKEN_APPROVED, "manual").await.json));
    }
    let first = s.call("GET", "/v1/orders?maxResults=2", None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    let page = &first.json;
    assert_eq!(
        keys(page),
        [
            "data",
            "maxResults",
            "nextPageToken",
            "object",
            "pageToken",
            "results"
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    );
    assert_eq!(
        (
            page["object"].as_str(),
            page["maxResults"].as_i64(),
            page["results"].as_i64()
        ),
        (Some("collection"), Some(2), Some(2))
    );
    let listed: Vec<String> = page["data"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(listed, [ids[2].clone(), ids[1].clone()]);
    assert_eq!(keys(&page["data"][0]), keys(&s.order(&ids[2]).await));
    let token = page["nextPageToken"].as_str().unwrap().to_owned();
    let second = s
        .call(
            "GET",
            &format!("/v1/orders?maxResults=2&pageToken={token}&expand=no"),
            None,
        )
        .await;
    assert_eq!(second.json["pageToken"], token.as_str());
    assert_eq!(second.json["results"], 1);
    assert!(second.json.get("nextPageToken").is_none(), "the last page");
    assert_eq!(id_of(&second.json["data"][0]), ids[0]);
    let everything = s.call("GET", "/v1/orders", None).await;
    assert_eq!(
        (
            everything.json["maxResults"].as_i64(),
            everything.json["results"].as_i64()
        ),
        (Some(20), Some(3))
    );
    for bad in [
        "/v1/orders?maxResults=0",
        "/v1/payments?maxResults=x",
        "/v1/refunds?pageToken=refund_test_nope",
        "/v1/checkout-sessions?expand=some",
    ] {
        assert_error(
            &s.call("GET", bad, None).await,
            StatusCode::BAD_REQUEST,
            "request.invalid",
        );
    }
    let payment = id_of(&s.capture(&ids[0], 1_000, "manual").await.json);
    let refund = id_of(&s.refund(&payment, 400).await.json);
    let refunds = s.call("GET", "/v1/refunds", None).await;
    assert_eq!(id_of(&refunds.json["data"][0]), refund);
    assert_eq!(
        keys(&refunds.json["data"][0]),
        keys(&fixture(REFUND_FIXTURE))
    );
    let payments = s.call("GET", "/v1/payments?maxResults=100", None).await;
    assert_eq!(id_of(&payments.json["data"][0]), payment);
    let empty = s.call("GET", "/v1/checkout-sessions", None).await;
    assert_eq!(
        (
            empty.json["results"].as_i64(),
            empty.json["pageToken"].as_str()
        ),
        (Some(0), Some(""))
    );
}

#[tokio::test]
async fn a_checkout_session_is_retrieved_and_listed_as_created() {
    let s = sim();
    let created = s.checkout(350, "manual").await.json;
    let id = id_of(&created);
    let got = s
        .call("GET", &format!("/v1/checkout-sessions/{id}"), None)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json, created);
    let listed = s
        .call("GET", "/v1/checkout-sessions?maxResults=1", None)
        .await;
    assert_eq!(listed.json["data"][0], created);
    let unknown = s
        .call("GET", "/v1/checkout-sessions/checkout_test_nope", None)
        .await;
    assert_error(
        &unknown,
        StatusCode::NOT_FOUND,
        "checkout-session.not-found",
    );
}

#[tokio::test]
async fn checkout_and_token_orders_need_what_the_schemas_require() {
    let s = sim();
    let details = |answer: &Answer| -> BTreeSet<String> {
        answer.json["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|d| d.as_str()?.split(':').next().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut body = fixture(SESSION_REQUEST);
    body["shippingInfo"]["address"] = json!({"line2": "", "country": 81});
    body["customerInfo"]["address"] = json!({"line1": "3-6-7"});
    body["customerInfo"]["accountAge"] = json!(-1);
    let answer = s.call("POST", "/v1/checkout-sessions", Some(body)).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "request.invalid");
    let expected: BTreeSet<String> = [
        "shippingInfo.address.line1",
        "shippingInfo.address.locality",
        "shippingInfo.address.postalCode",
        "shippingInfo.address.country",
        "customerInfo.address.locality",
        "customerInfo.address.postalCode",
        "customerInfo.address.country",
        "customerInfo.accountAge",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(details(&answer), expected);
    let mut order = json!({
        "token": TOKEN_APPROVED, "amount": 5000, "currency": "JPY",
        "items": [{"name": "Tea", "amount": 5000, "quantity": 1}],
        "shippingInfo": {"feeAmount": 100}
    });
    let answer = s.call("POST", "/v1/orders", Some(order.clone())).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "request.invalid");
    let expected: BTreeSet<String> = ["shippingInfo.address", "customerInfo"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(details(&answer), expected);
    order["customerInfo"] = json!({});
    order["shippingInfo"]["address"] =
        json!({"line1": "1-2-3", "locality": "渋谷区", "postalCode": "150-0002", "country": "JP"});
    let answer = s.call("POST", "/v1/orders", Some(order)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert!(s.sim.ledger().orders.len() == 1);
}

#[tokio::test]
async fn malformed_json_is_a_400_not_a_panic() {
    let s = sim();
    for raw in ["{not json", "[1,2]", "\"text\""] {
        let request = HttpRequest::builder()
            .method("POST")
            .uri("/v1/payments")
            .header(header::AUTHORIZATION, format!("Basic {KEY}"))
            .body(Body::from(raw))
            .expect("a valid request");
        let answer = s.send(request).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "request.invalid");
    }
}

#[tokio::test]
async fn an_idempotent_retry_replays_the_first_answer_without_acting() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    let body =
        json!({"order": order_id, "amount": 500, "currency": "JPY", "cancelRemainder": "manual"});
    let key = [("Idempotency-Key", "capture-1")];
    let first = s
        .call_with("POST", "/v1/payments", Some(body.clone()), &key)
        .await;
    s.clock.advance(Duration::hours(5));
    let second = s.call_with("POST", "/v1/payments", Some(body), &key).await;
    assert_eq!(second.status, first.status);
    assert_eq!(second.bytes, first.bytes);
    let ledger = &s.sim.ledger().orders[0];
    assert_eq!(ledger.captured, 500, "captured once");
    assert_eq!(ledger.payments.len(), 1);

    let cancel_key = [("Idempotency-Key", "cancel-1")];
    let path = format!("/v1/orders/{order_id}/cancellation");
    let c1 = s.call_with("PUT", &path, None, &cancel_key).await;
    let c2 = s.call_with("PUT", &path, None, &cancel_key).await;
    assert_eq!(c1.bytes, c2.bytes);
    assert_eq!(s.sim.requests_seen(), 5);
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_a_409() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    let key = [("Idempotency-Key", "k1")];
    s.call_with(
        "POST",
        "/v1/payments",
        Some(json!({"order": order_id, "amount": 500, "currency": "JPY", "cancelRemainder": "manual"})),
        &key,
    )
    .await;
    let other_body = s
        .call_with(
            "POST",
            "/v1/payments",
            Some(json!({"order": order_id, "amount": 600, "currency": "JPY", "cancelRemainder": "manual"})),
            &key,
        )
        .await;
    assert_error(
        &other_body,
        StatusCode::CONFLICT,
        "request.idempotency-key-conflict",
    );
    let other_path = s
        .call_with(
            "PUT",
            &format!("/v1/orders/{order_id}/cancellation"),
            None,
            &key,
        )
        .await;
    assert_eq!(other_path.status, StatusCode::CONFLICT);
    let ledger = &s.sim.ledger().orders[0];
    assert_eq!(ledger.captured, 500);
    assert_eq!(ledger.status, "requires_capture");
}

#[tokio::test]
async fn keys_are_forgotten_after_six_hours() {
    let s = sim();
    let key = [("Idempotency-Key", "session-1")];
    let body = fixture(SESSION_REQUEST);
    let first = s
        .call_with("POST", "/v1/checkout-sessions", Some(body.clone()), &key)
        .await;
    s.clock
        .advance(Duration::hours(6) - Duration::milliseconds(1));
    let replay = s
        .call_with("POST", "/v1/checkout-sessions", Some(body.clone()), &key)
        .await;
    assert_eq!(replay.bytes, first.bytes);
    s.clock.advance(Duration::milliseconds(1));
    let again = s
        .call_with("POST", "/v1/checkout-sessions", Some(body), &key)
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_ne!(id_of(&again.json), id_of(&first.json));
    assert_eq!(s.sim.ledger().orders.len(), 2);
}

#[tokio::test]
async fn a_base64_key_is_refused_the_raw_key_is_required() {
    let s = sim();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    for authorization in [
        format!("Basic {encoded}"),
        format!("Bearer {KEY}"),
        "Basic sk_test_wrong".to_owned(),
    ] {
        let request = HttpRequest::builder()
            .method("POST")
            .uri("/v1/checkout-sessions")
            .header(header::AUTHORIZATION, authorization)
            .header("Idempotency-Key", "k1")
            .body(Body::from(SESSION_REQUEST))
            .expect("a valid request");
        let answer = s.send(request).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.json, fixture(UNAUTHORIZED_FIXTURE));
    }
    let missing = HttpRequest::builder()
        .uri("/v1/orders/order_test_x")
        .body(Body::empty())
        .expect("a valid request");
    assert_eq!(s.send(missing).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.sim.requests_seen(), 0);
    assert!(s.sim.ledger().orders.is_empty());
    // The refused requests did not take the key.
    let ok = s
        .call_with(
            "POST",
            "/v1/checkout-sessions",
            Some(fixture(SESSION_REQUEST)),
            &[("Idempotency-Key", "k1")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn an_injected_fault_is_met_before_the_provider_acts() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    s.sim.faults().inject(Fault::new(
        "POST",
        "/v1/payments",
        FaultKind::Status {
            status: 503,
            body: json!({"statusCode": 503}),
        },
    ));
    let seen = s.sim.requests_seen();
    let faulted = s.capture(&order_id, 2100, "automatic").await;
    assert_eq!(faulted.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(s.sim.ledger().orders[0].captured, 0);
    assert_eq!(s.sim.requests_seen(), seen, "the provider was not called");
    let ok = s.capture(&order_id, 2100, "automatic").await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn a_dropped_answer_is_recovered_by_retrying_with_the_same_key() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    s.sim.faults().inject(Fault::new(
        "POST",
        "/v1/payments",
        FaultKind::DropAfterActing,
    ));
    let request = || {
        HttpRequest::builder()
            .method("POST")
            .uri("/v1/payments")
            .header(header::AUTHORIZATION, format!("Basic {KEY}"))
            .header("Idempotency-Key", "retry-me")
            .body(Body::from(
                json!({"order": order_id, "amount": 2100, "currency": "JPY"}).to_string(),
            ))
            .expect("a valid request")
    };
    let response = s.app.clone().oneshot(request()).await.expect("infallible");
    assert!(
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .is_err()
    );
    assert_eq!(
        s.sim.ledger().orders[0].captured,
        2100,
        "the provider acted"
    );
    let retry = s.send(request()).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(
        retry.json["id"],
        s.sim.ledger().orders[0].payments[0].id.as_str()
    );
    assert_eq!(s.sim.ledger().orders[0].payments.len(), 1);
}

#[tokio::test]
async fn nested_under_a_prefix_the_api_the_page_and_the_fault_controls_work() {
    let s = sim();
    let app = Router::new().nest("/smartpay", s.sim.router());
    let send = |request: HttpRequest<Body>| {
        let app = app.clone();
        async move { app.oneshot(request).await.expect("infallible") }
    };
    let fault = HttpRequest::builder()
        .method("POST")
        .uri("/smartpay/_sandbox/faults")
        .header(header::CONTENT_TYPE, JSON)
        .body(Body::from(
            json!({"method": "GET", "path_contains": "/orders/", "kind": "status", "status": 500})
                .to_string(),
        ))
        .expect("a valid request");
    assert_eq!(send(fault).await.status(), StatusCode::NO_CONTENT);
    let get = || {
        HttpRequest::builder()
            .uri("/smartpay/v1/orders/order_test_missing")
            .header(header::AUTHORIZATION, format!("Basic {KEY}"))
            .body(Body::empty())
            .expect("a valid request")
    };
    assert_eq!(
        send(get()).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(send(get()).await.status(), StatusCode::NOT_FOUND);

    let session = s.checkout(2100, "manual").await;
    let url = session.json["url"].as_str().unwrap_or_default();
    let path = url.strip_prefix("http://sim.test").unwrap_or_default();
    let page = HttpRequest::builder()
        .method("POST")
        .uri(format!("{path}/approve"))
        .body(Body::empty())
        .expect("a valid request");
    assert_eq!(send(page).await.status(), StatusCode::OK);
    assert_eq!(s.sim.ledger().orders[0].status, "requires_capture");
}

#[tokio::test]
async fn the_ledger_is_served_without_auth() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    s.capture(&order_id, 1000, "manual").await;
    let answer = s.browse("GET", "/_sandbox/ledger").await;
    assert_eq!(answer.status, StatusCode::OK);
    let ledger: SmartpayLedger = serde_json::from_value(answer.json).expect("a ledger");
    assert_eq!(ledger, s.sim.ledger());
    assert_eq!(
        ledger.orders[0],
        LedgerOrder {
            id: order_id,
            status: "requires_capture".to_owned(),
            amount: 2100,
            authorized: 2100,
            captured: 1000,
            refunded: 0,
            canceled: false,
            payments: ledger.orders[0].payments.clone(),
            reference: Some("order_ref_1234567".to_owned()),
        }
    );
    assert_eq!(ledger.orders[0].payments[0].amount, 1000);
    assert_eq!(s.sim.requests_seen(), 2, "control routes are not counted");
}
