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

/// An authorized order, as answered and as stored.
async fn stored_order(app: &crate::helpers::TestApp) -> (kessai::proto::v1::Order, OrderRecord) {
    let order = app.authorized_payjp(1_000).await;
    let id = OrderId::parse(&order.id, "order_id").unwrap();
    let read = app.store.begin().await.unwrap();
    let stored = read.lock_order(&id).await.unwrap().unwrap();
    read.rollback().await.unwrap();
    (order, stored)
}

/// A history line for `order`, as a step appends one.
fn event_for(order: &OrderRecord) -> kessai::store::NewEvent {
    kessai::store::NewEvent {
        order_id: order.id.clone(),
        event_type: "test_event",
        actor: "test".into(),
        status: order.state.status(),
        amounts: kessai::store::EventAmounts::of(&order.state),
        data: serde_json::json!({}),
    }
}

db_test! {
    async fn a_step_from_a_stale_order_writes_none_of_its_batch(app: TestApp) {
        // An outcome step starts from the order as its intent wrote it
        // (no read); someone wrote the order since. The order's update is
        // the guard of the step's one statement (on SQLite, one call).
        let (order, current) = stored_order(&app).await;
        let events = app.count("order_events").await;

        let stale = OrderRecord { version: current.version - 1, ..current.clone() };
        let tx = app.store.begin().await.unwrap();
        tx.assume_unchanged(&stale);
        let saved = tx.save_order_unless_moved(&stale, chrono::Utc::now()).await.unwrap();
        let outcome = match saved {
            Some(next) => {
                tx.append_event(&event_for(&next), chrono::Utc::now()).await.unwrap();
                tx.commit().await
            }
            None => {
                tx.rollback().await.unwrap();
                Err(StoreError::Conflict)
            }
        };
        assert!(matches!(outcome, Err(StoreError::Conflict)), "{outcome:?}");
        assert_eq!(app.count("order_events").await, events, "the step's event was not written");
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(stored.updated_at, order.updated_at, "the order was not written");

        // From the current version the same step lands, event and all.
        let tx = app.store.begin().await.unwrap();
        tx.assume_unchanged(&current);
        let next = tx.save_order_unless_moved(&current, chrono::Utc::now()).await.unwrap().unwrap();
        tx.append_event(&event_for(&next), chrono::Utc::now()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(app.count("order_events").await, events + 1);
    }
}

db_test! {
    async fn a_key_claimed_with_the_writes_it_guards_is_refused_when_taken(app: TestApp) {
        let (_, record) = stored_order(&app).await;
        let now = chrono::Utc::now();
        let key = kessai::store::NewKey {
            scope: "test".into(),
            key: crate::helpers::unique_key("guard"),
            rpc: "authorize",
            request_hash: "h".into(),
            order_id: None,
            attempt_id: None,
            now,
            expires_at: now + chrono::Duration::hours(1),
        };
        let events = app.count("order_events").await;
        let first = app.store.begin().await.unwrap();
        assert_eq!(first.claim_key_at_commit(&key).await.unwrap(), kessai::store::Claim::Claimed);
        first.append_event(&event_for(&record), now).await.unwrap();
        first.commit().await.unwrap();
        assert_eq!(app.count("order_events").await, events + 1);

        // The same key again: refused at the commit, and the guarded
        // event is not written.
        let second = app.store.begin().await.unwrap();
        let outcome = match second.claim_key_at_commit(&key).await.unwrap() {
            kessai::store::Claim::Claimed => {
                second.append_event(&event_for(&record), now).await.unwrap();
                second.commit().await
            }
            kessai::store::Claim::Existing(_) => Err(StoreError::KeyTaken),
        };
        assert!(matches!(outcome, Err(StoreError::KeyTaken)), "{outcome:?}");
        assert_eq!(app.count("order_events").await, events + 1);
    }
}

/// A step guarded twice, as an intent decided on an unlocked read is
/// (`payments::unlocked`): the key's claim and the order's update at the
/// version read, both guards of one statement (on SQLite, one call).
async fn twice_guarded_step(
    app: &crate::helpers::TestApp,
    key: &kessai::store::NewKey,
    order: &OrderRecord,
) -> Result<(), StoreError> {
    let now = chrono::Utc::now();
    let tx = app.store.begin().await.unwrap();
    if let kessai::store::Claim::Existing(_) = tx.claim_key_at_commit(key).await? {
        tx.rollback().await?;
        return Err(StoreError::KeyTaken);
    }
    tx.assume_unchanged(order);
    let next = tx.save_order(order, now).await?;
    tx.append_event(&event_for(&next), now).await?;
    tx.commit().await
}

fn new_key(name: &str) -> kessai::store::NewKey {
    let now = chrono::Utc::now();
    kessai::store::NewKey {
        scope: "test".into(),
        key: crate::helpers::unique_key(name),
        rpc: "capture",
        request_hash: "h".into(),
        order_id: None,
        attempt_id: None,
        now,
        expires_at: now + chrono::Duration::hours(1),
    }
}

db_test! {
    async fn a_step_guarded_by_a_key_and_a_version_writes_nothing_unless_both_hold(app: TestApp) {
        let (order, current) = stored_order(&app).await;
        let events = app.count("order_events").await;
        let keys = app.count("idempotency_keys").await;

        // The order moved since it was read: a conflict, the key not claimed.
        let stale = OrderRecord { version: current.version - 1, ..current.clone() };
        let outcome = twice_guarded_step(&app, &new_key("moved"), &stale).await;
        assert!(matches!(outcome, Err(StoreError::Conflict)), "{outcome:?}");
        assert_eq!(app.count("idempotency_keys").await, keys, "the key was not claimed");
        assert_eq!(app.count("order_events").await, events);

        // The key is held: the order is not written.
        let held = new_key("held");
        let claim = app.store.begin().await.unwrap();
        claim.claim_key(&held).await.unwrap();
        claim.commit().await.unwrap();
        let outcome = twice_guarded_step(&app, &held, &current).await;
        assert!(matches!(outcome, Err(StoreError::KeyTaken)), "{outcome:?}");
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(stored.updated_at, order.updated_at, "the order was not written");
        assert_eq!(app.count("order_events").await, events);

        // Both hold: key, order and event land together.
        twice_guarded_step(&app, &new_key("free"), &current).await.unwrap();
        assert_eq!(app.count("idempotency_keys").await, keys + 2);
        assert_eq!(app.count("order_events").await, events + 1);
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_ne!(stored.updated_at, order.updated_at, "the order was written");
    }
}

#[tokio::test]
async fn sqlite_guards_hold_without_their_rows() {
    // A guard's check writes its own row; were the rows gone, the check
    // must still refuse a write that changed nothing.
    use sea_orm::ConnectionTrait;
    let app = crate::helpers::TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let conn = sea_orm::Database::connect(&app.database_url).await.unwrap();
    conn.execute_unprepared("DELETE FROM kessai_guards")
        .await
        .unwrap();
    let (_, current) = stored_order(&app).await;
    let events = app.count("order_events").await;
    let stale = OrderRecord {
        version: current.version - 1,
        ..current.clone()
    };
    let outcome = twice_guarded_step(&app, &new_key("rowless"), &stale).await;
    assert!(matches!(outcome, Err(StoreError::Conflict)), "{outcome:?}");
    assert_eq!(app.count("order_events").await, events);
    twice_guarded_step(&app, &new_key("rowless"), &current)
        .await
        .unwrap();
    assert_eq!(app.count("order_events").await, events + 1);
}
