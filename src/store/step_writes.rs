//! The statements a transaction's writes are made of (`Tx`'s writes), as
//! SQL text and values for one database (`store::written`).

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseBackend, Statement};

use super::convert::{
    attempt_to_active, capture_to_active, event_to_active, key_to_active, order_to_active,
    refund_to_active,
};
use super::records::{AttemptState, KeyState, NewAttempt, NewEvent, NewKey};
use super::written::{Update, delete, insert};
use crate::domain::{AttemptId, CaptureRecord, OrderId, OrderRecord, RefundRecord};

const KEYS: &str = "idempotency_keys";
const ATTEMPTS: &str = "provider_attempts";

pub(super) fn order_insert(backend: DatabaseBackend, order: &OrderRecord) -> Statement {
    insert(backend, order_to_active(order), "")
}

/// `next`, the order's next version, written whole if the row is still at
/// `read_version`; returns the id of the row it changed.
pub(super) fn order_update(
    backend: DatabaseBackend,
    next: &OrderRecord,
    read_version: i64,
) -> Statement {
    Update::row(order_to_active(next))
        .filter("id", next.id.to_string())
        .filter("lock_version", read_version)
        .returning("id")
        .build(backend)
}

/// The key's claim: a row if nobody holds the key, none otherwise.
/// `returning` makes it return the key it inserted (a guard's row).
pub(super) fn key_insert(backend: DatabaseBackend, key: &NewKey, returning: bool) -> Statement {
    let tail = if returning {
        r#" ON CONFLICT ("scope", "key") DO NOTHING RETURNING "key""#
    } else {
        r#" ON CONFLICT ("scope", "key") DO NOTHING"#
    };
    insert(backend, key_to_active(key), tail)
}

/// The outcome to replay for a key.
pub(super) fn key_completion(
    backend: DatabaseBackend,
    (scope, key): (&str, &str),
    order_id: Option<&OrderId>,
    outcome: &str,
    now: DateTime<Utc>,
) -> Statement {
    let mut update = Update::table(KEYS)
        .set("state", KeyState::Completed.as_str())
        .set("outcome", outcome)
        .set("updated_at", now);
    if let Some(order_id) = order_id {
        update = update.set("order_id", order_id.to_string());
    }
    update
        .filter("scope", scope)
        .filter("key", key)
        .build(backend)
}

/// A key left without an outcome and without a driver.
pub(super) fn key_reopening(
    backend: DatabaseBackend,
    (scope, key): (&str, &str),
    now: DateTime<Utc>,
) -> Statement {
    Update::table(KEYS)
        .set("state", KeyState::Open.as_str())
        .set("updated_at", now)
        .filter("scope", scope)
        .filter("key", key)
        .build(backend)
}

pub(super) fn key_deletion(backend: DatabaseBackend, (scope, key): (&str, &str)) -> Statement {
    delete(
        backend,
        KEYS,
        vec![("scope", scope.into()), ("key", key.into())],
    )
}

/// The intent to call a provider (write-ahead).
pub(super) fn attempt_insert(
    backend: DatabaseBackend,
    attempt: &NewAttempt,
    now: DateTime<Utc>,
) -> Statement {
    insert(backend, attempt_to_active(attempt, now), "")
}

/// A provider call's outcome; `next_check_at` written unless `None` is to
/// keep what the row holds.
pub(super) fn attempt_finish(
    backend: DatabaseBackend,
    id: &AttemptId,
    (state, error): (AttemptState, Option<&str>),
    now: DateTime<Utc>,
    next_check_at: Option<Option<DateTime<Utc>>>,
) -> Statement {
    let mut update = Update::table(ATTEMPTS)
        .set("state", state.as_str())
        .set("error", error.map(str::to_owned))
        .set("updated_at", now);
    if let Some(next_check_at) = next_check_at {
        update = update.set("next_check_at", next_check_at);
    }
    update.filter("id", id.to_string()).build(backend)
}

pub(super) fn event_insert(
    backend: DatabaseBackend,
    event: &NewEvent,
    now: DateTime<Utc>,
) -> Statement {
    insert(backend, event_to_active(event, now), "")
}

pub(super) fn capture_insert(backend: DatabaseBackend, capture: &CaptureRecord) -> Statement {
    insert(backend, capture_to_active(capture), "")
}

pub(super) fn capture_update(backend: DatabaseBackend, capture: &CaptureRecord) -> Statement {
    Update::row(capture_to_active(capture))
        .filter("id", capture.id.to_string())
        .build(backend)
}

pub(super) fn refund_insert(backend: DatabaseBackend, refund: &RefundRecord) -> Statement {
    insert(backend, refund_to_active(refund), "")
}

pub(super) fn refund_update(backend: DatabaseBackend, refund: &RefundRecord) -> Statement {
    Update::row(refund_to_active(refund))
        .filter("id", refund.id.to_string())
        .build(backend)
}
