//! Capture: take all or part of what an order has authorized.

use serde_json::json;

use super::authorize::event_of;
use super::events::*;
use super::idempotency::{Existing, KeyAfter, KeyedRequest, complete};
use super::unlocked::Attached;
use super::{
    Caller, CrashPoint, PaymentError, Payments, account_unknown, outcome_step, save_first,
};
use crate::domain::decide::{CapturePlan, Refusal, decide_capture};
use crate::domain::{
    Amount, AttemptId, CaptureId, CaptureRecord, CaptureStatus, Failure, IdempotencyKey, OrderId,
    OrderRecord, OrderView, Reason,
};
use crate::providers::{CaptureCall, CaptureOutcome, ProviderError, VoidCall};
use crate::store::{AttemptState, Claim, KeyRecord, NewAttempt, Operation, Tx};

#[derive(Debug, Clone)]
pub struct CaptureCommand {
    pub key: IdempotencyKey,
    pub order_id: OrderId,
    pub amount: Option<Amount>,
    pub final_capture: bool,
    pub reference: String,
    pub description: String,
}

impl CaptureCommand {
    fn fingerprint(&self) -> serde_json::Value {
        json!({
            "order_id": self.order_id.as_str(),
            "amount": self.amount.map(Amount::get),
            "final_capture": self.final_capture,
            "reference": self.reference,
            "description": self.description,
        })
    }
}

/// What a resumed capture must send again.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct CaptureRequestData {
    whole_remainder: bool,
    final_capture: bool,
    release_after: bool,
}

impl From<CapturePlan> for CaptureRequestData {
    fn from(plan: CapturePlan) -> Self {
        Self {
            whole_remainder: plan.whole_remainder,
            final_capture: plan.final_capture,
            release_after: plan.release_after,
        }
    }
}

/// A capture whose provider call is about to be made.
struct Drive {
    order: OrderRecord,
    capture: CaptureRecord,
    attempt_id: AttemptId,
    data: CaptureRequestData,
    /// When resuming: how long ago the first call was sent.
    resumed_after: Option<chrono::Duration>,
    /// The capture the provider reports it made, found by the id its
    /// notification named: the answer a lost call would have had.
    found: Option<CaptureOutcome>,
    /// What was attached to the order when its intent was decided on an
    /// unlocked read (`payments::unlocked`): the answer's other records.
    attached: Option<Attached>,
}

/// What a capture's outcome step left.
struct Settled {
    /// The release to make next, when a final partial capture needs one.
    release: Option<(AttemptId, String)>,
    /// The order and capture as the step wrote them, when it started from
    /// the drive's records (nobody wrote the order since the intent).
    written: Option<(OrderRecord, CaptureRecord)>,
}

impl Payments {
    pub(super) async fn capture_now(
        &self,
        caller: &Caller,
        cmd: CaptureCommand,
    ) -> Result<OrderView, PaymentError> {
        let request = self.keyed(caller, &cmd.key, "capture", &cmd.fingerprint());
        if let Some(drive) = self.capture_unlocked(caller, &cmd, &request).await? {
            return self.drive_capture(caller, &request, drive).await;
        }
        let now = self.now();
        let attempt_id = AttemptId::generate();
        let tx = self.store().begin().await?;
        let claim = tx
            .claim_key(&self.new_key(&request, Some(&cmd.order_id), Some(&attempt_id), now))
            .await?;
        if let Claim::Existing(record) = claim {
            tx.rollback().await?;
            return match self.existing(record, &request).await {
                Existing::Answer(answer) => *answer,
                Existing::Resume(record) => {
                    let resumed = self.resume_capture(caller, record, &request).await;
                    self.unless_under_review(resumed).await
                }
            };
        }
        let Some(order) = tx.lock_order_as(&cmd.order_id, &caller.sees).await? else {
            return Err(PaymentError::OrderNotFound {
                order_id: cmd.order_id.to_string(),
            });
        };
        self.provider(order.provider)?;
        let rules = crate::providers::rules(order.provider);
        let plan = match decide_capture(
            &order.state,
            rules,
            cmd.amount.map(Amount::get),
            cmd.final_capture,
            now,
        ) {
            Ok(plan) => plan,
            Err(refusal) => {
                return self.refuse(caller, tx, &request, order, refusal).await;
            }
        };
        let (order, capture, data) = self
            .capture_intent(caller, &tx, &cmd, order, plan, &attempt_id, now)
            .await?;
        tx.commit().await?;
        self.crash_point(CrashPoint::AfterIntentCommit);
        self.drive_capture(
            caller,
            &request,
            Drive {
                order,
                capture,
                attempt_id,
                data,
                resumed_after: None,
                found: None,
                attached: None,
            },
        )
        .await
    }

