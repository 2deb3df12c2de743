//! Bad input gets the right code and an `ErrorInfo` reason, and writes
//! nothing.

use kessai::proto::v1;
use tonic::Code;
use tonic_types::StatusExt;

use crate::db_test;
use crate::helpers::{assert_error, payjp_authorize, unique_key};

db_test! {
    async fn idempotency_keys_must_be_present_short_and_plain(app: TestApp) {
        for key in [String::new(), "k".repeat(256), "has space".into(), "キー".into()] {
            let status = assert_error(
                app.authorize(payjp_authorize(&key, 1_000, "pm_test_approve")).await,
                Code::InvalidArgument,
                "INVALID_IDEMPOTENCY_KEY",
            );
            assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "idempotency_key");
        }
        assert_eq!(app.count("orders").await, 0);
        assert_eq!(app.count("idempotency_keys").await, 0);
    }
}

db_test! {
    async fn amounts_must_be_positive_and_bounded(app: TestApp) {
        for amount in [0, -1, i64::MIN, i64::MAX, 1_000_000_000_000] {
            assert_error(
                app.authorize(payjp_authorize(&unique_key("auth"), amount, "pm_test_approve")).await,
                Code::InvalidArgument,
                "INVALID_AMOUNT",
            );
        }
        // Within kessai's bounds but outside PAY.JP's 50–9,999,999.
        for amount in [49, 10_000_000] {
            assert_error(
                app.authorize(payjp_authorize(&unique_key("auth"), amount, "pm_test_approve")).await,
                Code::InvalidArgument,
                "INVALID_AMOUNT",
            );
        }
        let order = app.authorized_payjp(1_000).await;
        for amount in [0, -5, i64::MAX] {
            assert_error(app.capture(&order.id, Some(amount), false).await, Code::InvalidArgument, "INVALID_AMOUNT");
            assert_error(app.refund(&order.id, Some(amount)).await, Code::InvalidArgument, "INVALID_AMOUNT");
        }
        assert_eq!(app.count("orders").await, 1);
        assert_eq!(app.count("captures").await, 0);
        assert_eq!(app.count("refunds").await, 0);
    }
}

db_test! {
    async fn currencies_must_be_known_and_accepted_by_the_provider(app: TestApp) {
        for currency in ["", "jpy", "YEN", "XYZ", "USD"] {
            let mut request = payjp_authorize(&unique_key("auth"), 1_000, "pm_test_approve");
            request.currency = currency.into();
            assert_error(app.authorize(request).await, Code::InvalidArgument, "INVALID_CURRENCY");
        }
        assert_eq!(app.count("orders").await, 0);
    }
}

db_test! {
    async fn unknown_and_malformed_order_ids(app: TestApp) {
        let unknown = kessai::domain::OrderId::generate().to_string();
        assert_error(app.get_order(&unknown, false).await, Code::NotFound, "ORDER_NOT_FOUND");
        assert_error(app.capture(&unknown, None, false).await, Code::NotFound, "ORDER_NOT_FOUND");
        assert_error(app.refund(&unknown, None).await, Code::NotFound, "ORDER_NOT_FOUND");
        assert_error(app.void(&unknown).await, Code::NotFound, "ORDER_NOT_FOUND");
        for bad in ["", "ord_123", "cap_01J00000000000000000000000", "1; DROP TABLE orders"] {
            assert_error(app.get_order(bad, false).await, Code::InvalidArgument, "INVALID_ORDER_ID");
        }
        // A refused call leaves no half-written record, not even its key.
        assert_eq!(app.count("idempotency_keys").await, 0);
        assert_eq!(app.count("captures").await, 0);
    }
}

db_test! {
    async fn provider_details_are_required(app: TestApp) {
        let mut request = payjp_authorize(&unique_key("auth"), 1_000, "pm_test_approve");
        request.provider_details = None;
        assert_error(app.authorize(request).await, Code::InvalidArgument, "MISSING_PROVIDER_DETAILS");
        assert_eq!(app.count("orders").await, 0);
    }
}

#[tokio::test]
async fn a_provider_without_credentials_is_not_configured() {
    let url = crate::helpers::fresh_sqlite();
    let mut env = crate::helpers::base_env(&url);
    env.insert("KESSAI_SMARTPAY_SECRET_KEY".into(), String::new());
    let app = crate::helpers::TestApp::spawn_with(env).await;
    let request = crate::helpers::smartpay_token_authorize(
        &unique_key("auth"),
        1_000,
        "paytok_test_approved",
    );
    assert_error(
        app.authorize(request).await,
        Code::FailedPrecondition,
        "PROVIDER_NOT_CONFIGURED",
    );
    assert_eq!(app.count("orders").await, 0);
    // PAY.JP, configured, still works.
    app.authorized_payjp(1_000).await;
}

