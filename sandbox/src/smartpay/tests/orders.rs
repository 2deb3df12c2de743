//! Captures, cancellations, the deadline and refunds.

use super::*;

#[tokio::test]
async fn several_manual_partial_captures_then_an_automatic_remainder() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    let mut body = fixture(PARTIAL_CAPTURE_REQUEST);
    body["order"] = json!(order_id);
    body["amount"] = json!(500);
    let first = s.call("POST", "/v1/payments", Some(body)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    assert_eq!(
        keys(&first.json),
        keys(&fixture(PAYMENT_FIXTURE))
            .union(&BTreeSet::from(["description".to_owned()]))
            .cloned()
            .collect()
    );
    assert!(is_id(&id_of(&first.json), "payment"));
    assert_eq!(first.json["status"], "processed");
    assert_eq!(first.json["reference"], "my_capture_reference");
    assert_eq!(s.order(&order_id).await["status"], "requires_capture");

    let second = s.capture(&order_id, 600, "manual").await;
    assert_eq!(second.status, StatusCode::OK);
    let order = s.order(&order_id).await;
    assert_eq!(order["status"], "requires_capture");
    assert_eq!(
        order["payments"],
        json!([id_of(&first.json), id_of(&second.json)])
    );

    let rest = s.capture(&order_id, 400, "automatic").await;
    assert_eq!(rest.status, StatusCode::OK);
    assert_eq!(s.order(&order_id).await["status"], "succeeded");
    let ledger = &s.sim.ledger().orders[0];
    assert_eq!(ledger.captured, 1500, "600 yen were released");
    assert_eq!(ledger.payments.len(), 3);
}

#[tokio::test]
async fn manual_captures_reaching_the_amount_succeed_the_order() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    s.capture(&order_id, 1000, "manual").await;
    s.capture(&order_id, 1100, "manual").await;
    assert_eq!(s.order(&order_id).await["status"], "succeeded");
}

#[tokio::test]
async fn an_automatic_capture_releases_the_rest() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    let payment = s.capture(&order_id, 1500, "automatic").await;
    assert_eq!(payment.status, StatusCode::OK);
    assert_eq!(s.order(&order_id).await["status"], "succeeded");
    let more = s.capture(&order_id, 100, "manual").await;
    assert_eq!(more.status, StatusCode::CONFLICT);
    assert_eq!(more.json, fixture(CANNOT_CAPTURE_FIXTURE));
    assert_eq!(s.sim.ledger().orders[0].captured, 1500);
}

#[tokio::test]
async fn cancel_remainder_defaults_to_automatic() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    let answer = s
        .call(
            "POST",
            "/v1/payments",
            Some(json!({"order": order_id, "amount": 100, "currency": "JPY"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(s.order(&order_id).await["status"], "succeeded");
}

#[tokio::test]
async fn a_capture_over_the_remainder_is_an_excessive_amount() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    s.capture(&order_id, 1500, "manual").await;
    let answer = s.capture(&order_id, 601, "manual").await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(answer.json, fixture(EXCESSIVE_FIXTURE));
    assert_eq!(s.sim.ledger().orders[0].captured, 1500);
    assert_eq!(
        s.capture(&order_id, 600, "manual").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_capture_after_seven_days_is_refused_and_the_order_canceled() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    let expires_at = s.order(&order_id).await["expiresAt"].clone();
    s.clock.advance(Duration::days(7));
    let answer = s.capture(&order_id, 2100, "automatic").await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(answer.json, fixture(CANNOT_CAPTURE_FIXTURE));
    let order = s.order(&order_id).await;
    assert_eq!(order["status"], "canceled");
    assert_eq!(order["updatedAt"], expires_at, "canceled at the deadline");
    let ledger = &s.sim.ledger().orders[0];
    assert!(ledger.canceled);
    assert_eq!(ledger.captured, 0);
}

#[tokio::test]
async fn a_capture_just_before_the_deadline_succeeds() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    s.clock
        .advance(Duration::days(7) - Duration::milliseconds(1));
    assert_eq!(
        s.capture(&order_id, 2100, "automatic").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_partly_captured_order_expires_as_succeeded() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    s.capture(&order_id, 700, "manual").await;
    s.clock.advance(Duration::days(8));
    // The ledger is a read too: Smartpay has long acted by now.
    let ledger = &s.sim.ledger().orders[0];
    assert_eq!(ledger.status, "succeeded");
    assert_eq!(ledger.captured, 700);
    assert_eq!(s.order(&order_id).await["status"], "succeeded");
}

#[tokio::test]
async fn cancelling_an_untouched_authorization_cancels_it() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    let canceled = s.cancel(&order_id).await;
    assert_eq!(canceled.status, StatusCode::OK);
    assert_eq!(canceled.json["status"], "canceled");
    assert_eq!(keys(&canceled.json), keys(&fixture(ORDER_FIXTURE)));
    let again = s.cancel(&order_id).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json["status"], "canceled");
    assert_error(
        &s.capture(&order_id, 100, "automatic").await,
        StatusCode::CONFLICT,
        "order.cannot-capture",
    );
    assert!(s.sim.ledger().orders[0].canceled);
}

#[tokio::test]
async fn cancelling_after_a_partial_capture_leaves_the_order_succeeded() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    let payment = s.capture(&order_id, 1500, "manual").await;
    let answer = s.cancel(&order_id).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["status"], "succeeded");
    assert_eq!(answer.json["payments"], json!([id_of(&payment.json)]));
    let ledger = &s.sim.ledger().orders[0];
    assert!(!ledger.canceled);
    assert_eq!(ledger.captured, 1500);

    let again = s.cancel(&order_id).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json, fixture(CANNOT_CANCEL_FIXTURE));
}

