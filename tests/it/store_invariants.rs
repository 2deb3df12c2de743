//! The money invariants are held by the database write itself, not only by
//! the checks before it: the write, or at the latest the commit, is refused,
//! and nothing of the transaction is kept.

use kessai::domain::{OrderId, OrderRecord, OrderState};
use kessai::store::{StoreError, Tx};

use crate::db_test;

/// Saves `order` and commits, as a use case does.
async fn save_and_commit(
    tx: Tx,
    order: &OrderRecord,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    tx.save_order(order, now).await?;
    tx.commit().await
}

db_test! {
    async fn the_database_refuses_over_capture_and_over_refund(app: TestApp) {
        let order = app.authorized_payjp(1_000).await;
        let id = OrderId::parse(&order.id, "order_id").unwrap();
        let now = chrono::Utc::now();

        let tx = app.store.begin().await.unwrap();
        let mut locked = tx.lock_order(&id).await.unwrap().unwrap();
        locked.state = OrderState { captured: 1_001, ..locked.state.clone() };
        let refused = save_and_commit(tx, &locked, now).await;
        assert!(matches!(refused, Err(StoreError::InvariantViolated(_))), "{refused:?}");

        let tx = app.store.begin().await.unwrap();
        let mut locked = tx.lock_order(&id).await.unwrap().unwrap();
        locked.state = OrderState { captured: 500, refunded: 400, pending_refund: 101, ..locked.state.clone() };
        let refused = save_and_commit(tx, &locked, now).await;
        assert!(matches!(refused, Err(StoreError::InvariantViolated(_))), "{refused:?}");

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
        let refused = save_and_commit(tx, &locked, chrono::Utc::now()).await;
        assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(stored.updated_at, order.updated_at, "nothing was written");
    }
}
