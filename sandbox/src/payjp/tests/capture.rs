//! Captures, cancellations and refunds.

use super::*;

#[tokio::test]
async fn a_partial_capture_is_allowed_once_then_only_the_whole_remainder() {
    let s = sim();
    let id = s.authorized(10_000, "pm_test_approve").await;
    s.clock.advance(Duration::days(2));
    let partial = s
        .capture(&id, Some(json!({"amount_to_capture": 3000})))
        .await;
    assert_eq!(partial.status, StatusCode::OK);
    assert_eq!(partial.json["status"], "requires_capture");
    assert_eq!(partial.json["amount_received"], 3000);
    assert_eq!(partial.json["amount_capturable"], 7000);

    let path = format!("/v2/payment_flows/{id}/capture");
    let second_partial = s
        .capture(&id, Some(json!({"amount_to_capture": 2000})))
        .await;
    assert_problem(
        &second_partial,
        StatusCode::BAD_REQUEST,
        "invalid_amount_to_capture",
        &path,
    );
    assert_eq!(second_partial.json["title"], "Invalid Amount To Capture");
    assert_eq!(s.get(&id).await["amount_received"], 3000, "nothing moved");

    let whole = s
        .capture(&id, Some(json!({"amount_to_capture": 7000})))
        .await;
    assert_eq!(whole.json["status"], "succeeded");
    assert_eq!(whole.json["amount_received"], 10_000);
    assert_eq!(whole.json["amount_capturable"], 0);
}

#[tokio::test]
async fn the_remainder_can_be_captured_without_an_amount() {
    let s = sim();
    let id = s.authorized(10_000, "pm_test_approve").await;
    s.capture(&id, Some(json!({"amount_to_capture": 9980})))
        .await;
    let rest = s.capture(&id, None).await;
    assert_eq!(rest.json["status"], "succeeded");
    assert_eq!(rest.json["amount_received"], 10_000);
}

#[tokio::test]
async fn capture_amounts_outside_the_rules_are_422() {
    let s = sim();
    let id = s.authorized(10_000, "pm_test_approve").await;
    let path = format!("/v2/payment_flows/{id}/capture");
    for amount in [json!(49), json!(10_001), json!("3000"), json!(3000.5)] {
        let answer = s
            .capture(&id, Some(json!({"amount_to_capture": amount})))
            .await;
        assert_problem(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            &path,
        );
        assert_eq!(answer.json["errors"][0]["field"], "amount_to_capture");
    }
    assert_eq!(s.get(&id).await["amount_capturable"], 10_000);
}

#[tokio::test]
async fn capture_after_the_deadline_is_payment_flow_expired() {
    let s = sim();
    let id = s.authorized(10_000, "pm_test_approve").await;
    s.clock.advance(Duration::days(7));
    let before = s.sim.ledger();
    let answer = s.capture(&id, None).await;
    assert_problem(
        &answer,
        StatusCode::BAD_REQUEST,
        "payment_flow_expired",
        &format!("/v2/payment_flows/{id}/capture"),
    );
    assert_eq!(s.sim.ledger(), before);
    assert_eq!(s.get(&id).await["status"], "requires_capture");
}

#[tokio::test]
async fn capture_just_before_the_deadline_succeeds() {
    let s = sim();
    let id = s.authorized(10_000, "pm_test_approve").await;
    s.clock.advance(Duration::days(7) - Duration::seconds(1));
    assert_eq!(s.capture(&id, None).await.json["status"], "succeeded");
}

#[tokio::test]
async fn capture_on_a_canceled_flow_is_invalid_status() {
    let s = sim();
    let id = s.authorized(10_000, "pm_test_approve").await;
    let canceled = s
        .call(
            "POST",
            &format!("/v2/payment_flows/{id}/cancel"),
            Some(json!({"cancellation_reason": "requested_by_customer"})),
        )
        .await;
    assert_eq!(canceled.json["status"], "canceled");
    assert_eq!(canceled.json["amount_capturable"], 0);
    assert_eq!(
        canceled.json["cancellation_reason"],
        "requested_by_customer"
    );
    assert_eq!(canceled.json["canceled_at"], "2025-06-02T03:15:42Z");
    let answer = s.capture(&id, None).await;
    let path = format!("/v2/payment_flows/{id}/capture");
    assert_problem(&answer, StatusCode::BAD_REQUEST, "invalid_status", &path);
    let mut expected = fixture_keys(INVALID_STATUS_FIXTURE);
    expected.remove("code");
    assert_eq!(keys(&answer.json), expected);
    assert!(s.sim.ledger().flows[0].canceled);
}