    /// The capture's intent decided on an unlocked read
    /// (`payments::unlocked`): `None` when the call must go the locked way
    /// (a refusal, a held key, an order that moved or is not found).
    async fn capture_unlocked(
        &self,
        caller: &Caller,
        cmd: &CaptureCommand,
        request: &KeyedRequest,
    ) -> Result<Option<Drive>, PaymentError> {
        let amount = cmd.amount.map(Amount::get);
        let decide = |order: &OrderRecord, _: &[CaptureRecord], now| {
            let rules = crate::providers::rules(order.provider);
            decide_capture(&order.state, rules, amount, cmd.final_capture, now).ok()
        };
        let intent = async |tx: &Tx, order, plan, attempt_id: &AttemptId, now| {
            self.capture_intent(caller, tx, cmd, order, plan, attempt_id, now)
                .await
        };
        let unlocked = self
            .intend_unlocked(caller, &cmd.order_id, request, decide, intent)
            .await?;
        Ok(unlocked.map(|u| {
            let (order, capture, data) = u.intent;
            Drive {
                order,
                capture,
                attempt_id: u.attempt_id,
                data,
                resumed_after: None,
                found: None,
                attached: Some(u.attached),
            }
        }))
    }

    /// Writes a capture's intent on `tx`: the reservation on `order` (locked,
    /// or read at the version the write is conditional on), the capture,
    /// the provider attempt and the event.
    #[allow(clippy::too_many_arguments)]
    async fn capture_intent(
        &self,
        caller: &Caller,
        tx: &Tx,
        cmd: &CaptureCommand,
        mut order: OrderRecord,
        plan: CapturePlan,
        attempt_id: &AttemptId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(OrderRecord, CaptureRecord, CaptureRequestData), PaymentError> {
        order.state = order.state.clone().capture_reserved(plan.amount);
        let order = tx.save_order(&order, now).await?;
        let capture = CaptureRecord {
            id: CaptureId::generate(),
            order_id: order.id.clone(),
            amount: plan.amount,
            status: CaptureStatus::Pending,
            final_capture: plan.final_capture,
            provider_capture_id: None,
            reference: cmd.reference.clone(),
            description: cmd.description.clone(),
            amount_refunded: 0,
            pending_refund: 0,
            failure: None,
            created_at: now,
            updated_at: now,
        };
        let data = CaptureRequestData::from(plan);
        tx.insert_capture(&capture).await?;
        tx.insert_attempt(
            &NewAttempt {
                id: attempt_id.clone(),
                order_id: order.id.clone(),
                operation: Operation::Capture,
                target_id: Some(capture.id.to_string()),
                provider_key: Some(capture.id.to_string()),
                amount: Some(plan.amount),
                request: serde_json::to_value(data).unwrap_or_default(),
            },
            now,
        )
        .await?;
        let event = json!({ "capture_id": capture.id.as_str(), "amount": plan.amount, "final_capture": plan.final_capture });
        tx.append_event(&event_of(&order, CAPTURE_REQUESTED, caller, event), now)
            .await?;
        Ok((order, capture, data))
    }

    /// A refusal before any provider call commits nothing, except that an
    /// authorization found past its deadline is recorded as expired.
    async fn refuse(
        &self,
        caller: &Caller,
        tx: Tx,
        request: &KeyedRequest,
        mut order: OrderRecord,
        refusal: Refusal,
    ) -> Result<OrderView, PaymentError> {
        let expired_now = matches!(&refusal, Refusal::Rule(v) if v.reason == Reason::AuthorizationExpired)
            && order.state.release.is_none();
        if expired_now {
            let now = self.now();
            order.state = order.state.clone().expired();
            let order = tx.save_order(&order, now).await?;
            tx.delete_key(&request.scope, &request.key).await?;
            let data = json!({ "expires_at": order.state.expires_at });
            tx.append_event(&event_of(&order, AUTHORIZATION_EXPIRED, caller, data), now)
                .await?;
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Err(refusal.into())
    }

    async fn resume_capture(
        &self,
        caller: &Caller,
        record: Box<KeyRecord>,
        request: &KeyedRequest,
    ) -> Result<OrderView, PaymentError> {
        let attempt_id =
            AttemptId::from_trusted(record.attempt_id.clone().ok_or(PaymentError::Internal)?);
        let order_id =
            OrderId::from_trusted(record.order_id.clone().ok_or(PaymentError::Internal)?);
        self.take_over(&record).await?;
        self.redrive_capture(caller, request, order_id, attempt_id)
            .await
    }

    /// Sends a capture again, with the same provider key, unless it was
    /// settled meanwhile.
    pub(super) async fn redrive_capture(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        order_id: OrderId,
        attempt_id: AttemptId,
    ) -> Result<OrderView, PaymentError> {
        self.redrive_capture_knowing(caller, request, order_id, attempt_id, None)
            .await
    }

    /// [`Payments::redrive_capture`], with what the provider reported of the
    /// capture if it was found (then it is booked, not sent again).
    pub(super) async fn redrive_capture_knowing(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        order_id: OrderId,
        attempt_id: AttemptId,
        found: Option<CaptureOutcome>,
    ) -> Result<OrderView, PaymentError> {
        let now = self.now();
        let tx = self.store().begin().await?;
        let attempt = tx.attempt(&attempt_id).await?;
        let order = tx.lock_order(&order_id).await?;
        let (Some(attempt), Some(order)) = (attempt, order) else {
            // The first call was refused before its intent was committed.
            tx.delete_key(&request.scope, &request.key).await?;
            tx.commit().await?;
            return Err(PaymentError::KeyInUse);
        };
        let capture_id =
            CaptureId::from_trusted(attempt.target_id.clone().ok_or(PaymentError::Internal)?);
        let capture = tx
            .capture(&capture_id)
            .await?
            .ok_or(PaymentError::Internal)?;
        if capture.status != CaptureStatus::Pending {
            complete(&tx, request, &Ok(order_id.clone()), now).await?;
            tx.commit().await?;
            return self.view(&order_id).await;
        }
        let data: CaptureRequestData =
            serde_json::from_value(attempt.request.clone()).map_err(|_| PaymentError::Internal)?;
        let event = json!({ "capture_id": capture.id.as_str() });
        tx.append_event(&event_of(&order, CAPTURE_RESUMED, caller, event), now)
            .await?;
        tx.commit().await?;
        self.drive_capture(
            caller,
            request,
            Drive {
                order,
                capture,
                attempt_id,
                data,
                resumed_after: Some(now - attempt.created_at),
                found,
                attached: None,
            },
        )
        .await
    }

    async fn drive_capture(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        drive: Drive,
    ) -> Result<OrderView, PaymentError> {
        let provider = self.provider(drive.order.provider)?.clone();
        let result = match drive.found.clone() {
            Some(found) => Ok(found),
            None => {
                provider
                    .capture(CaptureCall {
                        order: &drive.order,
                        capture: &drive.capture,
                        idempotency_key: drive.capture.id.to_string(),
                        whole_remainder: drive.data.whole_remainder,
                        final_capture: drive.data.final_capture,
                        resumed_after: drive.resumed_after,
                    })
                    .await
            }
        };
        self.crash_point(CrashPoint::AfterProviderAnswer);
        let order_id = drive.order.id.clone();
        let settled = self.settle_capture(caller, request, &drive, result).await?;
        if let Some((attempt_id, key)) = settled.release {
            self.release_remainder(caller, &order_id, &attempt_id, key)
                .await?;
            return self.view(&order_id).await;
        }
        match (drive.attached, settled.written) {
            (Some(attached), Some((order, capture))) => {
                Ok(self.keep_written(attached.answer(order, [capture], [])))
            }
            _ => self.view(&order_id).await,
        }
    }

    /// Records a capture's outcome. Returns the attempt of the release to
    /// make next, when a final partial capture needs one. A first call
    /// starts from the order and capture as its intent wrote them, and from
    /// locked reads only if anything wrote the order since.
    async fn settle_capture(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        drive: &Drive,
        result: Result<CaptureOutcome, ProviderError>,
    ) -> Result<Settled, PaymentError> {
        let first_call = drive.resumed_after.is_none() && drive.found.is_none();
        outcome_step(first_call, |assume| {
            self.settle_capture_from(caller, request, drive, result.clone(), assume)
        })
        .await
    }

    /// [`Payments::settle_capture`] from the drive's order and capture
    /// (`assume`, with the attempt still in flight) or from locked reads.
    /// `None` when the assumed order was written since: nothing was.
    async fn settle_capture_from(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        drive: &Drive,
        result: Result<CaptureOutcome, ProviderError>,
        assume: bool,
    ) -> Result<Option<Settled>, PaymentError> {
        let now = self.now();
        let tx = self.store().begin().await?;
        let (mut order, mut capture, prior) = if assume {
            tx.assume_unchanged(&drive.order);
            (
                drive.order.clone(),
                drive.capture.clone(),
                AttemptState::InFlight,
            )
        } else {
            let order = tx
                .lock_order(&drive.order.id)
                .await?
                .ok_or(PaymentError::Internal)?;
            let capture = tx
                .capture(&drive.capture.id)
                .await?
                .ok_or(PaymentError::Internal)?;
            if capture.status != CaptureStatus::Pending {
                // Settled meanwhile, by reconciliation or a resumed call.
                complete(&tx, request, &Ok(order.id.clone()), now).await?;
                tx.commit().await?;
                return Ok(Some(Settled {
                    release: None,
                    written: None,
                }));
            }
            let prior = Self::prior_state(&tx, &drive.attempt_id).await?;
            (order, capture, prior)
        };
        account_unknown(
            &mut order,
            prior,
            matches!(result, Err(ProviderError::OutcomeUnknown { .. })),
        );
        let amount = capture.amount;
        capture.updated_at = now;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => {
                let answer = PaymentError::from_provider(error.clone(), order.id.as_str());
                let detail = error.to_string();
                let (event, attempt_state, key) = match &error {
                    ProviderError::OutcomeUnknown { .. } => {
                        self.flag_unknown(&mut order);
                        (
                            CAPTURE_OUTCOME_UNKNOWN,
                            AttemptState::Unknown,
                            KeyAfter::Open,
                        )
                    }
                    ProviderError::Unreachable { .. }
                    | ProviderError::Throttled { .. }
                    | ProviderError::CredentialsRejected { .. } => {
                        order.state = order.state.clone().capture_failed(amount);
                        capture.status = CaptureStatus::Failed;
                        capture.failure = Some(failure_of(&answer, &error));
                        // Nothing moved: the caller may retry with the same key.
                        (CAPTURE_NOT_SENT, AttemptState::Failed, KeyAfter::Delete)
                    }
                    ProviderError::Rejected { reason, .. } => {
                        Self::flag_if_lost_at_provider(&mut order, &error);
                        order.state = order.state.clone().capture_failed(amount);
                        if *reason == Reason::AuthorizationExpired {
                            order.state = order.state.clone().expired();
                        }
                        capture.status = CaptureStatus::Failed;
                        capture.failure = Some(failure_of(&answer, &error));
                        (
                            CAPTURE_FAILED,
                            AttemptState::Failed,
                            KeyAfter::Complete(Err(answer.clone())),
                        )
                    }
                };
                let Some(order) = save_first(&tx, &order, now, assume).await? else {
                    return Ok(None);
                };
                tx.finish_attempt(&drive.attempt_id, attempt_state, Some(&detail), now, None)
                    .await?;
                key.apply(&tx, request, now).await?;
                tx.save_capture(&capture).await?;
                let data =
                    json!({ "capture_id": capture.id.as_str(), "amount": amount, "error": detail });
                tx.append_event(&event_of(&order, event, caller, data), now)
                    .await?;
                tx.commit().await?;
                self.crash_point(CrashPoint::AfterOutcomeCommit);
                return Err(answer);
            }
        };
        let provider_releases = drive.data.final_capture && !drive.data.release_after;
        // The provider's figure is booked when it fits the reservation; any
        // difference is a discrepancy a person looks at.
        let booked = outcome.amount.clamp(0, amount);
        if outcome.amount != amount {
            tracing::warn!(order_id = %order.id, capture_id = %capture.id, reserved = amount, provider_captured = outcome.amount, "the provider captured another amount than was asked; booked its figure where it fits, flagged for review");
            order.needs_review = true;
        }
        order.state = order
            .state
            .clone()
            .capture_settled(amount, booked, provider_releases);
        capture.amount = booked;
        capture.status = CaptureStatus::Succeeded;
        capture.provider_capture_id = outcome.provider_capture_id;
        let release = if drive.data.release_after && order.state.capturable() > 0 {
            order.state = order.state.clone().void_requested();
            let key = format!("{}-release", capture.id);
            let attempt = NewAttempt {
                id: AttemptId::generate(),
                order_id: order.id.clone(),
                operation: Operation::Release,
                target_id: Some(capture.id.to_string()),
                provider_key: Some(key.clone()),
                amount: Some(order.state.capturable()),
                request: json!({}),
            };
            Some(attempt)
        } else {
            None
        };
        let Some(order) = save_first(&tx, &order, now, assume).await? else {
            return Ok(None);
        };
        tx.finish_attempt(&drive.attempt_id, AttemptState::Succeeded, None, now, None)
            .await?;
        let release = match release {
            Some(attempt) => {
                tx.insert_attempt(&attempt, now).await?;
                let key = attempt.provider_key.clone().unwrap_or_default();
                Some((attempt.id, key))
            }
            None => None,
        };
        tx.save_capture(&capture).await?;
        let data = json!({ "capture_id": capture.id.as_str(), "amount": booked, "requested": amount, "final_capture": capture.final_capture });
        tx.append_event(&event_of(&order, CAPTURE_SUCCEEDED, caller, data), now)
            .await?;
        // The capture's outcome is known: a retry replays the order even if
        // the release that follows fails.
        complete(&tx, request, &Ok(order.id.clone()), now).await?;
        tx.commit().await?;
        self.crash_point(CrashPoint::AfterOutcomeCommit);
        let written = assume.then_some((order, capture));
        Ok(Some(Settled { release, written }))
    }

    /// Releases what a final partial capture left, where the provider has no
    /// "capture and release" call (PAY.JP: cancel after the capture).
    pub(super) async fn release_remainder(
        &self,
        caller: &Caller,
        order_id: &OrderId,
        attempt_id: &AttemptId,
        idempotency_key: String,
    ) -> Result<(), PaymentError> {
        let order = self.view(order_id).await?.order;
        let provider = self.provider(order.provider)?.clone();
        let result = provider
            .void(VoidCall {
                order: &order,
                idempotency_key,
                resumed_after: None,
            })
            .await;
        self.crash_point(CrashPoint::AfterProviderAnswer);
        let now = self.now();
        let tx = self.store().begin().await?;
        let mut order = tx
            .lock_order(order_id)
            .await?
            .ok_or(PaymentError::Internal)?;
        let prior = Self::prior_state(&tx, attempt_id).await?;
        if !order.state.void_pending
            || matches!(prior, AttemptState::Succeeded | AttemptState::Failed)
        {
            // Settled meanwhile, by reconciliation.
            return Ok(());
        }
        account_unknown(
            &mut order,
            prior,
            matches!(result, Err(ProviderError::OutcomeUnknown { .. })),
        );
        let (event, state, detail) = match &result {
            Ok(()) => {
                order.state = order.state.clone().remainder_released();
                (REMAINDER_RELEASED, AttemptState::Succeeded, None)
            }
            Err(ProviderError::OutcomeUnknown { .. }) => {
                self.flag_unknown(&mut order);
                (
                    REMAINDER_RELEASE_UNKNOWN,
                    AttemptState::Unknown,
                    result.as_ref().err().map(|e| e.to_string()),
                )
            }
            Err(error) => {
                tracing::warn!(order_id = %order.id, %error, "releasing the rest after a final capture failed");
                order.state = order.state.clone().void_failed();
                (
                    REMAINDER_RELEASE_FAILED,
                    AttemptState::Failed,
                    Some(error.to_string()),
                )
            }
        };
        let order = tx.save_order(&order, now).await?;
        tx.finish_attempt(attempt_id, state, detail.as_deref(), now, None)
            .await?;
        tx.append_event(
            &event_of(&order, event, caller, json!({ "error": detail })),
            now,
        )
        .await?;
        tx.commit().await?;
        self.crash_point(CrashPoint::AfterOutcomeCommit);
        Ok(())
    }
}

/// The failure recorded on a capture or refund the provider refused.
pub(super) fn failure_of(answer: &PaymentError, error: &ProviderError) -> Failure {
    let (code, provider_code) = match error {
        ProviderError::Rejected {
            reason,
            provider_code,
            ..
        } => (reason.as_str(), Some(provider_code.clone())),
        ProviderError::Unreachable { .. } | ProviderError::Throttled { .. } => {
            (Reason::ProviderUnavailable.as_str(), None)
        }
        ProviderError::CredentialsRejected { .. } => {
            (Reason::ProviderCredentialsRejected.as_str(), None)
        }
        ProviderError::OutcomeUnknown { .. } => (Reason::OutcomeUnknown.as_str(), None),
    };
    Failure {
        code: code.to_owned(),
        message: answer.to_string(),
        provider_code,
    }
}
