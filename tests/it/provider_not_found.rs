//! A provider's 404 is never kessai's `NOT_FOUND`, which means only that
//! kessai has no such order. On Authorize the provider not knowing what it
//! was given is the caller's bad input, named by its field; afterwards the
//! provider not knowing an order kessai has is a discrepancy, flagged.

use kessai::proto::v1;
use kessai::sandbox::faults::{Fault, FaultKind};
use tonic::Code;
use tonic_types::StatusExt;

use crate::db_test;
#[allow(unused_imports)]
use crate::helpers::TestApp;
use crate::helpers::{
    assert_error, payjp_authorize, smartpay_customer, smartpay_shipping, unique_key,
};

fn not_found() -> FaultKind {
    FaultKind::Status {
        status: 404,
        body: serde_json::json!({
            "type": "https://docs.pay.jp/v2/errors/not-found",
            "title": "Not Found",
            "status": 404,
        }),
    }
}

#[track_caller]
fn names_field(status: &tonic::Status, field: &str) {
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.metadata.get("field").map(String::as_str), Some(field));
    let bad = status.get_details_bad_request().expect("BadRequest");
    assert!(
        bad.field_violations.iter().any(|v| v.field == field),
        "{bad:?}"
    );
}

db_test! {
    async fn an_unknown_payment_method_is_the_callers_bad_input(app: TestApp) {
        app.payjp.faults().inject(Fault::new("POST", "/payment_flows", not_found()));
        let status = assert_error(
            app.authorize(payjp_authorize(&unique_key("pm404"), 5_000, "pm_typo")).await,
            Code::InvalidArgument,
            "PAYMENT_METHOD_NOT_FOUND",
        );
        names_field(&status, "payjp.payment_method_id");

        app.smartpay.faults().inject(Fault::new("POST", "/orders", FaultKind::Status {
            status: 404,
            body: serde_json::json!({"statusCode": 404, "errorCode": "token.not-found", "message": "no such token"}),
        }));
        let request = v1::AuthorizeRequest {
            idempotency_key: unique_key("tok404"),
            amount: 3_000,
            currency: "JPY".into(),
            provider_details: Some(v1::authorize_request::ProviderDetails::Smartpay(v1::SmartpayDetails {
                token: "paytok_typo".into(),
                items: vec![v1::SmartpayItem { name: "item".into(), amount: 3_000, quantity: 1, ..Default::default() }],
                customer: smartpay_customer(),
                shipping: smartpay_shipping(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let status = assert_error(app.authorize(request).await, Code::InvalidArgument, "PAYMENT_METHOD_NOT_FOUND");
        names_field(&status, "smartpay.token");
    }
}

db_test! {
    async fn an_order_the_provider_no_longer_knows_is_flagged_not_missing(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        assert!(!order.needs_review);
        app.payjp.faults().inject(Fault::new("POST", "/capture", not_found()));
        assert_error(app.capture(&order.id, Some(1_000), false).await, Code::FailedPrecondition, "PROVIDER_ORDER_NOT_FOUND");
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert!(stored.needs_review, "a person looks at it");
        assert_eq!(stored.amount_captured, 0);

        app.payjp.faults().inject(Fault::new("POST", "/cancel", not_found()));
        assert_error(app.void(&order.id).await, Code::FailedPrecondition, "PROVIDER_ORDER_NOT_FOUND");
        // kessai's own NOT_FOUND still means kessai has no such order.
        assert_error(app.get_order("ord_01J0000000000000000000000Z", false).await, Code::NotFound, "ORDER_NOT_FOUND");
    }
}
