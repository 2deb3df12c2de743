//! A retried call never creates a second order or a second provider request.

use std::time::Duration;

use kessai::proto::v1::OrderStatus;
use tonic::Code;

use crate::db_test;
use crate::helpers::{assert_error, payjp_authorize, unique_key};

db_test! {
    async fn a_retried_authorize_returns_the_same_order(app: TestApp) {
        let key = unique_key("auth");
        let first = app.authorize(payjp_authorize(&key, 1_000, "pm_test_approve")).await.unwrap();
        let second = app.authorize(payjp_authorize(&key, 1_000, "pm_test_approve")).await.unwrap();
        assert_eq!(first.id, second.id);
        assert_eq!(app.payjp.ledger().flows.len(), 1, "one payment flow at PAY.JP");
        assert_eq!(app.count("orders").await, 1);
    }
}

db_test! {
    async fn the_same_key_with_other_parameters_is_refused(app: TestApp) {
        let key = unique_key("auth");
        app.authorize(payjp_authorize(&key, 1_000, "pm_test_approve")).await.unwrap();
        assert_error(
            app.authorize(payjp_authorize(&key, 2_000, "pm_test_approve")).await,
            Code::AlreadyExists,
            "IDEMPOTENCY_KEY_REUSED",
        );
        let order = app.authorized_payjp(1_000).await;
        // The same key for another RPC is another request too.
        assert_error(app.capture_with_key(&key, &order.id, None, false).await, Code::AlreadyExists, "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(app.payjp.ledger().flows.len(), 2);
    }
}

db_test! {
    async fn a_retried_capture_captures_once(app: TestApp) {
        let order = app.authorized_payjp(10_000).await;
        let key = unique_key("cap");
        let first = app.capture_with_key(&key, &order.id, Some(3_000), false).await.unwrap();
        let calls = app.payjp.requests_seen();
        let second = app.capture_with_key(&key, &order.id, Some(3_000), false).await.unwrap();
        assert_eq!(second.amount_captured, 3_000);
        assert_eq!(second.captures.len(), 1);
        assert_eq!(first.captures[0].id, second.captures[0].id);
        assert_eq!(app.payjp.requests_seen(), calls, "the replay does not call PAY.JP");
    }
}

db_test! {
    async fn an_error_after_the_provider_answered_is_replayed(app: TestApp) {
        use kessai::sandbox::faults::{Fault, FaultKind};
        let order = app.authorized_payjp(5_000).await;
        let body = serde_json::from_str(include_str!("../fixtures/payjp/error.400.invalid_status.json")).unwrap();
        app.payjp.faults().inject(Fault::new("POST", "/capture", FaultKind::Status { status: 400, body }));
        let key = unique_key("cap");
        assert_error(app.capture_with_key(&key, &order.id, None, false).await, Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED");
        let calls = app.payjp.requests_seen();
        assert_error(app.capture_with_key(&key, &order.id, None, false).await, Code::FailedPrecondition, "CAPTURE_NOT_ALLOWED");
        assert_eq!(app.payjp.requests_seen(), calls, "the stored outcome is replayed");
    }
}

db_test! {
    async fn a_duplicate_in_flight_is_told_to_retry_later_and_pays_once(app: TestApp) {
        let order = app.authorized_payjp(10_000).await;
        app.payjp.faults().set_latency(Duration::from_millis(600));
        let key = unique_key("cap");
        let calls = app.payjp.requests_seen();
        let attempts = (0..4).map(|_| {
            let app_client = app.client.clone();
            let key = key.clone();
            let id = order.id.clone();
            async move {
                let mut client = app_client;
                client
                    .capture(kessai::proto::v1::CaptureRequest {
                        idempotency_key: key,
                        order_id: id,
                        amount: Some(1_000),
                        ..Default::default()
                    })
                    .await
            }
        });
        let results = futures::future::join_all(attempts).await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let aborted = results
            .iter()
            .filter(|r| matches!(r, Err(s) if s.code() == Code::Aborted))
            .count();
        assert_eq!((ok, aborted), (1, 3), "{results:?}");
        assert_eq!(app.payjp.requests_seen(), calls + 1, "exactly one provider call");
        app.payjp.faults().clear();
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!((stored.status(), stored.amount_captured), (OrderStatus::PartiallyCaptured, 1_000));
    }
}

db_test! {
    async fn concurrent_authorizes_with_one_key_make_one_order_and_one_provider_call(app: TestApp) {
        // The claim goes with the intent's writes (PostgreSQL: one
        // statement); the callers that lose it learn who holds it and are
        // told to retry, or get the order once it is settled.
        app.payjp.faults().set_latency(Duration::from_millis(400));
        let key = unique_key("auth");
        let attempts = (0..6).map(|_| {
            let mut client = app.client.clone();
            let request = payjp_authorize(&key, 1_000, "pm_test_approve");
            async move { client.authorize(request).await }
        });
        let results = futures::future::join_all(attempts).await;
        app.payjp.faults().clear();
        let orders: std::collections::BTreeSet<String> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|answer| answer.get_ref().order.as_ref().unwrap().id.clone())
            .collect();
        assert_eq!(orders.len(), 1, "{results:?}");
        assert!(
            results.iter().all(|r| r.is_ok() || matches!(r, Err(s) if s.code() == Code::Aborted)),
            "{results:?}"
        );
        assert_eq!(app.count("orders").await, 1);
        assert_eq!(app.payjp.ledger().flows.len(), 1, "one payment flow at PAY.JP");
        let again = app.authorize(payjp_authorize(&key, 1_000, "pm_test_approve")).await.unwrap();
        assert_eq!(Some(&again.id), orders.iter().next());
    }
}