#[tokio::test]
async fn an_order_awaiting_the_shopper_cannot_be_cancelled() {
    let s = sim();
    let answer = s.checkout(2100, "manual").await;
    let cancel = s.cancel(&id_of(&answer.json["order"])).await;
    assert_error(&cancel, StatusCode::CONFLICT, "order.cannot-cancel");
}

#[tokio::test]
async fn refunds_go_per_payment_up_to_its_amount() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    let first = id_of(&s.capture(&order_id, 1500, "manual").await.json);
    let second = id_of(&s.capture(&order_id, 600, "manual").await.json);

    let refund = s.refund(&first, 1000).await;
    assert_eq!(refund.status, StatusCode::OK, "{}", refund.json);
    assert_eq!(keys(&refund.json), keys(&fixture(REFUND_FIXTURE)));
    assert!(is_id(&id_of(&refund.json), "refund"));
    assert_eq!(refund.json["status"], "succeeded");
    assert_eq!(refund.json["payment"], first.as_str());
    assert_eq!(refund.json["reason"], "requested_by_customer");

    let too_much = s.refund(&first, 501).await;
    assert_eq!(too_much.status, StatusCode::FORBIDDEN);
    assert_eq!(too_much.json, fixture(INSUFFICIENT_FIXTURE));
    assert_eq!(s.refund(&first, 500).await.status, StatusCode::OK);
    let payment = s.call("GET", &format!("/v1/payments/{first}"), None).await;
    assert_eq!(payment.json["status"], "refunded");
    assert_error(
        &s.refund(&first, 1).await,
        StatusCode::FORBIDDEN,
        "amount.insufficient",
    );

    assert_eq!(
        s.refund(&second, 600).await.status,
        StatusCode::OK,
        "its own amount"
    );
    let fetched = s
        .call("GET", &format!("/v1/refunds/{}", id_of(&refund.json)), None)
        .await;
    assert_eq!(fetched.bytes, refund.bytes);
    let ledger = &s.sim.ledger().orders[0];
    assert_eq!(ledger.refunded, 2100);
    assert_eq!(ledger.payments[0].refunded, 1500);
    assert_eq!(ledger.status, "succeeded");
}

#[tokio::test]
async fn refund_requests_are_validated() {
    let s = sim();
    let order_id = s.authorized(2100).await;
    let payment = id_of(&s.capture(&order_id, 2100, "automatic").await.json);
    let bad_reason = s
        .call(
            "POST",
            "/v1/refunds",
            Some(json!({"payment": payment, "amount": 100, "currency": "JPY", "reason": "changed_mind"})),
        )
        .await;
    assert_error(&bad_reason, StatusCode::BAD_REQUEST, "request.invalid");
    assert!(
        bad_reason.json["details"][0]
            .as_str()
            .unwrap_or_default()
            .starts_with("reason:")
    );
    let unknown = s.refund("payment_test_nope", 100).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "payment.not-found");
    assert_eq!(s.sim.ledger().orders[0].refunded, 0);
}
