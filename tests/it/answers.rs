//! Capture, Refund and Void answer with the records their outcome wrote,
//! not with a read after it (`payments::unlocked`): the answer must be the
//! order exactly as stored, captures and refunds included, whichever way
//! the call went.

use kessai::proto::v1;

use crate::db_test;
use crate::helpers::{TestApp, assert_error, unique_key};

/// A Smartpay order: several captures and refunds per order.
async fn smartpay_order(app: &TestApp, amount: i64) -> v1::Order {
    let request = crate::requests::smartpay_token_authorize(
        &unique_key("auth"),
        amount,
        "paytok_test_approved",
    );
    app.authorize(request).await.unwrap()
}

/// `answer` against the order as a GetOrder reads it right after.
async fn assert_stored(app: &TestApp, answer: &v1::Order, call: &str) {
    let stored = app.get_order(&answer.id, false).await.unwrap();
    assert_eq!(answer, &stored, "{call}: the answer is the stored order");
}

db_test! {
    async fn each_answer_is_the_order_as_stored(app: TestApp) {
        let order = smartpay_order(&app, 10_000).await;

        let answer = app.capture(&order.id, Some(6_000), false).await.unwrap();
        assert_eq!(answer.amount_captured, 6_000);
        assert_eq!(answer.captures.len(), 1);
        assert_stored(&app, &answer, "a partial capture").await;

        let answer = app.capture(&order.id, Some(3_000), false).await.unwrap();
        assert_eq!(answer.amount_captured, 9_000);
        assert_eq!(answer.captures.len(), 2);
        assert_stored(&app, &answer, "a second capture").await;

        let answer = app.refund(&order.id, Some(2_000)).await.unwrap();
        assert_eq!(answer.amount_refunded, 2_000);
        assert_eq!(answer.refunds.len(), 1);
        assert_stored(&app, &answer, "a refund").await;

        let answer = app.refund(&order.id, Some(1_000)).await.unwrap();
        assert_eq!((answer.amount_refunded, answer.refunds.len()), (3_000, 2));
        assert_stored(&app, &answer, "a second refund").await;

        let voided = app.authorized_payjp(5_000).await;
        let answer = app.void(&voided.id).await.unwrap();
        assert_eq!(answer.status(), v1::OrderStatus::Voided);
        assert_stored(&app, &answer, "a void").await;
    }
}

db_test! {
    async fn a_retried_call_and_a_refused_one_go_the_locked_way(app: TestApp) {
        // A held key and a refusal are answered by the locked way: the
        // replay is the stored order, the refusal names its reason.
        let order = smartpay_order(&app, 10_000).await;
        let key = unique_key("cap");
        let first = app.capture_with_key(&key, &order.id, Some(4_000), false).await.unwrap();
        let again = app.capture_with_key(&key, &order.id, Some(4_000), false).await.unwrap();
        assert_eq!(first, again, "the retry replays the first answer");
        assert_eq!(again.captures.len(), 1, "one capture");

        let refused = app.capture(&order.id, Some(7_000), false).await;
        assert_error(refused, tonic::Code::FailedPrecondition, "AMOUNT_EXCEEDS_CAPTURABLE");
        let stored = app.get_order(&order.id, false).await.unwrap();
        assert_eq!(stored, first, "the refusal wrote nothing");
    }
}
