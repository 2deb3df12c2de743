//! Refunds, voids, sales and both path prefixes.

use super::*;

#[tokio::test]
async fn refunds_take_the_capture_id_several_partials_then_no_more() {
    let s = sim();
    let pre_auth = s.pre_auth(1000).await;
    let capture_id = id_of(&s.follow_up("capture", &pre_auth, Some(800)).await);
    let first = s.follow_up("refund", &capture_id, Some(300)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json);
    assert_eq!(first.json["transaction_type"], "REFUND");
    assert_eq!(first.json["gateway_response"]["code"], "INFO0002");
    assert_eq!(keys(&first.json), keys(&fixture(REFUND_FIXTURE)));
    let second = s.follow_up("refund", &capture_id, Some(500)).await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_ne!(id_of(&first), id_of(&second));
    let beyond = s.follow_up("refund", &capture_id, Some(1)).await;
    assert_failure(&beyond, StatusCode::PRECONDITION_FAILED, Some(13));
    let auth = &s.sim.ledger().authorizations[0];
    assert_eq!((auth.captured, auth.refunded), (800, 800));
    assert_eq!(auth.status, "captured");
}

#[tokio::test]
async fn a_refund_beyond_the_captured_amount_is_412() {
    let s = sim();
    let pre_auth = s.pre_auth(1000).await;
    let capture_id = id_of(&s.follow_up("capture", &pre_auth, Some(500)).await);
    let answer = s.follow_up("refund", &capture_id, Some(501)).await;
    assert_failure(&answer, StatusCode::PRECONDITION_FAILED, Some(13));
    assert_eq!(s.sim.ledger().authorizations[0].refunded, 0);
}

#[tokio::test]
async fn a_refund_naming_the_pre_auth_is_412() {
    let s = sim();
    let pre_auth = s.pre_auth(1000).await;
    s.follow_up("capture", &pre_auth, Some(1000)).await;
    let answer = s.follow_up("refund", &pre_auth, Some(100)).await;
    assert_failure(&answer, StatusCode::PRECONDITION_FAILED, Some(84));
    assert_eq!(answer.json["transaction_type"], "REFUND");
    assert_eq!(s.sim.ledger().authorizations[0].refunded, 0);
}

#[tokio::test]
async fn a_void_before_capture_succeeds_and_after_capture_is_412() {
    let s = sim();
    let voided = s.pre_auth(1000).await;
    let void = s.follow_up("void", &voided, None).await;
    assert_eq!(void.status, StatusCode::CREATED, "{}", void.json);
    assert_eq!(void.json["transaction_type"], "VOID");
    assert_eq!(void.json["gateway_response"]["code"], "INFO0003");
    assert_eq!(void.json["payment_details"]["amount"], 1000);
    assert_eq!(keys(&void.json), keys(&fixture(VOID_FIXTURE)));
    assert_ne!(id_of(&void), voided);
    let twice = s.follow_up("void", &voided, None).await;
    assert_failure(&twice, StatusCode::PRECONDITION_FAILED, Some(84));
    let capture = s.follow_up("capture", &voided, Some(1000)).await;
    assert_failure(&capture, StatusCode::PRECONDITION_FAILED, Some(84));

    let captured = s.pre_auth(2000).await;
    let capture_id = id_of(&s.follow_up("capture", &captured, Some(2000)).await);
    let late = s.follow_up("void", &captured, None).await;
    assert_failure(&late, StatusCode::PRECONDITION_FAILED, Some(84));
    let of_capture = s.follow_up("void", &capture_id, None).await;
    assert_failure(&of_capture, StatusCode::PRECONDITION_FAILED, Some(84));

    let ledger = s.sim.ledger();
    assert_eq!(ledger.authorizations[0].status, "voided");
    assert_eq!(ledger.authorizations[0].captured, 0);
    assert_eq!(ledger.authorizations[1].status, "captured");
}

#[tokio::test]
async fn a_sale_is_authorized_and_captured_at_once_and_refunded_by_its_own_id() {
    let s = sim();
    let sale = s
        .post("payment", &authorization_body(APPROVE, json!("1500")))
        .await;
    assert_eq!(sale.status, StatusCode::CREATED, "{}", sale.json);
    assert_eq!(sale.json["transaction_type"], "SALE");
    assert_eq!(sale.json["gateway_response"]["code"], "INFO0000");
    assert_eq!(sale.json["payment_details"]["amount"], 1500);
    let id = id_of(&sale);
    let auth = &s.sim.ledger().authorizations[0];
    assert_eq!(auth.status, "captured");
    assert_eq!((auth.authorized, auth.captured), (1500, 1500));
    assert_eq!(auth.capture_id.as_deref(), Some(id.as_str()));

    let capture = s.follow_up("capture", &id, Some(1500)).await;
    assert_failure(&capture, StatusCode::PRECONDITION_FAILED, Some(84));
    let void = s.follow_up("void", &id, None).await;
    assert_failure(&void, StatusCode::PRECONDITION_FAILED, Some(84));
    let refund = s.follow_up("refund", &id, Some(1500)).await;
    assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.json);

    let declined = s
        .post(
            "payment",
            &authorization_body("4000000000009995", json!(10)),
        )
        .await;
    assert_eq!(declined.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(declined.json["transaction_type"], "SALE");
    assert_eq!(declined.json["payment_details"]["response_code"], 51);
}

#[tokio::test]
async fn both_path_prefixes_serve_the_api() {
    let s = sim();
    let body = authorization_body(APPROVE, json!(1000));
    let doubled = s
        .call("POST", &format!("{DOUBLED}/authorization"), Some(&body))
        .await;
    assert_eq!(doubled.status, StatusCode::CREATED);
    let id = id_of(&doubled);
    let single = s.status_of(&id).await;
    assert_eq!(single.status, StatusCode::OK);
    let status = s
        .call("GET", &format!("{DOUBLED}/transaction/status/{id}"), None)
        .await;
    assert_eq!(status.json, single.json);
    let capture = s
        .call(
            "POST",
            &format!("{DOUBLED}/capture"),
            Some(&json!({"transactionId": id, "amount": 1000, "merchant_id": MID})),
        )
        .await;
    assert_eq!(capture.status, StatusCode::CREATED);
    let unknown = s.call("GET", &format!("{P}/charges"), None).await;
    assert_failure(&unknown, StatusCode::NOT_FOUND, None);
}
