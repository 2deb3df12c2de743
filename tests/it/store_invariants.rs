//! The money invariants are held by the database write itself, not only by
//! the checks before it.

use kessai::domain::{OrderId, OrderState};
use kessai::store::StoreError;

use crate::db_test;

db_test! {
    async fn the_database_refuses_over_capture_and_over_refund(app: TestApp) {
        let order = app.authorized_payjp(1_000).await;
        let id = OrderId::parse(&order.id, "order_id").unwrap();
        let now = chrono::Utc::now();

        let tx = app.store.begin().await.unwrap();
        let mut locked = tx.lock_order(&id).await.unwrap().unwrap();
        locked.state = OrderState { captured: 1_001, ..locked.state.clone() };
        let refused = tx.save_order(&locked, now).await;
        assert!(matches!(refused, Err(StoreError::InvariantViolated(_))), "{refused:?}");
        drop(tx);

        let tx = app.store.begin().await.unwrap();
        let mut locked = tx.lock_order(&id).await.unwrap().unwrap();
        locked.state = OrderState { captured: 500, refunded: 400, pending_refund: 101, ..locked.state.clone() };
        let refused = tx.save_order(&locked, now).await;
        assert!(matches!(refused, Err(StoreError::InvariantViolated(_))), "{refused:?}");
        drop(tx);

        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!((stored.amount_captured, stored.amount_refunded), (0, 0));
    }
}

db_test! {
    async fn a_stale_write_is_refused(app: TestApp) {
        let order = app.authorized_payjp(1_000).await;
        let id = OrderId::parse(&order.id, "order_id").unwrap();
        let tx = app.store.begin().await.unwrap();
        let mut locked = tx.lock_order(&id).await.unwrap().unwrap();
        locked.version -= 1;
        let refused = tx.save_order(&locked, chrono::Utc::now()).await;
        assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
    }
}