#[tokio::test]
async fn cancel_after_a_partial_capture_keeps_what_was_received() {
    let s = sim();
    let id = s.authorized(10_000, "pm_test_approve").await;
    s.capture(&id, Some(json!({"amount_to_capture": 3000})))
        .await;
    let canceled = s
        .call("POST", &format!("/v2/payment_flows/{id}/cancel"), None)
        .await;
    assert_eq!(canceled.json["status"], "canceled");
    assert_eq!(canceled.json["amount_received"], 3000);
    assert_eq!(canceled.json["amount_capturable"], 0);
    let again = s
        .call("POST", &format!("/v2/payment_flows/{id}/cancel"), None)
        .await;
    assert_eq!(again.json["type"], format!("{TYPE_PREFIX}invalid-status"));
}

#[tokio::test]
async fn confirm_is_refused_outside_its_statuses_and_without_a_method() {
    let s = sim();
    let id = s.authorized(1000, "pm_test_approve").await;
    let path = format!("/v2/payment_flows/{id}/confirm");
    let again = s.call("POST", &path, None).await;
    assert_problem(&again, StatusCode::BAD_REQUEST, "invalid_status", &path);

    let bare = s.create(json!({"amount": 1000})).await;
    let bare_id = bare.json["id"].as_str().unwrap_or_default();
    let path = format!("/v2/payment_flows/{bare_id}/confirm");
    let missing = s.call("POST", &path, Some(json!({}))).await;
    assert_problem(
        &missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        &path,
    );
    assert_eq!(missing.json["errors"][0]["field"], "payment_method_id");
}

#[tokio::test]
async fn refunds_go_up_to_the_amount_received_then_refund_exceeds_payment() {
    let s = sim();
    let id = s.authorized(10_000, "pm_test_approve").await;
    let early = s
        .call("POST", REFUNDS_PATH, Some(json!({"payment_flow_id": id})))
        .await;
    assert_problem(
        &early,
        StatusCode::BAD_REQUEST,
        "invalid_status",
        REFUNDS_PATH,
    );

    s.capture(&id, Some(json!({"amount_to_capture": 6000})))
        .await;
    let first = s
        .call(
            "POST",
            REFUNDS_PATH,
            Some(json!({"payment_flow_id": id, "amount": 1000, "reason": "requested_by_customer", "metadata": {"order_id": "1001"}})),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    assert_eq!(keys(&first.json), fixture_keys(REFUND_FIXTURE));
    assert_eq!(first.json["status"], "succeeded");
    let refund_id = first.json["id"].as_str().unwrap_or_default().to_owned();
    assert!(refund_id.starts_with("pyr_") && refund_id.len() == 28);

    let too_much = s
        .call(
            "POST",
            REFUNDS_PATH,
            Some(json!({"payment_flow_id": id, "amount": 5001})),
        )
        .await;
    assert_problem(
        &too_much,
        StatusCode::BAD_REQUEST,
        "refund_exceeds_payment",
        REFUNDS_PATH,
    );
    assert_eq!(
        too_much.json["detail"],
        "The refund amount exceeds the payment amount."
    );
    assert_eq!(too_much.json["title"], "Refund Exceeds Payment");

    let rest = s
        .call("POST", REFUNDS_PATH, Some(json!({"payment_flow_id": id})))
        .await;
    assert_eq!(rest.json["amount"], 5000);
    let none_left = s
        .call(
            "POST",
            REFUNDS_PATH,
            Some(json!({"payment_flow_id": id, "amount": 1})),
        )
        .await;
    assert_eq!(
        none_left.json["type"],
        format!("{TYPE_PREFIX}invalid-status")
    );
    assert_eq!(s.sim.ledger().flows[0].refunded, 6000);

    let fetched = s
        .call("GET", &format!("{REFUNDS_PATH}/{refund_id}"), None)
        .await;
    assert_eq!(fetched.bytes, first.bytes);
    let list = s
        .call("GET", &format!("/v2/payment_flows/{id}/refunds"), None)
        .await;
    assert_eq!(list.json["object"], "list");
    assert_eq!(list.json["has_more"], false);
    assert_eq!(list.json["url"], format!("/v2/payment_flows/{id}/refunds"));
    assert_eq!(list.json["data"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn refund_requests_are_validated() {
    let s = sim();
    let answer = s
        .call(
            "POST",
            REFUNDS_PATH,
            Some(json!({"amount": 0, "reason": "because"})),
        )
        .await;
    assert_problem(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        REFUNDS_PATH,
    );
    let fields: BTreeSet<&str> = answer.json["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        BTreeSet::from(["payment_flow_id", "amount", "reason"])
    );
    let unknown = s
        .call(
            "POST",
            REFUNDS_PATH,
            Some(json!({"payment_flow_id": "pfw_nope"})),
        )
        .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "not_found", REFUNDS_PATH);
}
