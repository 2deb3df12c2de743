//! PaymentOptions has no idempotency key: an authorization that may have
//! reached it is never sent again, whatever stopped the process that sent
//! it. A crash before or after the provider acted, then the caller's retry
//! with the same key after the lease: the order goes to review, the retry
//! is told the outcome is unknown, and PaymentOptions holds at most one
//! transaction for the order.

use std::time::Duration;

use kessai::proto::v1;
use tonic::Code;

use crate::crash::{Process, Providers, fresh_database, kessai_env, start_kessai};
use crate::paymentoptions_rules::APPROVE;

async fn transactions_for(providers: &Providers, order_id: &str) -> Vec<String> {
    kessai::startup::install_crypto_provider();
    reqwest::get(format!(
        "{}/paymentoptions/_sandbox/transactions/by-ref/{order_id}",
        providers.root
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

async fn crash_then_retry(postgres: bool, point: &str) {
    let Some(database_url) = fresh_database(postgres).await else {
        eprintln!("KESSAI_TEST_DATABASE_URL is not set: the PostgreSQL run is left to .ci/run");
        return;
    };
    let providers = Providers::start().await;
    let env = kessai_env(&database_url, &providers);
    let mut crashing_env = env.clone();
    crashing_env.insert("KESSAI_TEST_CRASH_AT".into(), format!("{point}:1"));
    let (mut crashing, client) = start_kessai(&crashing_env).await;
    let key = format!("po-crash-{point}-{}", ulid::Ulid::new());
    let year = chrono::Datelike::year(&chrono::Utc::now()) + 3;
    let authorize = v1::AuthorizeRequest {
        capture_method: v1::CaptureMethod::Automatic as i32,
        ..crate::helpers::card_authorize(&key, 10_000, APPROVE, "123", year)
    };
    let first = client.clone().authorize(authorize.clone()).await;
    assert!(first.is_err(), "the process aborted at {point}: {first:?}");
    assert!(!crashing.wait_exit().success(), "it aborted");
    drop(crashing);

    let (restarted, client): (Process, _) = start_kessai(&env).await;
    // Past the one-second lease: the dead process's call is up for grabs.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for _ in 0..3 {
        // The reconciler may hold the key a moment: that answer says retry.
        let (retry, _) = crate::helpers::retry_while_aborted(|| {
            let (mut client, request) = (client.clone(), authorize.clone());
            async move { client.authorize(request).await }
        })
        .await;
        let status = retry.expect_err("a call that may have charged is never sent again");
        // Told that a person settles it, not to keep retrying.
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        let info = tonic_types::StatusExt::get_details_error_info(&status).expect("ErrorInfo");
        assert_eq!(info.reason, "NEEDS_REVIEW");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let orders = client
        .clone()
        .list_orders(v1::ListOrdersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .orders;
    assert_eq!(orders.len(), 1);
    let order = &orders[0];
    assert_eq!(order.status(), v1::OrderStatus::Pending);
    assert!(order.needs_review, "a person settles it");
    let sent = transactions_for(&providers, &order.id).await;
    let expected = match point {
        "after_intent_commit" => 0,
        _ => 1,
    };
    assert_eq!(
        sent.len(),
        expected,
        "PaymentOptions transactions for the order after a crash at {point}"
    );
    // Reconciliation passes change nothing either.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        transactions_for(&providers, &order.id).await.len(),
        expected
    );
    drop(restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paymentoptions_charge_left_in_flight_by_a_crash_is_never_sent_again_sqlite() {
    crash_then_retry(false, "after_intent_commit").await;
    crash_then_retry(false, "after_provider_answer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paymentoptions_charge_left_in_flight_by_a_crash_is_never_sent_again_postgres() {
    crash_then_retry(true, "after_intent_commit").await;
    crash_then_retry(true, "after_provider_answer").await;
}
