//! One order read as GetOrder reads it and as a ListOrders page reads it,
//! on SQLite on the calling thread, is the order the driver reads: every
//! field, its captures and its refunds, and only for whoever may see it.

use kessai::domain::{OrderId, OrderView, SearchTerm, Visibility};
use kessai::store::{ListOrder, OrderFilter, Store, StoreOptions};

use crate::db_test;

db_test! {
    async fn getorder_reads_what_a_listorders_page_reads(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        app.capture(&order.id, Some(3_000), true).await.unwrap();
        app.refund(&order.id, Some(1_000)).await.unwrap();
        app.refund(&order.id, Some(500)).await.unwrap();
        let pending = app.authorized_payjp(700).await;
        let id = OrderId::parse(&order.id, "order_id").unwrap();
        let sqlite = app.store.backend() == sea_orm::DatabaseBackend::Sqlite;
        // Every read here reads the rows: no view is kept between them.
        let store = Store::connect(&app.database_url, &uncached(true)).await.unwrap();

        let before = store.reads_on_calling_thread();
        let read = store.order_view(&id, &Visibility::All).await.unwrap().expect("the order");
        if sqlite {
            assert!(
                store.reads_on_calling_thread() > before,
                "SQLite answered GetOrder's read on the calling thread"
            );
        }
        assert_eq!((read.captures.len(), read.refunds.len()), (1, 2), "{read:?}");
        assert_eq!(read.order.state.refunded, 1_500);

        let before = store.reads_on_calling_thread();
        let page = first_page(&store).await;
        if sqlite {
            assert!(
                store.reads_on_calling_thread() - before >= 2,
                "SQLite answered the page's orders and their records on the calling thread"
            );
        }
        let listed = page.iter().find(|v| v.order.id == id).expect("on the page");
        assert_eq!(&read, listed, "the same order, field for field");

        // The search text holds the order's id.
        let reference = read.order.id.to_string();
        let before = store.reads_on_calling_thread();
        let mut by_id = first_page_filter();
        by_id.search.query = SearchTerm::parse(&reference, "query", 200).unwrap();
        let found = store.list_orders(&by_id).await.unwrap();
        assert_eq!(found, vec![read.clone()], "found by its id");
        if sqlite {
            assert!(
                store.reads_on_calling_thread() - before >= 3,
                "SQLite read the search's candidates, the page and its records on the calling thread"
            );
        }

        let driver = Store::connect(&app.database_url, &uncached(false)).await.unwrap();
        let through_driver = driver.order_view(&id, &Visibility::All).await.unwrap();
        assert_eq!(through_driver.as_ref(), Some(&read), "the driver reads the same order");
        assert_eq!(first_page(&driver).await, page, "and the same page");
        assert_eq!(driver.reads_on_calling_thread(), 0, "all through the driver");

        let pending_id = OrderId::parse(&pending.id, "order_id").unwrap();
        let unattached = store.order_view(&pending_id, &Visibility::All).await.unwrap().unwrap();
        assert!(unattached.captures.is_empty() && unattached.refunds.is_empty());
        assert_eq!(Some(&unattached), page.iter().find(|v| v.order.id == pending_id));

        let owner = Visibility::Owner(read.order.owner.clone());
        let as_owner = store.order_view(&id, &owner).await.unwrap();
        assert_eq!(as_owner.as_ref(), Some(&read), "its owner sees it");
        let stranger = Visibility::Owner(format!("{}-not", read.order.owner));
        assert_eq!(store.order_view(&id, &stranger).await.unwrap(), None, "no one else does");
        let missing = OrderId::parse("ord_01JZZZZZZZZZZZZZZZZZZZZZZZ", "order_id").unwrap();
        assert_eq!(store.order_view(&missing, &Visibility::All).await.unwrap(), None);
    }
}

/// A store that keeps no view, reading on the calling thread on SQLite
/// where `direct`.
fn uncached(direct: bool) -> StoreOptions {
    StoreOptions {
        reads_on_calling_thread: direct,
        order_view_cache: 0,
        ..StoreOptions::default()
    }
}

/// The newest 50 orders every caller may see.
async fn first_page(store: &Store) -> Vec<OrderView> {
    store.list_orders(&first_page_filter()).await.unwrap()
}

fn first_page_filter() -> OrderFilter {
    OrderFilter {
        statuses: Vec::new(),
        provider: None,
        merchant_reference: None,
        created_after: None,
        created_before: None,
        before_id: None,
        order: ListOrder::Newest,
        after_expiry: None,
        needs_review: false,
        search: Default::default(),
        sees: Visibility::All,
        limit: 50,
    }
}
