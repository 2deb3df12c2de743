//! Under any concurrency — a hundred calls at once, split across two kessai
//! processes on one database — captured never exceeds authorized and
//! refunded never exceeds captured: exactly the calls that fit succeed.

use kessai::proto::v1;
use tonic::Code;
use tonic_types::StatusExt;

use crate::db_test;
use crate::helpers::{TestApp, unique_key};

async fn smartpay_token_order(app: &TestApp, amount: i64) -> v1::Order {
    let request = crate::helpers::smartpay_token_authorize(
        &unique_key("auth"),
        amount,
        "paytok_test_approved",
    );
    app.authorize(request).await.unwrap()
}

/// Counts successes and the reasons of the refusals.
fn tally<T: std::fmt::Debug>(results: &[Result<T, tonic::Status>]) -> (usize, Vec<String>) {
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let reasons = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|s| {
            let reason = s.get_details_error_info().unwrap().reason;
            if reason == "OPERATION_IN_PROGRESS" {
                // Another call on the order is deciding: retrying succeeds.
                assert_eq!(s.code(), Code::Aborted, "{s:?}");
                assert!(s.get_details_retry_info().is_some(), "{s:?}");
            } else {
                assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
            }
            reason
        })
        .collect();
    (ok, reasons)
}

db_test! {
    async fn a_hundred_concurrent_captures_and_refunds_take_exactly_what_fits(app: TestApp) {
        let replica = app.replica().await;
        let order = smartpay_token_order(&app, 10_000).await;
        // 100 × 150 asked of 10,000: 66 fit (9,900), 34 do not.
        let captures = (0..100).map(|i| {
            let mut client = if i % 2 == 0 { app.client.clone() } else { replica.client.clone() };
            let request = v1::CaptureRequest {
                idempotency_key: format!("concurrent-capture-{i}"),
                order_id: order.id.clone(),
                amount: Some(150),
                ..Default::default()
            };
            async move { client.capture(request).await }
        });
        let results = futures::future::join_all(captures).await;
        let (ok, refused) = tally(&results);
        assert_eq!(ok, 66, "{refused:?}");
        assert!(refused.iter().all(|r| r == "AMOUNT_EXCEEDS_CAPTURABLE" || r == "OPERATION_IN_PROGRESS"), "{refused:?}");
        let captured = app.get_order(&order.id, false).await.unwrap();
        assert_eq!((captured.amount_captured, captured.amount_capturable), (9_900, 100));
        let ledger = app.smartpay.ledger().orders.into_iter().find(|o| o.id == order.provider_order_id).unwrap();
        assert_eq!((ledger.captured, ledger.payments.len()), (9_900, 66), "Smartpay agrees");

        // 100 × 150 asked back of 9,900: 66 fit, 34 do not.
        let refunds = (0..100).map(|i| {
            let mut client = if i % 2 == 0 { replica.client.clone() } else { app.client.clone() };
            let request = v1::RefundRequest {
                idempotency_key: format!("concurrent-refund-{i}"),
                order_id: order.id.clone(),
                amount: Some(150),
                ..Default::default()
            };
            async move { client.refund(request).await }
        });
        let results = futures::future::join_all(refunds).await;
        let (ok, refused) = tally(&results);
        assert_eq!(ok, 66, "{refused:?}");
        assert!(refused.iter().all(|r| r == "AMOUNT_EXCEEDS_REFUNDABLE" || r == "REFUND_NOT_ALLOWED"), "{refused:?}");
        let refunded = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(refunded.amount_refunded, 9_900);
        let ledger = app.smartpay.ledger().orders.into_iter().find(|o| o.id == order.provider_order_id).unwrap();
        assert_eq!(ledger.refunded, 9_900, "Smartpay agrees");
        assert!(ledger.payments.iter().all(|p| p.refunded == p.amount));
    }
}

db_test! {
    async fn concurrent_partial_captures_at_payjp_let_exactly_one_through(app: TestApp) {
        let replica = app.replica().await;
        let order = app.authorized_payjp(10_000).await;
        let captures = (0..20).map(|i| {
            let mut client = if i % 2 == 0 { app.client.clone() } else { replica.client.clone() };
            let request = v1::CaptureRequest {
                idempotency_key: format!("payjp-partial-{i}"),
                order_id: order.id.clone(),
                amount: Some(1_000),
                ..Default::default()
            };
            async move { client.capture(request).await }
        });
        let results = futures::future::join_all(captures).await;
        let (ok, refused) = tally(&results);
        assert_eq!(ok, 1, "{refused:?}");
        assert!(
            refused.iter().all(|r| r == "OPERATION_IN_PROGRESS" || r == "PARTIAL_CAPTURE_NOT_ALLOWED"),
            "{refused:?}"
        );
        assert_eq!(app.ledger_flow(&order.provider_order_id).captured, 1_000);
    }
}
