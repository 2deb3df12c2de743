//! A replica runs a bounded number of money operations at once: beyond it a
//! call waits for a place, then is refused `RESOURCE_EXHAUSTED` `OVERLOADED`
//! before anything is recorded, so its retry is a first call. Reads are not
//! held back.

use std::time::Duration;

use kessai::proto::v1;
use kessai::sandbox::faults::{Fault, FaultKind};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{
    Backend, TestApp, assert_error, base_env, fresh_database, payjp_authorize, unique_key,
};

/// kessai with one place for money operations, refusing after 300 ms.
async fn one_place() -> TestApp {
    let mut env = base_env(&fresh_database(Backend::Sqlite).await);
    env.insert("KESSAI_MAX_OPERATIONS".into(), "1".into());
    env.insert("KESSAI_ADMISSION_WAIT_MS".into(), "300".into());
    TestApp::spawn_with(env).await
}

/// Waits until the one place is taken by a call PAY.JP is holding.
async fn until_running(app: &TestApp, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.payments.operations_running() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "the operation never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Starts an Authorize that PAY.JP answers `ms` late and waits until it
/// holds the one place.
async fn take_the_place(
    app: &TestApp,
    ms: u64,
) -> tokio::task::JoinHandle<Result<tonic::Response<v1::AuthorizeResponse>, tonic::Status>> {
    app.payjp
        .faults()
        .inject(Fault::new("POST", "/payment_flows", FaultKind::DelayAfterActing { ms }).times(1));
    let mut client = app.client.clone();
    let slow = tokio::spawn(async move {
        let request = payjp_authorize(&unique_key("slow"), 2_000, "pm_test_approve");
        client.authorize(request).await
    });
    until_running(app, 1).await;
    slow
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_beyond_the_limit_is_refused_without_a_trace_and_its_retry_is_a_first_call() {
    let app = one_place().await;
    let seeded = app.authorized_payjp(1_000).await;
    let slow = take_the_place(&app, 1_000).await;

    let key = unique_key("refused");
    let started = std::time::Instant::now();
    let status = assert_error(
        app.authorize(payjp_authorize(&key, 3_000, "pm_test_approve"))
            .await,
        Code::ResourceExhausted,
        "OVERLOADED",
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it waited for a place first"
    );
    assert!(
        status.get_details_retry_info().is_some(),
        "told when to retry: {status:?}"
    );
    // Reads are answered while every place is taken.
    app.get_order(&seeded.id, false)
        .await
        .expect("GetOrder while full");

    let slow = slow
        .await
        .unwrap()
        .expect("the slow call completes")
        .into_inner()
        .order
        .unwrap();
    assert_eq!(slow.status(), v1::OrderStatus::Authorized);
    let retried = app
        .authorize(payjp_authorize(&key, 3_000, "pm_test_approve"))
        .await
        .expect("the retry is a first call");
    assert_eq!(retried.status(), v1::OrderStatus::Authorized);
    assert_eq!(
        app.payjp.ledger().flows.len(),
        3,
        "the refused call reached no provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gives_up_while_waiting_for_a_place_leaves_nothing_behind() {
    let app = one_place().await;
    let slow = take_the_place(&app, 800).await;
    let mut request = tonic::Request::new(payjp_authorize(
        &unique_key("gone"),
        3_000,
        "pm_test_approve",
    ));
    request.set_timeout(Duration::from_millis(100));
    let gone = app
        .client
        .clone()
        .authorize(request)
        .await
        .expect_err("it gave up");
    assert!(
        matches!(gone.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{gone:?}"
    );

    slow.await.unwrap().expect("the slow call completes");
    // Nothing was queued behind it: no order, no provider call, no task.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.payments.operations_running(), 0);
    let page = app
        .client
        .clone()
        .list_orders(v1::ListOrdersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.orders.len(), 1, "only the slow call's order");
    assert_eq!(app.payjp.ledger().flows.len(), 1);
}