db_test! {
    async fn several_bad_fields_are_reported_together(app: TestApp) {
        let request = v1::AuthorizeRequest {
            idempotency_key: String::new(),
            amount: 0,
            currency: "yen".into(),
            metadata: [("k".repeat(41), "v".into())].into(),
            ..Default::default()
        };
        let status = app.authorize(request).await.unwrap_err();
        let fields: Vec<String> = status
            .get_details_bad_request()
            .unwrap()
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields.len(), 5, "{fields:?}");
    }
}

db_test! {
    async fn list_orders_checks_its_page_size_and_token(app: TestApp) {
        let mut client = app.client.clone();
        let bad_size = client.list_orders(v1::ListOrdersRequest { page_size: 201, ..Default::default() }).await;
        assert_error(bad_size, Code::InvalidArgument, "INVALID_ARGUMENT");
        let bad_token = client
            .list_orders(v1::ListOrdersRequest { page_token: "not-a-token".into(), ..Default::default() })
            .await;
        assert_error(bad_token, Code::InvalidArgument, "INVALID_PAGE_TOKEN");
    }
}

db_test! {
    async fn a_page_token_cannot_be_forged_or_moved_to_another_listing(app: TestApp) {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for _ in 0..3 {
            app.authorized_payjp(1_000).await;
        }
        let mut client = app.client.clone();
        let first = client.list_orders(v1::ListOrdersRequest { page_size: 1, ..Default::default() }).await.unwrap().into_inner();
        let token = first.next_page_token;
        let next = v1::ListOrdersRequest { page_size: 1, page_token: token.clone(), ..Default::default() };
        let second = client.list_orders(next.clone()).await.unwrap().into_inner();
        assert_ne!(second.orders[0].id, first.orders[0].id);

        // The cursor rewritten to start elsewhere, the signature kept.
        let (payload, tag) = token.split_once('.').expect("a signed token");
        let mut cursor: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        cursor["before"] = serde_json::Value::String(kessai::domain::OrderId::generate().to_string());
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap()));
        let forged = client.list_orders(v1::ListOrdersRequest { page_token: forged, ..next.clone() }).await;
        assert_error(forged, Code::InvalidArgument, "INVALID_PAGE_TOKEN");
        // The same token for another query.
        let other = v1::ListOrdersRequest { needs_review: true, ..next };
        assert_error(client.list_orders(other).await, Code::InvalidArgument, "INVALID_PAGE_TOKEN");
    }
}

db_test! {
    async fn list_orders_refuses_dates_outside_a_timestamps_range(app: TestApp) {
        use prost_types::Timestamp;
        let mut client = app.client.clone();
        // Before year 1 and after 9999 (PostgreSQL cannot compare the first).
        for seconds in [-200_000_000_000_i64, -62_135_596_801, 253_402_300_800] {
            let at = Some(Timestamp { seconds, nanos: 0 });
            for request in [
                v1::ListOrdersRequest { created_after: at, ..Default::default() },
                v1::ListOrdersRequest { created_before: at, ..Default::default() },
            ] {
                assert_error(client.list_orders(request).await, Code::InvalidArgument, "INVALID_ARGUMENT");
            }
        }
        let nanos = Some(Timestamp { seconds: 0, nanos: 1_000_000_000 });
        let request = v1::ListOrdersRequest { created_after: nanos, ..Default::default() };
        assert_error(client.list_orders(request).await, Code::InvalidArgument, "INVALID_ARGUMENT");
        // The range's own ends are fine.
        for seconds in [-62_135_596_800_i64, 253_402_300_799] {
            let request = v1::ListOrdersRequest { created_after: Some(Timestamp { seconds, nanos: 0 }), ..Default::default() };
            client.list_orders(request).await.expect("a timestamp inside the range");
        }
    }
}

db_test! {
    async fn caller_input_quoted_in_an_error_is_cut_short(app: TestApp) {
        let mut request = payjp_authorize(&unique_key("auth"), 1_000, "pm_test_approve");
        request.metadata = [("k".repeat(10_000), "v".into())].into();
        request.currency = "X".repeat(10_000);
        let status = assert_error(app.authorize(request).await, Code::InvalidArgument, "INVALID_CURRENCY");
        let violations = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(violations.len(), 2, "{violations:?}");
        for violation in &violations {
            assert!(violation.field.chars().count() <= 200 && violation.description.chars().count() <= 200, "{violation:?}");
        }
        assert!(status.message().len() < 1_000, "{} bytes", status.message().len());
        assert_eq!(app.count("orders").await, 0);
    }
}
