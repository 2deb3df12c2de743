//! Authorize: open an order and reserve its amount at the provider.

use serde_json::json;

mod command;

pub use self::command::AuthorizeCommand;

use super::events::*;
use super::idempotency::{Existing, KeyedRequest, complete};
use super::{Caller, CrashPoint, PaymentError, Payments, outcome_step, save_first};
use crate::domain::decide::check_authorize;
use crate::domain::{
    AttemptId, AuthState, CaptureId, CaptureRecord, CaptureStatus, Failure, OrderId, OrderRecord,
    OrderState, OrderView,
};
use crate::providers::{
    AuthorizeCall, AuthorizeOutcome, AuthorizeResult, PaymentProvider, ProviderDetails,
    ProviderError,
};
use crate::store::{
    AttemptState, Claim, EventAmounts, KeyRecord, NewAttempt, NewEvent, Operation, StoreError,
};

impl Payments {
    /// Every field that makes two Authorize requests different.
    fn authorize_fingerprint(&self, cmd: &AuthorizeCommand) -> serde_json::Value {
        let mut fingerprint = json!({
            "amount": cmd.money.amount.get(),
            "currency": cmd.money.currency.code(),
            "capture_method": cmd.capture_method.as_str(),
            "merchant_reference": cmd.merchant_reference,
            "description": cmd.description,
            "metadata": cmd.metadata,
            "details": cmd.details.fingerprint(&|secret| self.keyed_fingerprint(secret)),
        });
        // Only when given, so a request without one keeps the fingerprint
        // it had before customers existed (a retry across an upgrade).
        if let Some(customer) = &cmd.customer {
            fingerprint["customer"] = json!({
                "email": customer.email,
                "name": customer.name,
                "phone": customer.phone,
            });
        }
        fingerprint
    }
}

/// The provider idempotency key of an authorization: the order id, so a
/// resumed call can never authorize twice.
fn provider_key(order_id: &OrderId) -> String {
    order_id.to_string()
}

