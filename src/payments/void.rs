//! Void: release whatever is still capturable.

use serde_json::json;

use super::authorize::event_of;
use super::events::*;
use super::idempotency::{Existing, KeyAfter, KeyedRequest, complete};
use super::unlocked::Attached;
use super::{
    Caller, CrashPoint, PaymentError, Payments, account_unknown, outcome_step, save_first,
};
use crate::domain::decide::{VoidPlan, decide_void};
use crate::domain::{AttemptId, IdempotencyKey, OrderId, OrderRecord, OrderView};
use crate::providers::{ProviderError, VoidCall};
use crate::store::{AttemptState, Claim, KeyRecord, NewAttempt, Operation, Tx};

#[derive(Debug, Clone)]
pub struct VoidCommand {
    pub key: IdempotencyKey,
    pub order_id: OrderId,
}

/// How a void's provider call is made.
#[derive(Debug, Clone, Copy)]
struct Resend {
    /// When resuming: how long ago the first call was sent.
    resumed_after: Option<chrono::Duration>,
    /// The provider reported the void made, in the notification of its
    /// transaction: booked, not sent again.
    found: bool,
}

impl Resend {
    fn first() -> Self {
        Self {
            resumed_after: None,
            found: false,
        }
    }
}

impl Payments {
    pub(super) async fn void_now(
        &self,
        caller: &Caller,
        cmd: VoidCommand,
    ) -> Result<OrderView, PaymentError> {
        let request = self.keyed(
            caller,
            &cmd.key,
            "void",
            &json!({ "order_id": cmd.order_id.as_str() }),
        );
        if let Some((order, attempt_id, attached)) =
            self.void_unlocked(caller, &cmd, &request).await?
        {
            let call = Resend::first();
            return self
                .drive_void(caller, &request, order, attempt_id, call, Some(attached))
                .await;
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
                    let resumed = self.resume_void(caller, record, &request).await;
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
        let plan = decide_void(&order.state, crate::providers::rules(order.provider), now)?;
        let order = self
            .void_intent(caller, &tx, order, plan, &attempt_id, now)
            .await?;
        tx.commit().await?;
        self.crash_point(CrashPoint::AfterIntentCommit);
        self.drive_void(caller, &request, order, attempt_id, Resend::first(), None)
            .await
    }

    /// The void's intent decided on an unlocked read
    /// (`payments::unlocked`): `None` when the call must go the locked way
    /// (a refusal, a held key, an order that moved or is not found).
    async fn void_unlocked(
        &self,
        caller: &Caller,
        cmd: &VoidCommand,
        request: &KeyedRequest,
    ) -> Result<Option<(OrderRecord, AttemptId, Attached)>, PaymentError> {
        let decide = |order: &OrderRecord, _: &[_], now| {
            decide_void(&order.state, crate::providers::rules(order.provider), now).ok()
        };
        let intent = async |tx: &Tx, order, plan, attempt_id: &AttemptId, now| {
            self.void_intent(caller, tx, order, plan, attempt_id, now)
                .await
        };
        let unlocked = self
            .intend_unlocked(caller, &cmd.order_id, request, decide, intent)
            .await?;
        Ok(unlocked.map(|u| (u.intent, u.attempt_id, u.attached)))
    }

    /// Writes a void's intent on `tx`: `order` (locked, or read at the
    /// version the write is conditional on) marked as voiding, the provider
    /// attempt and the event.
    async fn void_intent(
        &self,
        caller: &Caller,
        tx: &Tx,
        mut order: OrderRecord,
        plan: VoidPlan,
        attempt_id: &AttemptId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<OrderRecord, PaymentError> {
        order.state = order.state.clone().void_requested();
        let order = tx.save_order(&order, now).await?;
        tx.insert_attempt(
            &NewAttempt {
                id: attempt_id.clone(),
                order_id: order.id.clone(),
                operation: Operation::Void,
                target_id: None,
                provider_key: Some(attempt_id.to_string()),
                amount: Some(plan.releases),
                request: json!({}),
            },
            now,
        )
        .await?;
        let data = json!({ "releases": plan.releases });
        tx.append_event(&event_of(&order, VOID_REQUESTED, caller, data), now)
            .await?;
        Ok(order)
    }

    async fn resume_void(
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
        self.redrive_void(caller, request, order_id, attempt_id)
            .await
    }

    /// Sends a void again, with the same provider key, unless it was settled
    /// meanwhile.
    pub(super) async fn redrive_void(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        order_id: OrderId,
        attempt_id: AttemptId,
    ) -> Result<OrderView, PaymentError> {
        self.redrive_void_knowing(caller, request, order_id, attempt_id, false)
            .await
    }

    /// [`Payments::redrive_void`]; `found` when the provider reported the
    /// void made (then it is booked, not sent again).
    pub(super) async fn redrive_void_knowing(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        order_id: OrderId,
        attempt_id: AttemptId,
        found: bool,
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
        if !order.state.void_pending {
            complete(&tx, request, &Ok(order_id.clone()), now).await?;
            tx.commit().await?;
            return self.view(&order_id).await;
        }
        tx.append_event(&event_of(&order, VOID_RESUMED, caller, json!({})), now)
            .await?;
        tx.commit().await?;
        let resumed_after = Some(now - attempt.created_at);
        let call = Resend {
            resumed_after,
            found,
        };
        self.drive_void(caller, request, order, attempt_id, call, None)
            .await
    }

    async fn drive_void(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        order: OrderRecord,
        attempt_id: AttemptId,
        call: Resend,
        attached: Option<Attached>,
    ) -> Result<OrderView, PaymentError> {
        let provider = self.provider(order.provider)?.clone();
        let result = if call.found {
            Ok(())
        } else {
            provider
                .void(VoidCall {
                    order: &order,
                    idempotency_key: attempt_id.to_string(),
                    resumed_after: call.resumed_after,
                })
                .await
        };
        self.crash_point(CrashPoint::AfterProviderAnswer);
        // A first call starts from the order as its intent wrote it, and
        // from a locked read only if anything wrote the order since.
        let first_call = call.resumed_after.is_none() && !call.found;
        outcome_step(first_call, |assume| {
            let attached = attached.clone();
            self.settle_void_from(
                caller,
                request,
                &order,
                &attempt_id,
                &result,
                assume,
                attached,
            )
        })
        .await
    }

    /// Records a void's outcome, from `order` as this process last wrote it
    /// (`assume`, with the attempt still in flight) or from a locked read.
    /// `None` when the assumed order was written since: nothing was.
    /// `attached`, when the intent was decided unlocked and `assume`: the
    /// answer's other records.
    #[allow(clippy::too_many_arguments)]
    async fn settle_void_from(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        order: &OrderRecord,
        attempt_id: &AttemptId,
        result: &Result<(), ProviderError>,
        assume: bool,
        attached: Option<Attached>,
    ) -> Result<Option<OrderView>, PaymentError> {
        let now = self.now();
        let tx = self.store().begin().await?;
        let (mut order, prior) = if assume {
            tx.assume_unchanged(order);
            (order.clone(), AttemptState::InFlight)
        } else {
            let order = tx
                .lock_order(&order.id)
                .await?
                .ok_or(PaymentError::Internal)?;
            let prior = Self::prior_state(&tx, attempt_id).await?;
            if !order.state.void_pending
                || matches!(prior, AttemptState::Succeeded | AttemptState::Failed)
            {
                // Settled meanwhile, by reconciliation or a resumed call.
                complete(&tx, request, &Ok(order.id.clone()), now).await?;
                tx.commit().await?;
                return self.view(&order.id).await.map(Some);
            }
            (order, prior)
        };
        account_unknown(
            &mut order,
            prior,
            matches!(result, Err(ProviderError::OutcomeUnknown { .. })),
        );
        let (event, attempt_state, answer, key) = match result {
            Ok(()) => {
                order.state = order.state.clone().voided();
                order.next_action = None;
                let key = KeyAfter::Complete(Ok(order.id.clone()));
                (VOID_SUCCEEDED, AttemptState::Succeeded, None, key)
            }
            Err(error) => {
                let answer = PaymentError::from_provider(error.clone(), order.id.as_str());
                match error {
                    ProviderError::OutcomeUnknown { .. } => {
                        self.flag_unknown(&mut order);
                        let state = AttemptState::Unknown;
                        (VOID_OUTCOME_UNKNOWN, state, Some(answer), KeyAfter::Open)
                    }
                    ProviderError::Unreachable { .. }
                    | ProviderError::Throttled { .. }
                    | ProviderError::CredentialsRejected { .. } => {
                        order.state = order.state.clone().void_failed();
                        let state = AttemptState::Failed;
                        (VOID_NOT_SENT, state, Some(answer), KeyAfter::Delete)
                    }
                    ProviderError::Rejected { .. } => {
                        Self::flag_if_lost_at_provider(&mut order, error);
                        order.state = order.state.clone().void_failed();
                        let key = KeyAfter::Complete(Err(answer.clone()));
                        (VOID_FAILED, AttemptState::Failed, Some(answer), key)
                    }
                }
            }
        };
        let Some(order) = save_first(&tx, &order, now, assume).await? else {
            return Ok(None);
        };
        key.apply(&tx, request, now).await?;
        let detail = result.as_ref().err().map(|e| e.to_string());
        tx.finish_attempt(attempt_id, attempt_state, detail.as_deref(), now, None)
            .await?;
        tx.append_event(
            &event_of(&order, event, caller, json!({ "error": detail })),
            now,
        )
        .await?;
        tx.commit().await?;
        self.crash_point(CrashPoint::AfterOutcomeCommit);
        match (answer, attached.filter(|_| assume)) {
            (Some(error), _) => Err(error),
            // Nobody wrote the order since the intent.
            (None, Some(attached)) => Ok(Some(self.keep_written(attached.answer(order, [], [])))),
            (None, None) => self.view(&order.id).await.map(Some),
        }
    }
}
