//! Views of orders kept between reads (`store/view_cache.rs`) answer what
//! the database holds: after each kind of write, made by this replica or
//! another, GetOrder and ListOrders answer as a replica that keeps none.
//! The view a call keeps of what it wrote is the order as stored, and a
//! Capture or Refund decided on a kept view another replica has moved past
//! is decided again on the order as stored. A transaction that writes an
//! order's records without a new version of the order, which would leave a
//! kept view behind the database, is refused.

use kessai::domain::{OrderId, Visibility};
use kessai::proto::v1;
use kessai::store::{Store, StoreError, StoreOptions};
use tonic::transport::Channel;

use crate::db_test;
#[allow(unused_imports)]
use crate::helpers::TestApp;
use crate::helpers::{assert_error, unique_key};

type Client = v1::payment_service_client::PaymentServiceClient<Channel>;

/// What `client` answers for each of `ids` and for the first page.
async fn answers(client: &mut Client, ids: &[&str]) -> (Vec<v1::Order>, Vec<v1::Order>) {
    let mut orders = Vec::new();
    for id in ids {
        let request = v1::GetOrderRequest {
            order_id: id.to_string(),
            ..Default::default()
        };
        orders.push(
            client
                .get_order(request)
                .await
                .unwrap()
                .into_inner()
                .order
                .unwrap(),
        );
    }
    let page = v1::ListOrdersRequest {
        page_size: 50,
        ..Default::default()
    };
    (
        orders,
        client.list_orders(page).await.unwrap().into_inner().orders,
    )
}

/// Each keeping client answers, twice (the second from its kept views),
/// what `reading` answers.
async fn same(keeping: &mut [&mut Client], reading: &mut Client, ids: &[&str], after: &str) {
    let read = answers(reading, ids).await;
    for client in keeping.iter_mut() {
        for time in ["first", "second"] {
            assert_eq!(answers(client, ids).await, read, "{after}, {time} read");
        }
    }
}

db_test! {
    async fn kept_views_answer_what_the_database_holds(app: TestApp) {
        let mut reading = app.replica_setting(&[("KESSAI_ORDER_VIEW_CACHE", "0")]).await;
        let mut other = app.replica().await;
        let mut this = app.client.clone();
        let a = app.authorized_payjp(5_000).await;
        let b = app.authorized_payjp(700).await;
        let ids = [a.id.as_str(), b.id.as_str()];
        let mut keeping = [&mut this, &mut other.client];
        same(&mut keeping, &mut reading.client, &ids, "authorized").await;

        app.capture(&a.id, Some(3_000), false).await.unwrap();
        same(&mut keeping, &mut reading.client, &ids, "captured here").await;

        let refund = v1::RefundRequest {
            idempotency_key: unique_key("kept"),
            order_id: a.id.clone(),
            amount: Some(1_000),
            ..Default::default()
        };
        keeping[1].refund(refund).await.unwrap();
        same(&mut keeping, &mut reading.client, &ids, "refunded by the other replica").await;

        app.void(&b.id).await.unwrap();
        app.refund(&a.id, Some(500)).await.unwrap();
        let (orders, page) = answers(&mut reading.client, &ids).await;
        assert_eq!((orders[0].refunds.len(), orders[0].amount_refunded), (2, 1_500));
        assert_eq!(orders[1].status(), v1::OrderStatus::Voided);
        assert_eq!(page.len(), 2);
        same(&mut keeping, &mut reading.client, &ids, "voided and refunded again").await;

        // A search's page is read whole each time, and answers the same.
        let search = || v1::ListOrdersRequest { query: a.id.clone(), ..Default::default() };
        let found = reading.client.list_orders(search()).await.unwrap().into_inner().orders;
        assert_eq!(found.len(), 1);
        for client in keeping.iter_mut() {
            for _ in 0..2 {
                let again = client.list_orders(search()).await.unwrap().into_inner().orders;
                assert_eq!(again, found);
            }
        }
    }
}

db_test! {
    async fn records_written_without_their_order_are_refused(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        app.capture(&order.id, Some(3_000), false).await.unwrap();
        let id = OrderId::parse(&order.id, "order_id").unwrap();
        let uncached = StoreOptions { order_view_cache: 0, ..StoreOptions::default() };
        let store = Store::connect(&app.database_url, &uncached).await.unwrap();
        let read = store.order_view(&id, &Visibility::All).await.unwrap().unwrap();
        let mut capture = read.captures[0].clone();
        capture.description = "changed without the order".into();

        let tx = app.store.begin().await.unwrap();
        tx.save_capture(&capture).await.unwrap();
        match tx.commit().await {
            Err(StoreError::Database(message)) => assert!(message.contains(&order.id), "{message}"),
            other => panic!("a record without its order's new version: {other:?}"),
        }
        let after = store.order_view(&id, &Visibility::All).await.unwrap().unwrap();
        assert_eq!(after, read, "nothing was written");

        let tx = app.store.begin().await.unwrap();
        let locked = tx.lock_order(&id).await.unwrap().unwrap();
        let saved = tx.save_order(&locked, locked.updated_at).await.unwrap();
        tx.save_capture(&capture).await.unwrap();
        tx.commit().await.unwrap();
        let after = store.order_view(&id, &Visibility::All).await.unwrap().unwrap();
        assert_eq!(after.captures[0].description, "changed without the order");
        assert_eq!(after.order.version, saved.version);
        assert_eq!(saved.version, read.order.version + 1);
    }
}

