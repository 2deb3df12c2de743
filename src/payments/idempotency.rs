//! Idempotency keys: what a retry gets back.
//!
//! The intent commit stores the key, the RPC and a keyed HMAC of the request.
//! A retry with the same key and request gets the stored outcome (or resumes
//! a call whose answer was lost); the same key with another request is
//! refused; a duplicate arriving while the first is in flight is told to
//! retry later. In no case is a second provider call made for one key.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{Caller, PaymentError, Payments};
use crate::domain::{AttemptId, IdempotencyKey, OrderId, OrderView};
use crate::store::{KeyRecord, KeyState, NewKey, Tx};

/// A mutating request as the idempotency machinery sees it.
#[derive(Debug, Clone)]
pub(super) struct KeyedRequest {
    pub scope: String,
    pub key: String,
    pub rpc: &'static str,
    pub hash: String,
}

impl KeyedRequest {
    /// The key of a call being settled by reconciliation.
    pub fn of_record(record: &KeyRecord) -> Self {
        Self {
            scope: record.scope.clone(),
            key: record.key.clone(),
            rpc: "reconciled",
            hash: record.request_hash.clone(),
        }
    }

    /// No key: a call no caller's key stands for (a release), or whose key
    /// has already been completed or reaped. Writes to it match no row.
    pub fn none() -> Self {
        Self {
            scope: String::new(),
            key: String::new(),
            rpc: "reconciled",
            hash: String::new(),
        }
    }
}

/// What is stored for a completed key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum StoredOutcome {
    /// Replayed as the order's current state.
    Order {
        order_id: String,
    },
    Error {
        error: PaymentError,
    },
}

/// What to do about a key someone already holds.
pub(super) enum Existing {
    /// The answer to give.
    Answer(Box<Result<OrderView, PaymentError>>),
    /// Nobody drives it and it has no outcome: resume the call.
    Resume(Box<KeyRecord>),
}

impl Payments {
    /// `request` must hold every field that makes two requests different.
    pub(super) fn keyed(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        rpc: &'static str,
        request: &serde_json::Value,
    ) -> KeyedRequest {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.inner.config.fingerprint_key.expose_secret())
                .expect("HMAC accepts keys of any length");
        mac.update(rpc.as_bytes());
        mac.update(b"\n");
        // serde_json writes object keys in a fixed order, so equal requests
        // give equal bytes.
        mac.update(request.to_string().as_bytes());
        KeyedRequest {
            scope: caller.name.clone(),
            key: key.as_str().to_owned(),
            rpc,
            hash: hex::encode(mac.finalize().into_bytes()),
        }
    }

    /// A keyed fingerprint of one secret value (a card number), so the
    /// request fingerprint never holds it.
    pub(super) fn keyed_fingerprint(&self, secret: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.inner.config.fingerprint_key.expose_secret())
                .expect("HMAC accepts keys of any length");
        mac.update(b"secret\n");
        mac.update(secret.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub(super) fn new_key(
        &self,
        request: &KeyedRequest,
        order_id: Option<&OrderId>,
        attempt_id: Option<&AttemptId>,
        now: DateTime<Utc>,
    ) -> NewKey {
        NewKey {
            scope: request.scope.clone(),
            key: request.key.clone(),
            rpc: request.rpc,
            request_hash: request.hash.clone(),
            order_id: order_id.map(|id| id.to_string()),
            attempt_id: attempt_id.map(|id| id.to_string()),
            now,
            expires_at: now + self.inner.config.idempotency_ttl,
        }
    }

    pub(super) async fn existing(
        &self,
        record: Box<KeyRecord>,
        request: &KeyedRequest,
    ) -> Existing {
        if record.rpc != request.rpc || record.request_hash != request.hash {
            return Existing::Answer(Box::new(Err(PaymentError::KeyReused)));
        }
        match record.state {
            KeyState::Completed => Existing::Answer(Box::new(self.replay(&record).await)),
            KeyState::InFlight => {
                let held_for = self.now() - record.updated_at;
                if held_for < self.inner.config.in_flight_lease {
                    Existing::Answer(Box::new(Err(PaymentError::KeyInUse)))
                } else {
                    tracing::warn!(key = %record.key, "taking over an idempotency key whose holder stopped");
                    Existing::Resume(record)
                }
            }
            KeyState::Open => Existing::Resume(record),
        }
    }

    /// Takes over a key nobody drives, so this process resumes its call.
    pub(super) async fn take_over(&self, record: &KeyRecord) -> Result<(), PaymentError> {
        let tx = self.store().begin().await?;
        if !tx.take_over_key(record, None, self.now()).await? {
            return Err(PaymentError::KeyInUse);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn replay(&self, record: &KeyRecord) -> Result<OrderView, PaymentError> {
        let stored: StoredOutcome = record
            .outcome
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .ok_or_else(|| {
                tracing::error!(key = %record.key, "completed idempotency key without a readable outcome");
                PaymentError::Internal
            })?;
        match stored {
            StoredOutcome::Order { order_id } => self.view(&OrderId::from_trusted(order_id)).await,
            StoredOutcome::Error { error } => Err(error),
        }
    }
}

/// Stores the outcome a retry of `request` will get.
pub(super) async fn complete(
    tx: &Tx,
    request: &KeyedRequest,
    outcome: &Result<OrderId, PaymentError>,
    now: DateTime<Utc>,
) -> Result<(), PaymentError> {
    let stored = match outcome {
        Ok(order_id) => StoredOutcome::Order {
            order_id: order_id.to_string(),
        },
        Err(error) => StoredOutcome::Error {
            error: error.clone(),
        },
    };
    let json = serde_json::to_string(&stored).map_err(|e| {
        tracing::error!(error = %e, "cannot serialize an idempotent outcome");
        PaymentError::Internal
    })?;
    let order_id = outcome.as_ref().ok();
    tx.complete_key(&request.scope, &request.key, order_id, &json, now)
        .await?;
    Ok(())
}

/// What becomes of the caller's key when an outcome is recorded.
pub(super) enum KeyAfter {
    /// Outcome unknown: a retry with the same key resumes the call.
    Open,
    /// Nothing reached the provider: the key may be used afresh.
    Delete,
    /// The answer a retry replays.
    Complete(Result<OrderId, PaymentError>),
}

impl KeyAfter {
    pub(super) async fn apply(
        &self,
        tx: &Tx,
        request: &KeyedRequest,
        now: DateTime<Utc>,
    ) -> Result<(), PaymentError> {
        match self {
            KeyAfter::Open => Ok(tx.open_key(&request.scope, &request.key, now).await?),
            KeyAfter::Delete => Ok(tx.delete_key(&request.scope, &request.key).await?),
            KeyAfter::Complete(outcome) => complete(tx, request, outcome, now).await,
        }
    }
}
