//! Views of orders kept between reads (`store/view_cache.rs`) answer what
//! the database holds: after each kind of write, made by this replica or
//! another, GetOrder and ListOrders answer as a replica that keeps none.
//! A transaction that writes an order's records without a new version of
//! the order, which would leave a kept view behind the database, is
//! refused.

use kessai::domain::{OrderId, Visibility};
use kessai::proto::v1;
use kessai::store::{Store, StoreError, StoreOptions};
use tonic::transport::Channel;

use crate::db_test;

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
            idempotency_key: crate::helpers::unique_key("kept"),
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