impl Payments {
    pub(super) async fn authorize_now(
        &self,
        caller: &Caller,
        cmd: AuthorizeCommand,
    ) -> Result<OrderView, PaymentError> {
        let kind = cmd.details.provider();
        let provider = self.provider(kind)?.clone();
        check_authorize(crate::providers::rules(kind), cmd.money)?;
        if let ProviderDetails::PaymentOptions(details) = &cmd.details {
            details
                .card
                .check_not_expired(self.now(), "paymentoptions.card")?;
        }
        let request = self.keyed(
            caller,
            &cmd.key,
            "authorize",
            &self.authorize_fingerprint(&cmd),
        );
        let now = self.now();
        let order = OrderRecord {
            owner: caller.owner.clone(),
            id: OrderId::generate(),
            provider: kind,
            provider_order_id: None,
            merchant_reference: cmd.merchant_reference.clone(),
            description: cmd.description.clone(),
            currency: cmd.money.currency,
            capture_method: cmd.capture_method,
            payment_method: None,
            state: OrderState::new(cmd.money.amount.get()),
            next_action: None,
            failure: None,
            livemode: provider.livemode(),
            metadata: cmd.metadata.clone(),
            provider_data: None,
            card: None,
            customer: cmd.customer.clone(),
            needs_review: false,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        let attempt = NewAttempt {
            id: AttemptId::generate(),
            order_id: order.id.clone(),
            operation: Operation::Authorize,
            target_id: None,
            provider_key: Some(provider_key(&order.id)),
            amount: Some(cmd.money.amount.get()),
            request: cmd.replay_data(),
        };

        // The claim is first decided with the intent's writes (one statement
        // on PostgreSQL); if someone holds the key, again on its own, to
        // learn who.
        for claim_at_commit in [true, false] {
            let tx = self.store().begin().await?;
            let key = self.new_key(&request, Some(&order.id), Some(&attempt.id), now);
            let claim = if claim_at_commit {
                tx.claim_key_at_commit(&key).await?
            } else {
                tx.claim_key(&key).await?
            };
            if let Claim::Existing(record) = claim {
                tx.rollback().await?;
                return match self.existing(record, &request).await {
                    Existing::Answer(answer) => *answer,
                    Existing::Resume(record) => {
                        let resumed = self
                            .resume_authorize(caller, record, &request, &cmd, provider)
                            .await;
                        self.unless_under_review(resumed).await
                    }
                };
            }
            tx.insert_order(&order).await?;
            tx.insert_attempt(&attempt, now).await?;
            tx.append_event(
                &NewEvent {
                    order_id: order.id.clone(),
                    event_type: AUTHORIZATION_REQUESTED,
                    actor: caller.name.clone(),
                    status: order.state.status(),
                    amounts: EventAmounts::of(&order.state),
                    data: json!({
                        "provider": kind.as_str(),
                        "amount": cmd.money.amount.get(),
                        "currency": cmd.money.currency.code(),
                        "capture_method": cmd.capture_method.as_str(),
                    }),
                },
                now,
            )
            .await?;
            match tx.commit().await {
                Ok(()) => break,
                Err(StoreError::KeyTaken) if claim_at_commit => continue,
                Err(other) => return Err(other.into()),
            }
        }
        self.crash_point(CrashPoint::AfterIntentCommit);

        let result = provider.authorize(call(&order.id, &cmd, None)).await;
        self.crash_point(CrashPoint::AfterProviderAnswer);
        let sent = Sent {
            attempt_id: &attempt.id,
            first_sent: now,
        };
        self.settle_authorize(caller, &request, sent, &cmd, result, order)
            .await
    }

    /// Sends the authorization again for an order whose first answer was
    /// lost or never came, with the same provider key.
    async fn resume_authorize(
        &self,
        caller: &Caller,
        record: Box<KeyRecord>,
        request: &KeyedRequest,
        cmd: &AuthorizeCommand,
        provider: std::sync::Arc<dyn PaymentProvider>,
    ) -> Result<OrderView, PaymentError> {
        let (Some(order_id), Some(attempt_id)) =
            (record.order_id.clone(), record.attempt_id.clone())
        else {
            tracing::error!(key = %record.key, "authorize key without its order");
            return Err(PaymentError::Internal);
        };
        let order_id = OrderId::from_trusted(order_id);
        let attempt_id = AttemptId::from_trusted(attempt_id);
        self.take_over(&record).await?;
        self.redrive_authorize(caller, request, order_id, attempt_id, cmd, provider)
            .await
    }

    /// Sends an authorization again, with the same provider key, unless it
    /// was settled meanwhile or cannot be resent safely.
    pub(super) async fn redrive_authorize(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        order_id: OrderId,
        attempt_id: AttemptId,
        cmd: &AuthorizeCommand,
        provider: std::sync::Arc<dyn PaymentProvider>,
    ) -> Result<OrderView, PaymentError> {
        let now = self.now();
        let tx = self.store().begin().await?;
        let order = tx
            .lock_order(&order_id)
            .await?
            .ok_or(PaymentError::Internal)?;
        if order.state.auth != AuthState::Pending {
            // Settled meanwhile (by reconciliation): the order is the answer.
            complete(&tx, request, &Ok(order_id.clone()), now).await?;
            tx.commit().await?;
            return self.view(&order_id).await;
        }
        let attempt = tx.attempt(&attempt_id).await?;
        // In flight here means its process stopped waiting (it died, or its
        // lease ran out): the request may have reached the provider.
        let prior = attempt.as_ref().map(|a| a.state);
        let may_have_reached = matches!(
            prior,
            None | Some(AttemptState::InFlight) | Some(AttemptState::Unknown)
        );
        if may_have_reached && !provider.deduplicates_retries() {
            // It may have been authorized, and without an idempotency key a
            // resend could authorize twice: a person settles it.
            self.hold_for_review(&tx, caller, order, &attempt_id, prior, now)
                .await?;
            tx.open_key(&request.scope, &request.key, now).await?;
            tx.commit().await?;
            return Err(PaymentError::OutcomeUnknown {
                provider: provider.kind(),
                order_id: order_id.to_string(),
            });
        }
        let first_sent = attempt.map(|a| a.created_at);
        tx.append_event(
            &NewEvent {
                order_id: order_id.clone(),
                event_type: AUTHORIZATION_RESUMED,
                actor: caller.name.clone(),
                status: order.state.status(),
                amounts: EventAmounts::of(&order.state),
                data: json!({}),
            },
            now,
        )
        .await?;
        tx.commit().await?;
        let resumed_after = first_sent.map(|at| now - at);
        let result = provider
            .authorize(call(&order_id, cmd, resumed_after))
            .await;
        self.crash_point(CrashPoint::AfterProviderAnswer);
        let sent = Sent {
            attempt_id: &attempt_id,
            first_sent: first_sent.unwrap_or(now),
        };
        self.settle_authorize_from(caller, request, &order_id, sent, cmd, result, None)
            .await?
            .ok_or(PaymentError::Internal)
    }

    /// Records that an authorization which may have reached a provider
    /// without idempotency will never be sent again: its outcome is
    /// unknown and the order waits for a person (or the provider's status).
    pub(super) async fn hold_for_review(
        &self,
        tx: &crate::store::Tx,
        caller: &Caller,
        mut order: OrderRecord,
        attempt_id: &AttemptId,
        prior: Option<AttemptState>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), PaymentError> {
        if prior == Some(AttemptState::Unknown) {
            return Ok(());
        }
        super::account_unknown(&mut order, AttemptState::InFlight, true);
        self.flag_unknown(&mut order);
        let order = tx.save_order(&order, now).await?;
        let detail = "the process waiting for this authorization stopped; it is never sent again";
        tx.finish_attempt(attempt_id, AttemptState::Unknown, Some(detail), now, None)
            .await?;
        let data = json!({ "error": detail });
        tx.append_event(
            &event_of(&order, AUTHORIZATION_OUTCOME_UNKNOWN, caller, data),
            now,
        )
        .await?;
        Ok(())
    }

    /// Records a first call's outcome, starting from the order as its
    /// intent wrote it, and from a locked read only if anything wrote the
    /// order since.
    async fn settle_authorize(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        sent: Sent<'_>,
        cmd: &AuthorizeCommand,
        result: Result<AuthorizeOutcome, ProviderError>,
        intended: OrderRecord,
    ) -> Result<OrderView, PaymentError> {
        let order_id = intended.id.clone();
        outcome_step(true, |assume| {
            let assumed = assume.then(|| intended.clone());
            let result = result.clone();
            self.settle_authorize_from(caller, request, &order_id, sent, cmd, result, assumed)
        })
        .await
    }

    /// Records an authorization's outcome, from `assumed` (the order as
    /// this process last wrote it) or, without it, from a locked read.
    /// `None` when `assumed` is no longer the order: nothing was written.
    #[allow(clippy::too_many_arguments)]
    async fn settle_authorize_from(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        order_id: &OrderId,
        sent: Sent<'_>,
        cmd: &AuthorizeCommand,
        result: Result<AuthorizeOutcome, ProviderError>,
        assumed: Option<OrderRecord>,
    ) -> Result<Option<OrderView>, PaymentError> {
        let Sent {
            attempt_id,
            first_sent,
        } = sent;
        let now = self.now();
        let tx = self.store().begin().await?;
        let assuming = assumed.is_some();
        let mut order = match assumed {
            Some(order) => {
                tx.assume_unchanged(&order);
                order
            }
            None => {
                let order = tx
                    .lock_order(order_id)
                    .await?
                    .ok_or(PaymentError::Internal)?;
                if order.state.auth != AuthState::Pending {
                    // Settled meanwhile, by reconciliation or a resumed call.
                    complete(&tx, request, &Ok(order_id.clone()), now).await?;
                    tx.commit().await?;
                    return self.view(order_id).await.map(Some);
                }
                order
            }
        };
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => {
                let answer = PaymentError::from_provider_authorizing(
                    error.clone(),
                    order_id.as_str(),
                    cmd.details.payment_method_field(),
                );
                let (event, attempt_state, detail) = match &error {
                    ProviderError::Unreachable { .. }
                    | ProviderError::Throttled { .. }
                    | ProviderError::CredentialsRejected { .. } => (
                        AUTHORIZATION_NOT_SENT,
                        AttemptState::Failed,
                        error.to_string(),
                    ),
                    ProviderError::OutcomeUnknown { .. } => {
                        super::tell_unknown(&order, false);
                        self.flag_unknown(&mut order);
                        (
                            AUTHORIZATION_OUTCOME_UNKNOWN,
                            AttemptState::Unknown,
                            error.to_string(),
                        )
                    }
                    ProviderError::Rejected {
                        reason,
                        provider_code,
                        message,
                        ..
                    } => {
                        order.state = order.state.clone().declined();
                        order.failure = Some(Failure {
                            code: reason.as_str().to_owned(),
                            message: message.clone(),
                            provider_code: Some(provider_code.clone()),
                        });
                        (
                            AUTHORIZATION_REJECTED,
                            AttemptState::Failed,
                            error.to_string(),
                        )
                    }
                };
                let Some(order) = save_first(&tx, &order, now, assuming).await? else {
                    return Ok(None);
                };
                tx.finish_attempt(attempt_id, attempt_state, Some(&detail), now, None)
                    .await?;
                if event == AUTHORIZATION_REJECTED {
                    complete(&tx, request, &Err(answer.clone()), now).await?;
                } else {
                    // No outcome to replay: a retry with the same key resumes.
                    tx.open_key(&request.scope, &request.key, now).await?;
                }
                tx.append_event(
                    &event_of(&order, event, caller, json!({ "error": detail })),
                    now,
                )
                .await?;
                tx.commit().await?;
                self.crash_point(CrashPoint::AfterOutcomeCommit);
                return Err(answer);
            }
        };

        let rules = crate::providers::rules(order.provider);
        order.provider_order_id = outcome
            .provider_order_id
            .clone()
            .or(order.provider_order_id);
        order.livemode = outcome.livemode;
        order.payment_method = outcome.payment_method.or(order.payment_method);
        order.provider_data = outcome.provider_data.clone().or(order.provider_data);
        order.card = outcome.card.clone().or(order.card);
        let mut auto_captures: Vec<(Option<String>, i64)> = Vec::new();
        let event = match &outcome.result {
            AuthorizeResult::Authorized { amount, captured } => {
                let window = order.payment_method.and_then(|m| {
                    rules.authorization_window(m, cmd.details.extended_authorization())
                });
                // The authorization is at least as old as the first send: a
                // window counted from a late answer would outlive it.
                let expires_at = outcome
                    .expires_at
                    .or_else(|| window.map(|w| first_sent + w));
                order.state = order.state.clone().authorized(*amount, expires_at);
                order.next_action = None;
                if *captured > 0 {
                    auto_captures = if outcome.captures.is_empty() {
                        vec![(None, *captured)]
                    } else {
                        outcome
                            .captures
                            .iter()
                            .map(|c| (Some(c.id.clone()), c.amount))
                            .collect()
                    };
                    for (_, amount) in &auto_captures {
                        order.state = order
                            .state
                            .clone()
                            .capture_reserved(*amount)
                            .capture_succeeded(*amount, true);
                    }
                }
                AUTHORIZATION_SUCCEEDED
            }
            AuthorizeResult::RequiresAction(action) => {
                order.state = order.state.clone().requires_action();
                // A shopper who never finishes: the order expires then, once
                // the provider confirms nothing happened.
                order.state.expires_at = outcome
                    .expires_at
                    .or(Some(now + self.inner.config.action_ttl));
                order.next_action = Some(action.clone());
                AUTHORIZATION_REQUIRES_ACTION
            }
            AuthorizeResult::Declined(failure) => {
                order.state = order.state.clone().declined();
                order.failure = Some(failure.clone());
                AUTHORIZATION_DECLINED
            }
            AuthorizeResult::Processing => AUTHORIZATION_PROCESSING,
        };
        let Some(order) = save_first(&tx, &order, now, assuming).await? else {
            return Ok(None);
        };
        let mut captures = Vec::with_capacity(auto_captures.len());
        for (provider_capture_id, amount) in auto_captures {
            let capture = CaptureRecord {
                id: CaptureId::generate(),
                order_id: order.id.clone(),
                amount,
                status: CaptureStatus::Succeeded,
                final_capture: true,
                provider_capture_id,
                reference: String::new(),
                description: "automatic capture".into(),
                amount_refunded: 0,
                pending_refund: 0,
                failure: None,
                created_at: now,
                updated_at: now,
            };
            tx.insert_capture(&capture).await?;
            captures.push(capture);
        }
        tx.finish_attempt(attempt_id, AttemptState::Succeeded, None, now, None)
            .await?;
        let data = json!({
            "provider_order_id": order.provider_order_id,
            "amount_authorized": order.state.authorized,
            "amount_captured": order.state.captured,
            "expires_at": order.state.expires_at,
            "failure": order.failure.as_ref().map(|f| &f.code),
        });
        tx.append_event(&event_of(&order, event, caller, data), now)
            .await?;
        complete(&tx, request, &Ok(order.id.clone()), now).await?;
        tx.commit().await?;
        self.crash_point(CrashPoint::AfterOutcomeCommit);
        // The order was pending until this commit, under its row lock: it
        // has no other capture and no refund, so the rows just written are
        // the whole order, and reading them back would only cost round trips.
        Ok(Some(self.keep_written(OrderView {
            order,
            captures,
            refunds: Vec::new(),
        })))
    }
}

/// Which attempt an answer belongs to, and when it was first sent.
#[derive(Clone, Copy)]
struct Sent<'a> {
    attempt_id: &'a AttemptId,
    first_sent: chrono::DateTime<chrono::Utc>,
}

fn call<'a>(
    order_id: &'a OrderId,
    cmd: &'a AuthorizeCommand,
    resumed_after: Option<chrono::Duration>,
) -> AuthorizeCall<'a> {
    AuthorizeCall {
        order_id,
        idempotency_key: provider_key(order_id),
        money: cmd.money,
        capture_method: cmd.capture_method,
        description: &cmd.description,
        merchant_reference: &cmd.merchant_reference,
        metadata: &cmd.metadata,
        details: &cmd.details,
        resumed_after,
    }
}

pub(super) fn event_of(
    order: &OrderRecord,
    event_type: &'static str,
    caller: &Caller,
    data: serde_json::Value,
) -> NewEvent {
    NewEvent {
        order_id: order.id.clone(),
        event_type,
        actor: caller.name.clone(),
        status: order.state.status(),
        amounts: EventAmounts::of(&order.state),
        data,
    }
}