/// The view `app` keeps of `order` (written by its last call, no read
/// since) is the order as the database holds it, records included.
async fn assert_kept_as_stored(app: &TestApp, store: &Store, order: &v1::Order, after: &str) {
    let id = OrderId::parse(&order.id, "order_id").unwrap();
    let kept = app.store.order_view_kept(&id, &Visibility::All);
    let stored = store.order_view_whole(&id, &Visibility::All).await.unwrap();
    assert!(kept.is_some(), "{after}: the answer's view is kept");
    assert_eq!(kept, stored, "{after}: the kept view is the stored order");
}

db_test! {
    async fn each_answer_kept_is_the_order_as_stored(app: TestApp) {
        let uncached = StoreOptions { order_view_cache: 0, ..StoreOptions::default() };
        let store = Store::connect(&app.database_url, &uncached).await.unwrap();

        let payjp = app.authorized_payjp(5_000).await;
        assert_kept_as_stored(&app, &store, &payjp, "a PAY.JP authorization").await;
        let answer = app.capture(&payjp.id, Some(2_000), false).await.unwrap();
        assert_kept_as_stored(&app, &store, &answer, "a PAY.JP capture").await;
        let answer = app.refund(&payjp.id, Some(500)).await.unwrap();
        assert_kept_as_stored(&app, &store, &answer, "a PAY.JP refund").await;

        let mut automatic = crate::requests::payjp_authorize(&unique_key("auth"), 3_000, "pm_test_approve");
        automatic.capture_method = v1::CaptureMethod::Automatic as i32;
        let answer = app.authorize(automatic).await.unwrap();
        assert_eq!((answer.status(), answer.captures.len()), (v1::OrderStatus::Captured, 1));
        assert_kept_as_stored(&app, &store, &answer, "an automatic capture").await;

        let declined = crate::requests::payjp_authorize(&unique_key("auth"), 3_000, "pm_test_decline");
        let answer = app.authorize(declined).await.unwrap();
        assert_eq!(answer.status(), v1::OrderStatus::Declined);
        assert_kept_as_stored(&app, &store, &answer, "a decline").await;

        let smartpay = crate::requests::smartpay_token_authorize(&unique_key("auth"), 10_000, "paytok_test_approved");
        let smartpay = app.authorize(smartpay).await.unwrap();
        assert_kept_as_stored(&app, &store, &smartpay, "a Smartpay authorization").await;
        for (call, amount) in [("a first capture", 6_000), ("a second capture", 3_000)] {
            let answer = app.capture(&smartpay.id, Some(amount), false).await.unwrap();
            assert_kept_as_stored(&app, &store, &answer, call).await;
        }
        for (call, amount) in [("a first refund", 2_000), ("a second refund", 1_000)] {
            let answer = app.refund(&smartpay.id, Some(amount)).await.unwrap();
            assert_kept_as_stored(&app, &store, &answer, call).await;
        }

        let card = crate::helpers::card_authorize(
            &unique_key("auth"), 4_000, crate::paymentoptions_rules::APPROVE, "123", 2099,
        );
        let card = app.authorize(card).await.unwrap();
        assert_kept_as_stored(&app, &store, &card, "a card authorization").await;
        let answer = app.void(&card.id).await.unwrap();
        assert_eq!(answer.status(), v1::OrderStatus::Voided);
        assert_kept_as_stored(&app, &store, &answer, "a void").await;
    }
}

db_test! {
    async fn a_kept_view_another_replica_moved_past_decides_nothing(app: TestApp) {
        // This replica keeps the view its Authorize answered with; another
        // captures most of the order. A capture decided on the kept view
        // would fit the amount; on the order as stored it does not.
        let other = app.replica().await;
        let order = crate::requests::smartpay_token_authorize(&unique_key("auth"), 10_000, "paytok_test_approved");
        let order = app.authorize(order).await.unwrap();
        let id = OrderId::parse(&order.id, "order_id").unwrap();
        let capture = |amount: i64| v1::CaptureRequest {
            idempotency_key: unique_key("kept"),
            order_id: order.id.clone(),
            amount: Some(amount),
            ..Default::default()
        };
        other.client.clone().capture(capture(7_000)).await.unwrap();
        let kept = app.store.order_view_kept(&id, &Visibility::All).unwrap();
        assert_eq!(kept.order.state.captured, 0, "the view kept here is older");

        let refused = app.capture(&order.id, Some(5_000), false).await;
        assert_error(refused, tonic::Code::FailedPrecondition, "AMOUNT_EXCEEDS_CAPTURABLE");
        let answer = app.capture(&order.id, Some(3_000), false).await.unwrap();
        assert_eq!((answer.amount_captured, answer.captures.len()), (10_000, 2));

        // And a refund decided here after the other replica refunded.
        let refund = |amount: i64| v1::RefundRequest {
            idempotency_key: unique_key("kept"),
            order_id: order.id.clone(),
            amount: Some(amount),
            ..Default::default()
        };
        other.client.clone().refund(refund(8_000)).await.unwrap();
        let refused = app.refund(&order.id, Some(3_000)).await;
        assert_error(refused, tonic::Code::FailedPrecondition, "AMOUNT_EXCEEDS_REFUNDABLE");
        let answer = app.refund(&order.id, Some(2_000)).await.unwrap();
        assert_eq!((answer.amount_refunded, answer.refunds.len()), (10_000, 2));
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(stored, answer);
    }
}
