//! Each statement of `step_writes` against the one sea-query builds for the
//! same write from the same row (what the store sent before): the same
//! text and the same values, on both databases.

use chrono::{TimeZone, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryTrait, Statement};

use super::renumbered;
use crate::domain::{
    AttemptId, CaptureId, CaptureRecord, CaptureStatus, CardSummary, Customer, Failure, OrderId,
    OrderRecord, OrderState, OrderStatus, ProviderKind, RefundId, RefundRecord, RefundStatus,
};
use crate::store::convert::{
    attempt_to_active, capture_to_active, event_to_active, key_to_active, order_to_active,
    refund_to_active,
};
use crate::store::entities::{
    captures, idempotency_keys, order_events, orders, provider_attempts, refunds,
};
use crate::store::records::{
    AttemptState, EventAmounts, KeyState, NewAttempt, NewEvent, NewKey, Operation,
};
use crate::store::step_writes;

const BACKENDS: [DatabaseBackend; 2] = [DatabaseBackend::Postgres, DatabaseBackend::Sqlite];

fn at(second: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, second).unwrap()
}

/// An order with every optional part present, so that every column holds a
/// value of its own.
fn order() -> OrderRecord {
    let mut state = OrderState::new(12_000);
    state.authorized = 12_000;
    state.captured = 3_000;
    state.pending_capture = 1_000;
    state.expires_at = Some(at(40));
    OrderRecord {
        provider_order_id: Some("pi_123".into()),
        merchant_reference: "order-10".into(),
        description: "二点".into(),
        failure: Some(Failure {
            code: "CARD_DECLINED".into(),
            message: "declined".into(),
            provider_code: Some("card_declined".into()),
        }),
        livemode: true,
        provider_data: Some(serde_json::json!({"flow": "x"})),
        card: Some(CardSummary {
            bin: "424242".into(),
            last4: "4242".into(),
            brand: Some("Visa".into()),
            exp_month: 12,
            exp_year: 2030,
        }),
        customer: Some(Customer {
            email: Some("Taro@Example.jp".into()),
            name: Some("山田 太郎".into()),
            phone: Some("0312345678".into()),
        }),
        needs_review: true,
        created_at: at(1),
        updated_at: at(2),
        version: 4,
        ..OrderRecord::for_tests("ord_1", ProviderKind::Payjp, state)
    }
}

fn key() -> NewKey {
    NewKey {
        scope: "shop".into(),
        key: "k-1".into(),
        rpc: "Authorize",
        request_hash: "h".into(),
        order_id: Some("ord_1".into()),
        attempt_id: None,
        now: at(3),
        expires_at: at(50),
    }
}

fn capture() -> CaptureRecord {
    CaptureRecord {
        id: CaptureId::from_trusted("cap_1".into()),
        order_id: OrderId::from_trusted("ord_1".into()),
        amount: 3_000,
        status: CaptureStatus::Succeeded,
        final_capture: false,
        provider_capture_id: Some("pc_1".into()),
        reference: "r".into(),
        description: "d".into(),
        amount_refunded: 500,
        pending_refund: 200,
        failure: None,
        created_at: at(4),
        updated_at: at(5),
    }
}

fn refund() -> RefundRecord {
    RefundRecord {
        id: RefundId::from_trusted("ref_1".into()),
        order_id: OrderId::from_trusted("ord_1".into()),
        amount: 500,
        status: RefundStatus::Pending,
        reason: None,
        reference: "r".into(),
        description: "d".into(),
        parts: Vec::new(),
        failure: None,
        created_at: at(6),
        updated_at: at(7),
    }
}

/// The same statement, text and values, or a message saying how not.
fn same(backend: DatabaseBackend, written: Statement, built: Statement) {
    assert_eq!(written.sql, built.sql, "{backend:?}");
    assert_eq!(written.values, built.values, "{backend:?}: {}", built.sql);
    assert!(written.values.as_ref().is_some_and(|v| !v.0.is_empty()));
}

