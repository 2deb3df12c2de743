//! Refund: give captured money back, split across captures where the
//! provider refunds per payment (the plan is stored before any call; part n
//! goes out with the key `{refund id}-{n}`).

use std::collections::BTreeMap;

use serde_json::json;

use super::authorize::event_of;
use super::capture::failure_of;
use super::events::*;
use super::idempotency::{Existing, KeyedRequest, complete};
use super::unlocked::Attached;
use super::{
    Caller, CrashPoint, PaymentError, Payments, account_unknown, outcome_step, save_first,
};
use crate::domain::decide::{RefundPlan, RefundableCapture, decide_refund};
use crate::domain::{
    Amount, AttemptId, CaptureRecord, CaptureStatus, IdempotencyKey, OrderId, OrderRecord,
    OrderView, RefundId, RefundPart, RefundReason, RefundRecord, RefundStatus,
};
use crate::providers::{ProviderError, RefundCall, RefundOutcome};
use crate::store::{AttemptState, Claim, KeyRecord, NewAttempt, Operation, Tx};

#[derive(Debug, Clone)]
pub struct RefundCommand {
    pub key: IdempotencyKey,
    pub order_id: OrderId,
    pub amount: Option<Amount>,
    pub reason: Option<RefundReason>,
    pub reference: String,
    pub description: String,
}

impl RefundCommand {
    fn fingerprint(&self) -> serde_json::Value {
        json!({
            "order_id": self.order_id.as_str(),
            "amount": self.amount.map(Amount::get),
            "reason": self.reason.map(RefundReason::as_str),
            "reference": self.reference,
            "description": self.description,
        })
    }
}

struct Drive {
    order: OrderRecord,
    refund: RefundRecord,
    captures: BTreeMap<String, CaptureRecord>,
    attempt_id: AttemptId,
    /// When resuming: how long ago the first call was sent.
    resumed_after: Option<chrono::Duration>,
    /// A refund the provider reports it made for this order, found by the
    /// id its notification named: the answer a lost call would have had.
    found: Option<FoundRefund>,
    /// What was attached to the order when its intent was decided on an
    /// unlocked read (`payments::unlocked`): the answer's other records.
    attached: Option<Attached>,
}

/// A refund looked up at the provider (`PaymentProvider::transaction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FoundRefund {
    pub id: String,
    pub amount: i64,
}

