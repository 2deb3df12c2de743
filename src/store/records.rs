//! Store-side records of the idempotency keys, the provider-call log and the
//! event history.

use chrono::{DateTime, Utc};

use crate::domain::{AttemptId, OrderId, OrderState, OrderStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Claimed by a call that has not finished.
    InFlight,
    /// Nobody drives it and it has no outcome: the provider's answer was
    /// lost or never came. A retry with the same request resumes it.
    Open,
    /// Finished; `outcome` holds what to replay.
    Completed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::InFlight => "in_flight",
            KeyState::Open => "open",
            KeyState::Completed => "completed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "in_flight" => Some(KeyState::InFlight),
            "open" => Some(KeyState::Open),
            "completed" => Some(KeyState::Completed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub scope: String,
    pub key: String,
    pub rpc: String,
    pub request_hash: String,
    pub order_id: Option<String>,
    pub attempt_id: Option<String>,
    pub state: KeyState,
    pub outcome: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A key to claim in an intent commit.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub scope: String,
    pub key: String,
    pub rpc: &'static str,
    pub request_hash: String,
    pub order_id: Option<String>,
    pub attempt_id: Option<String>,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    /// Someone holds (or held) the key already.
    Existing(Box<KeyRecord>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Authorize,
    Capture,
    Refund,
    Void,
    /// Releasing the rest after a final partial capture.
    Release,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Authorize => "authorize",
            Operation::Capture => "capture",
            Operation::Refund => "refund",
            Operation::Void => "void",
            Operation::Release => "release",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Operation::Authorize,
            Operation::Capture,
            Operation::Refund,
            Operation::Void,
            Operation::Release,
        ]
        .into_iter()
        .find(|o| o.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptState {
    /// Committed before the call; no outcome recorded yet.
    InFlight,
    Succeeded,
    Failed,
    /// The call was made and its outcome is not known.
    Unknown,
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::InFlight => "in_flight",
            AttemptState::Succeeded => "succeeded",
            AttemptState::Failed => "failed",
            AttemptState::Unknown => "unknown",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            AttemptState::InFlight,
            AttemptState::Succeeded,
            AttemptState::Failed,
            AttemptState::Unknown,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// The intent to call a provider, committed before the call.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub id: AttemptId,
    pub order_id: OrderId,
    pub operation: Operation,
    /// The capture or refund it acts for.
    pub target_id: Option<String>,
    /// The idempotency key sent to the provider, where it takes one.
    pub provider_key: Option<String>,
    pub amount: Option<i64>,
    /// What a resumed call must send again (never secrets).
    pub request: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub id: AttemptId,
    pub order_id: OrderId,
    pub operation: Operation,
    pub target_id: Option<String>,
    pub provider_key: Option<String>,
    pub amount: Option<i64>,
    pub request: serde_json::Value,
    pub state: AttemptState,
    pub error: Option<String>,
    pub checks: i32,
    pub created_at: DateTime<Utc>,
}

/// One line of an order's history.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub order_id: OrderId,
    pub event_type: &'static str,
    /// Who caused it: a caller's name, "provider", "reconciler".
    pub actor: String,
    pub status: OrderStatus,
    pub amounts: EventAmounts,
    pub data: serde_json::Value,
}

/// The order's amounts right after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventAmounts {
    pub authorized: i64,
    pub captured: i64,
    pub refunded: i64,
    pub capturable: i64,
}

impl EventAmounts {
    pub fn of(state: &OrderState) -> Self {
        Self {
            authorized: state.authorized,
            captured: state.captured,
            refunded: state.refunded,
            capturable: state.capturable(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: i64,
    pub order_id: String,
    pub event_type: String,
    pub actor: String,
    pub status: String,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}