#[test]
fn an_order_is_inserted_and_updated_as_sea_query_builds_it() {
    let order = order();
    for backend in BACKENDS {
        let built = backend.build(&orders::Entity::insert(order_to_active(&order)).into_query());
        same(backend, step_writes::order_insert(backend, &order), built);

        let mut update = orders::Entity::update_many()
            .set(order_to_active(&order))
            .filter(orders::Column::Id.eq(order.id.as_str()))
            .filter(orders::Column::LockVersion.eq(3_i64))
            .into_query();
        update.returning_col(orders::Column::Id);
        same(
            backend,
            step_writes::order_update(backend, &order, 3),
            backend.build(&update),
        );
    }
}

#[test]
fn a_key_is_claimed_completed_reopened_and_deleted_as_sea_query_builds_it() {
    let key = key();
    let order_id = OrderId::from_trusted("ord_2".into());
    for backend in BACKENDS {
        for returning in [false, true] {
            let mut insert = idempotency_keys::Entity::insert(key_to_active(&key))
                .on_conflict(
                    OnConflict::columns([
                        idempotency_keys::Column::Scope,
                        idempotency_keys::Column::Key,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .into_query();
            if returning {
                insert.returning_col(idempotency_keys::Column::Key);
            }
            same(
                backend,
                step_writes::key_insert(backend, &key, returning),
                backend.build(&insert),
            );
        }
        for order_id in [None, Some(&order_id)] {
            let mut update = idempotency_keys::Entity::update_many()
                .col_expr(
                    idempotency_keys::Column::State,
                    Expr::value(KeyState::Completed.as_str()),
                )
                .col_expr(idempotency_keys::Column::Outcome, Expr::value("{}"))
                .col_expr(idempotency_keys::Column::UpdatedAt, Expr::value(at(9)));
            if let Some(order_id) = order_id {
                update = update.col_expr(
                    idempotency_keys::Column::OrderId,
                    Expr::value(order_id.to_string()),
                );
            }
            let update = update
                .filter(idempotency_keys::Column::Scope.eq("shop"))
                .filter(idempotency_keys::Column::Key.eq("k-1"))
                .into_query();
            same(
                backend,
                step_writes::key_completion(backend, ("shop", "k-1"), order_id, "{}", at(9)),
                backend.build(&update),
            );
        }
        let reopen = idempotency_keys::Entity::update_many()
            .col_expr(
                idempotency_keys::Column::State,
                Expr::value(KeyState::Open.as_str()),
            )
            .col_expr(idempotency_keys::Column::UpdatedAt, Expr::value(at(9)))
            .filter(idempotency_keys::Column::Scope.eq("shop"))
            .filter(idempotency_keys::Column::Key.eq("k-1"))
            .into_query();
        same(
            backend,
            step_writes::key_reopening(backend, ("shop", "k-1"), at(9)),
            backend.build(&reopen),
        );
        let delete = idempotency_keys::Entity::delete_many()
            .filter(idempotency_keys::Column::Scope.eq("shop"))
            .filter(idempotency_keys::Column::Key.eq("k-1"))
            .into_query();
        same(
            backend,
            step_writes::key_deletion(backend, ("shop", "k-1")),
            backend.build(&delete),
        );
    }
}

#[test]
fn an_attempt_and_an_event_are_written_as_sea_query_builds_them() {
    let attempt = NewAttempt {
        id: AttemptId::from_trusted("att_1".into()),
        order_id: OrderId::from_trusted("ord_1".into()),
        operation: Operation::Capture,
        target_id: Some("cap_1".into()),
        provider_key: None,
        amount: Some(3_000),
        request: serde_json::json!({"amount": 3000}),
    };
    let event = NewEvent {
        order_id: OrderId::from_trusted("ord_1".into()),
        event_type: "order.captured",
        actor: "shop".into(),
        status: OrderStatus::PartiallyCaptured,
        amounts: EventAmounts {
            authorized: 12_000,
            captured: 3_000,
            refunded: 0,
            capturable: 9_000,
        },
        data: serde_json::json!({"capture_id": "cap_1"}),
    };
    for backend in BACKENDS {
        let insert =
            provider_attempts::Entity::insert(attempt_to_active(&attempt, at(8))).into_query();
        same(
            backend,
            step_writes::attempt_insert(backend, &attempt, at(8)),
            backend.build(&insert),
        );
        for (error, next_check_at) in [
            (None, None),
            (Some("timeout"), Some(None)),
            (None, Some(Some(at(30)))),
        ] {
            let mut update = provider_attempts::Entity::update_many()
                .col_expr(
                    provider_attempts::Column::State,
                    Expr::value(AttemptState::Unknown.as_str()),
                )
                .col_expr(
                    provider_attempts::Column::Error,
                    Expr::value(error.map(str::to_owned)),
                )
                .col_expr(provider_attempts::Column::UpdatedAt, Expr::value(at(9)));
            if let Some(next_check_at) = next_check_at {
                update = update.col_expr(
                    provider_attempts::Column::NextCheckAt,
                    Expr::value(next_check_at),
                );
            }
            let update = update
                .filter(provider_attempts::Column::Id.eq("att_1"))
                .into_query();
            same(
                backend,
                step_writes::attempt_finish(
                    backend,
                    &attempt.id,
                    (AttemptState::Unknown, error),
                    at(9),
                    next_check_at,
                ),
                backend.build(&update),
            );
        }
        let insert = order_events::Entity::insert(event_to_active(&event, at(10))).into_query();
        same(
            backend,
            step_writes::event_insert(backend, &event, at(10)),
            backend.build(&insert),
        );
    }
}

#[test]
fn captures_and_refunds_are_written_as_sea_query_builds_them() {
    let (capture, refund) = (capture(), refund());
    for backend in BACKENDS {
        let insert = captures::Entity::insert(capture_to_active(&capture)).into_query();
        same(
            backend,
            step_writes::capture_insert(backend, &capture),
            backend.build(&insert),
        );
        let update = captures::Entity::update_many()
            .set(capture_to_active(&capture))
            .filter(captures::Column::Id.eq(capture.id.as_str()))
            .into_query();
        same(
            backend,
            step_writes::capture_update(backend, &capture),
            backend.build(&update),
        );
        let insert = refunds::Entity::insert(refund_to_active(&refund)).into_query();
        same(
            backend,
            step_writes::refund_insert(backend, &refund),
            backend.build(&insert),
        );
        let update = refunds::Entity::update_many()
            .set(refund_to_active(&refund))
            .filter(refunds::Column::Id.eq(refund.id.as_str()))
            .into_query();
        same(
            backend,
            step_writes::refund_update(backend, &refund),
            backend.build(&update),
        );
    }
}

#[test]
fn a_chained_statement_numbers_its_parameters_after_the_ones_before() {
    let mut out = String::new();
    renumbered(
        r#"UPDATE "t" SET "a" = $1, "b" = $2 WHERE "t"."id" = $10 RETURNING "id""#,
        12,
        &mut out,
    );
    assert_eq!(
        out,
        r#"UPDATE "t" SET "a" = $13, "b" = $14 WHERE "t"."id" = $22 RETURNING "id""#
    );
    // Quoted text is left as it is, and a lone `$` is no parameter.
    let mut out = String::from("WITH ");
    renumbered(r#"SELECT '$1', "$2", $ , $3"#, 5, &mut out);
    assert_eq!(out, r#"WITH SELECT '$1', "$2", $ , $8"#);
    let mut out = String::new();
    renumbered("SELECT $1", 0, &mut out);
    assert_eq!(out, "SELECT $1");
}