impl Payments {
    pub(super) async fn refund_now(
        &self,
        caller: &Caller,
        cmd: RefundCommand,
    ) -> Result<OrderView, PaymentError> {
        let request = self.keyed(caller, &cmd.key, "refund", &cmd.fingerprint());
        if let Some(drive) = self.refund_unlocked(caller, &cmd, &request).await? {
            return self.drive_refund(caller, &request, drive).await;
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
                    let resumed = self.resume_refund(caller, record, &request).await;
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
        let captures = tx.captures(&order.id).await?;
        let plan = plan_refund(&cmd, &order, &captures)?;
        let (order, refund, captures) = self
            .refund_intent(caller, &tx, &cmd, order, captures, plan, &attempt_id, now)
            .await?;
        tx.commit().await?;
        self.crash_point(CrashPoint::AfterIntentCommit);
        self.drive_refund(
            caller,
            &request,
            Drive {
                order,
                refund,
                captures,
                attempt_id,
                resumed_after: None,
                found: None,
                attached: None,
            },
        )
        .await
    }

    /// The refund's intent decided on an unlocked read
    /// (`payments::unlocked`): `None` when the call must go the locked way
    /// (a refusal, a held key, an order that moved or is not found).
    async fn refund_unlocked(
        &self,
        caller: &Caller,
        cmd: &RefundCommand,
        request: &KeyedRequest,
    ) -> Result<Option<Drive>, PaymentError> {
        let decide = |order: &OrderRecord, captures: &[CaptureRecord], _| {
            let plan = plan_refund(cmd, order, captures).ok()?;
            Some((plan, captures.to_vec()))
        };
        let intent = async |tx: &Tx, order, (plan, captures), attempt_id: &AttemptId, now| {
            self.refund_intent(caller, tx, cmd, order, captures, plan, attempt_id, now)
                .await
        };
        let unlocked = self
            .intend_unlocked(caller, &cmd.order_id, request, decide, intent)
            .await?;
        Ok(unlocked.map(|u| {
            let (order, refund, captures) = u.intent;
            Drive {
                order,
                refund,
                captures,
                attempt_id: u.attempt_id,
                resumed_after: None,
                found: None,
                attached: Some(u.attached),
            }
        }))
    }

    /// Writes a refund's intent on `tx`: the reservation on `order` (locked,
    /// or read at the version the write is conditional on) and on each
    /// capture a part draws from, the refund with its parts, the provider
    /// attempt and the event. Returns the captures by id as written.
    #[allow(clippy::too_many_arguments)]
    async fn refund_intent(
        &self,
        caller: &Caller,
        tx: &Tx,
        cmd: &RefundCommand,
        mut order: OrderRecord,
        captures: Vec<CaptureRecord>,
        plan: RefundPlan,
        attempt_id: &AttemptId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(OrderRecord, RefundRecord, BTreeMap<String, CaptureRecord>), PaymentError> {
        order.state = order.state.clone().refund_reserved(plan.amount);
        let order = tx.save_order(&order, now).await?;
        let mut by_id: BTreeMap<String, CaptureRecord> = captures
            .into_iter()
            .map(|c| (c.id.to_string(), c))
            .collect();
        let mut parts = Vec::with_capacity(plan.parts.len());
        for (index, part) in plan.parts.iter().enumerate() {
            if let Some(capture_id) = &part.capture_id {
                let capture = by_id
                    .get_mut(capture_id.as_str())
                    .ok_or(PaymentError::Internal)?;
                capture.pending_refund += part.amount;
                capture.updated_at = now;
                tx.save_capture(capture).await?;
            }
            parts.push(RefundPart {
                n: index as u32 + 1,
                capture_id: part.capture_id.as_ref().map(|c| c.to_string()),
                amount: part.amount,
                status: RefundStatus::Pending,
                provider_refund_id: None,
            });
        }
        let refund = RefundRecord {
            id: RefundId::generate(),
            order_id: order.id.clone(),
            amount: plan.amount,
            status: RefundStatus::Pending,
            reason: cmd.reason,
            reference: cmd.reference.clone(),
            description: cmd.description.clone(),
            parts,
            failure: None,
            created_at: now,
            updated_at: now,
        };
        tx.insert_refund(&refund).await?;
        tx.insert_attempt(
            &NewAttempt {
                id: attempt_id.clone(),
                order_id: order.id.clone(),
                operation: Operation::Refund,
                target_id: Some(refund.id.to_string()),
                provider_key: Some(refund.id.to_string()),
                amount: Some(plan.amount),
                request: json!({}),
            },
            now,
        )
        .await?;
        let data = json!({ "refund_id": refund.id.as_str(), "amount": plan.amount, "parts": refund.parts.len() });
        tx.append_event(&event_of(&order, REFUND_REQUESTED, caller, data), now)
            .await?;
        Ok((order, refund, by_id))
    }

    async fn resume_refund(
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
        self.redrive_refund(caller, request, order_id, attempt_id)
            .await
    }

    /// Sends a refund's unsent parts again, with the same provider keys,
    /// unless it was settled meanwhile.
    pub(super) async fn redrive_refund(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        order_id: OrderId,
        attempt_id: AttemptId,
    ) -> Result<OrderView, PaymentError> {
        self.redrive_refund_knowing(caller, request, order_id, attempt_id, None)
            .await
    }

    /// [`Payments::redrive_refund`], with what the provider reported of the
    /// refund if it was found (then it is booked, not sent again).
    pub(super) async fn redrive_refund_knowing(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        order_id: OrderId,
        attempt_id: AttemptId,
        found: Option<FoundRefund>,
    ) -> Result<OrderView, PaymentError> {
        let now = self.now();
        let tx = self.store().begin().await?;
        let attempt = tx.attempt(&attempt_id).await?;
        let order = tx.lock_order(&order_id).await?;
        let (Some(attempt), Some(order)) = (attempt, order) else {
            tx.delete_key(&request.scope, &request.key).await?;
            tx.commit().await?;
            return Err(PaymentError::KeyInUse);
        };
        let refund_id =
            RefundId::from_trusted(attempt.target_id.clone().ok_or(PaymentError::Internal)?);
        let refund = tx.refund(&refund_id).await?.ok_or(PaymentError::Internal)?;
        if refund.status != RefundStatus::Pending {
            complete(&tx, request, &Ok(order_id.clone()), now).await?;
            tx.commit().await?;
            return self.view(&order_id).await;
        }
        let captures = tx
            .captures(&order_id)
            .await?
            .into_iter()
            .map(|c| (c.id.to_string(), c))
            .collect();
        let data = json!({ "refund_id": refund.id.as_str() });
        tx.append_event(&event_of(&order, REFUND_RESUMED, caller, data), now)
            .await?;
        tx.commit().await?;
        self.drive_refund(
            caller,
            request,
            Drive {
                order,
                refund,
                captures,
                attempt_id,
                resumed_after: Some(now - attempt.created_at),
                found,
                attached: None,
            },
        )
        .await
    }

    /// Sends the parts not sent yet, in order, stopping at the first that
    /// does not succeed.
    async fn drive_refund(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        drive: Drive,
    ) -> Result<OrderView, PaymentError> {
        let provider = self.provider(drive.order.provider)?.clone();
        let mut results = BTreeMap::new();
        for part in &drive.refund.parts {
            if part.status != RefundStatus::Pending || part.provider_refund_id.is_some() {
                continue;
            }
            if let Some(found) = drive.found.as_ref().filter(|f| f.amount == part.amount) {
                results.insert(
                    part.n,
                    Ok(RefundOutcome {
                        provider_refund_id: found.id.clone(),
                        status: RefundStatus::Succeeded,
                    }),
                );
                break;
            }
            let capture = part
                .capture_id
                .as_ref()
                .and_then(|id| drive.captures.get(id));
            let result = provider
                .refund(RefundCall {
                    order: &drive.order,
                    capture,
                    amount: part.amount,
                    reason: drive.refund.reason,
                    reference: &drive.refund.reference,
                    description: &drive.refund.description,
                    idempotency_key: drive.refund.part_key(part.n),
                    resumed_after: drive.resumed_after,
                })
                .await;
            let stop = result.is_err();
            results.insert(part.n, result);
            if stop {
                break;
            }
        }
        self.crash_point(CrashPoint::AfterProviderAnswer);
        self.settle_refund(caller, request, &drive, results).await
    }

    /// Records a refund's outcome. A first call starts from the order,
    /// refund and captures as its intent wrote them, and from locked reads
    /// only if anything wrote the order since.
    async fn settle_refund(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        drive: &Drive,
        results: BTreeMap<u32, Result<RefundOutcome, ProviderError>>,
    ) -> Result<OrderView, PaymentError> {
        let first_call = drive.resumed_after.is_none() && drive.found.is_none();
        outcome_step(first_call, |assume| {
            self.settle_refund_from(caller, request, drive, results.clone(), assume)
        })
        .await
    }

    /// [`Payments::settle_refund`] from the drive's records (`assume`, with
    /// the attempt still in flight) or from locked reads. `None` when the
    /// assumed order was written since: nothing was.
    async fn settle_refund_from(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        drive: &Drive,
        mut results: BTreeMap<u32, Result<RefundOutcome, ProviderError>>,
        assume: bool,
    ) -> Result<Option<OrderView>, PaymentError> {
        let now = self.now();
        let tx = self.store().begin().await?;
        let (mut order, mut refund, mut captures, prior) = if assume {
            tx.assume_unchanged(&drive.order);
            (
                drive.order.clone(),
                drive.refund.clone(),
                drive.captures.clone(),
                AttemptState::InFlight,
            )
        } else {
            let order = tx
                .lock_order(&drive.order.id)
                .await?
                .ok_or(PaymentError::Internal)?;
            let refund = tx
                .refund(&drive.refund.id)
                .await?
                .ok_or(PaymentError::Internal)?;
            let captures: BTreeMap<String, CaptureRecord> = tx
                .captures(&order.id)
                .await?
                .into_iter()
                .map(|c| (c.id.to_string(), c))
                .collect();
            if refund.status != RefundStatus::Pending {
                // Settled meanwhile, by reconciliation or a resumed call.
                complete(&tx, request, &Ok(order.id.clone()), now).await?;
                tx.commit().await?;
                return self.view(&order.id).await.map(Some);
            }
            let prior = Self::prior_state(&tx, &drive.attempt_id).await?;
            (order, refund, captures, prior)
        };
        let mut unknown = false;
        let mut moved = false;
        let mut first_error: Option<ProviderError> = None;
        for part in refund
            .parts
            .iter_mut()
            .filter(|p| p.status == RefundStatus::Pending)
        {
            let settled = match results.remove(&part.n) {
                Some(Ok(outcome)) => {
                    part.provider_refund_id = Some(outcome.provider_refund_id);
                    part.status = outcome.status;
                    moved = true;
                    match outcome.status {
                        RefundStatus::Succeeded => Some(part.amount),
                        RefundStatus::Failed => Some(0),
                        RefundStatus::Pending => None,
                    }
                }
                Some(Err(error @ ProviderError::OutcomeUnknown { .. })) => {
                    unknown = true;
                    first_error.get_or_insert(error);
                    None
                }
                Some(Err(error)) => {
                    part.status = RefundStatus::Failed;
                    first_error.get_or_insert(error);
                    Some(0)
                }
                // Never sent: after an unknown part it waits for the resume;
                // after a refusal it will not be sent.
                None if unknown || part.provider_refund_id.is_some() => None,
                None => {
                    part.status = RefundStatus::Failed;
                    Some(0)
                }
            };
            if let Some(refunded) = settled {
                order.state = order.state.clone().refund_settled(part.amount, refunded);
                if let Some(capture) = part.capture_id.as_ref().and_then(|id| captures.get_mut(id))
                {
                    capture.pending_refund -= part.amount;
                    capture.amount_refunded += refunded;
                    capture.updated_at = now;
                }
            }
        }
        refund.status = if refund
            .parts
            .iter()
            .all(|p| p.status == RefundStatus::Succeeded)
        {
            RefundStatus::Succeeded
        } else if refund
            .parts
            .iter()
            .any(|p| p.status == RefundStatus::Pending)
        {
            RefundStatus::Pending
        } else {
            RefundStatus::Failed
        };
        refund.updated_at = now;
        let answer = first_error
            .as_ref()
            .map(|e| PaymentError::from_provider(e.clone(), order.id.as_str()));
        if let (Some(answer), Some(error)) = (&answer, &first_error) {
            refund.failure = Some(failure_of(answer, error));
        }
        account_unknown(&mut order, prior, unknown);
        if unknown {
            self.flag_unknown(&mut order);
        }
        if let Some(error) = &first_error {
            Self::flag_if_lost_at_provider(&mut order, error);
        }
        let Some(order) = save_first(&tx, &order, now, assume).await? else {
            return Ok(None);
        };
        for capture in captures.values() {
            if refund
                .parts
                .iter()
                .any(|p| p.capture_id.as_deref() == Some(capture.id.as_str()))
            {
                tx.save_capture(capture).await?;
            }
        }
        tx.save_refund(&refund).await?;
        let detail = first_error.as_ref().map(|e| e.to_string());
        let (attempt_state, result) = match (&first_error, &answer) {
            (Some(ProviderError::OutcomeUnknown { .. }), Some(answer)) => {
                tx.open_key(&request.scope, &request.key, now).await?;
                (AttemptState::Unknown, Err(answer.clone()))
            }
            (
                Some(
                    ProviderError::Unreachable { .. }
                    | ProviderError::Throttled { .. }
                    | ProviderError::CredentialsRejected { .. },
                ),
                Some(answer),
            ) if !moved => {
                tx.delete_key(&request.scope, &request.key).await?;
                (AttemptState::Failed, Err(answer.clone()))
            }
            (Some(_), Some(answer)) if !moved => {
                complete(&tx, request, &Err(answer.clone()), now).await?;
                (AttemptState::Failed, Err(answer.clone()))
            }
            // Some money moved: the order, with the refund's parts, is the
            // answer.
            (Some(_), _) => {
                complete(&tx, request, &Ok(order.id.clone()), now).await?;
                (AttemptState::Failed, Ok(()))
            }
            (None, _) => {
                complete(&tx, request, &Ok(order.id.clone()), now).await?;
                (AttemptState::Succeeded, Ok(()))
            }
        };
        tx.finish_attempt(
            &drive.attempt_id,
            attempt_state,
            detail.as_deref(),
            now,
            None,
        )
        .await?;
        let data = json!({
            "refund_id": refund.id.as_str(),
            "status": refund.status.as_str(),
            "amount_refunded": order.state.refunded,
            "error": detail,
        });
        tx.append_event(&event_of(&order, REFUND_SETTLED, caller, data), now)
            .await?;
        tx.commit().await?;
        self.crash_point(CrashPoint::AfterOutcomeCommit);
        result?;
        match drive.attached.clone().filter(|_| assume) {
            // Nobody wrote the order since the intent: its records, as this
            // step wrote them, are the answer.
            Some(attached) => Ok(Some(self.keep_written(attached.answer(
                order,
                captures.into_values(),
                [refund],
            )))),
            None => self.view(&order.id).await.map(Some),
        }
    }
}

/// What the rules allow of `cmd` on `order` and its `captures`.
fn plan_refund(
    cmd: &RefundCommand,
    order: &OrderRecord,
    captures: &[CaptureRecord],
) -> Result<RefundPlan, PaymentError> {
    let refundable: Vec<RefundableCapture> = captures
        .iter()
        .filter(|c| c.status == CaptureStatus::Succeeded)
        .map(|c| RefundableCapture {
            capture_id: c.id.clone(),
            refundable: c.refundable(),
        })
        .collect();
    Ok(decide_refund(
        &order.state,
        crate::providers::rules(order.provider),
        cmd.amount.map(Amount::get),
        cmd.reason,
        &refundable,
    )?)
}
