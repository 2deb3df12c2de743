//! Callers see their own orders: one owner per order, shared by the
//! callers configured with it, and every order with `orders:all`.

use kessai::proto::v1;
use tonic::Code;

use crate::customer_search;
use crate::helpers::{assert_error, payjp_authorize, unique_key};
use crate::security::{
    CHECKOUT, CHECKOUT_TWIN, OPERATOR, OTHER_SHOP, REFUNDS, as_caller, authorize_as, with_auth,
};

#[tokio::test]
async fn a_caller_sees_and_acts_on_its_owners_orders_only() {
    let app = with_auth(&[]).await;
    let order = authorize_as(&app, CHECKOUT, &unique_key("a"))
        .await
        .unwrap();
    let theirs = authorize_as(&app, OTHER_SHOP, &unique_key("b"))
        .await
        .unwrap();
    let mut client = app.client.clone();
    let get = |token: &str, id: &str| {
        as_caller(
            token,
            v1::GetOrderRequest {
                order_id: id.into(),
                ..Default::default()
            },
        )
    };

    // Another owner: not found, as if the order did not exist, and nothing moves.
    assert_error(
        client.get_order(get(OTHER_SHOP, &order.id)).await,
        Code::NotFound,
        "ORDER_NOT_FOUND",
    );
    let capture = v1::CaptureRequest {
        idempotency_key: unique_key("c"),
        order_id: order.id.clone(),
        ..Default::default()
    };
    assert_error(
        client.capture(as_caller(OTHER_SHOP, capture)).await,
        Code::NotFound,
        "ORDER_NOT_FOUND",
    );
    let void = v1::VoidRequest {
        idempotency_key: unique_key("v"),
        order_id: order.id.clone(),
    };
    assert_error(
        client.void(as_caller(OTHER_SHOP, void)).await,
        Code::NotFound,
        "ORDER_NOT_FOUND",
    );
    let watch = v1::WatchOrderEventsRequest {
        order_id: order.id.clone(),
        ..Default::default()
    };
    assert_error(
        client
            .watch_order_events(as_caller(OTHER_SHOP, watch))
            .await
            .map(|_| ()),
        Code::NotFound,
        "ORDER_NOT_FOUND",
    );
    let listed = listed_as(&app, OTHER_SHOP, v1::ListOrdersRequest::default()).await;
    assert_eq!(listed, std::slice::from_ref(&theirs.id));
    let mut stream = client
        .watch_order_events(as_caller(
            OTHER_SHOP,
            v1::WatchOrderEventsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    // Events written while the stream is open come from the shared feed:
    // the shop's new order must not reach the other shop either.
    let later = authorize_as(&app, CHECKOUT, &unique_key("later"))
        .await
        .unwrap();
    while let Ok(Some(Ok(event))) = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        futures::StreamExt::next(&mut stream),
    )
    .await
    {
        assert_eq!(
            event.event.unwrap().order_id,
            theirs.id,
            "only its own orders' events"
        );
    }
    assert_eq!(app.count("captures").await, 0);
    let unchanged = client
        .get_order(get(CHECKOUT, &order.id))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(unchanged.status(), v1::OrderStatus::Authorized);

    // The shop's other callers share its owner: support refunds what checkout charged.
    let capture = v1::CaptureRequest {
        idempotency_key: unique_key("c"),
        order_id: order.id.clone(),
        ..Default::default()
    };
    client
        .capture(as_caller(CHECKOUT_TWIN, capture))
        .await
        .expect("a caller of the same owner");
    let refund = v1::RefundRequest {
        idempotency_key: unique_key("r"),
        order_id: order.id.clone(),
        amount: Some(1_000),
        ..Default::default()
    };
    client
        .refund(as_caller(REFUNDS, refund))
        .await
        .expect("support refunds the shop's order");

    // The operator sees every owner's orders.
    let all = client
        .list_orders(as_caller(OPERATOR, v1::ListOrdersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.orders.len(), 3, "{later:?}");
    client
        .get_order(get(OPERATOR, &theirs.id))
        .await
        .expect("orders:all");
}

/// The ids of the orders `token`'s caller is listed for `request`.
async fn listed_as(
    app: &crate::helpers::TestApp,
    token: &str,
    request: v1::ListOrdersRequest,
) -> Vec<String> {
    let answer = app
        .client
        .clone()
        .list_orders(as_caller(token, request))
        .await;
    let orders = answer.unwrap().into_inner().orders;
    orders.into_iter().map(|o| o.id).collect()
}

/// The same shopper at two shops: a search never reaches the other shop's
/// order, whichever way it is asked (by e-mail, by name, by its id or its
/// provider order id; through the index or by walking), on both databases.
async fn searches_find_the_callers_own_orders_only(app: crate::helpers::TestApp) {
    let order_as = |token: &'static str| {
        let mut request = payjp_authorize(&unique_key("a"), 5_000, "pm_test_approve");
        request.customer = customer_search::customer("hanako.sato@example.jp", "佐藤 花子", "");
        request.merchant_reference = "cart-77".into();
        let mut client = app.client.clone();
        async move {
            let answer = client.authorize(as_caller(token, request)).await;
            answer.unwrap().into_inner().order.unwrap()
        }
    };
    let mine = order_as(CHECKOUT).await;
    let theirs = order_as(OTHER_SHOP).await;
    let search = |token, request| listed_as(&app, token, request);
    let requests = [
        v1::ListOrdersRequest {
            customer_email: "hanako.sato@".into(),
            ..Default::default()
        },
        v1::ListOrdersRequest {
            customer_name: "佐藤".into(),
            ..Default::default()
        },
        v1::ListOrdersRequest {
            query: "cart-77".into(),
            ..Default::default()
        },
    ];
    for request in requests {
        assert_eq!(
            search(OTHER_SHOP, request.clone()).await,
            std::slice::from_ref(&theirs.id)
        );
        assert_eq!(
            search(CHECKOUT, request.clone()).await,
            std::slice::from_ref(&mine.id)
        );
        assert_eq!(
            search(OPERATOR, request).await,
            [theirs.id.clone(), mine.id.clone()]
        );
    }
    for query in [mine.id.clone(), mine.provider_order_id.clone()] {
        let request = v1::ListOrdersRequest {
            query,
            ..Default::default()
        };
        assert!(search(OTHER_SHOP, request.clone()).await.is_empty());
        assert_eq!(
            search(CHECKOUT, request).await,
            std::slice::from_ref(&mine.id)
        );
    }
}

#[tokio::test]
async fn searches_find_the_callers_own_orders_only_on_sqlite() {
    searches_find_the_callers_own_orders_only(with_auth(&[]).await).await;
}

#[tokio::test]
async fn searches_find_the_callers_own_orders_only_on_postgres() {
    if std::env::var("KESSAI_TEST_DATABASE_URL").is_err() {
        eprintln!("KESSAI_TEST_DATABASE_URL is not set: the PostgreSQL run is left to .ci/run");
        return;
    }
    let url = crate::helpers::fresh_database(crate::helpers::Backend::Postgres).await;
    searches_find_the_callers_own_orders_only(with_auth(&[("KESSAI_DATABASE_URL", &url)]).await)
        .await;
}
