//! Provider notifications (webhooks), once verified: record the event by its
//! id, then do what reconciliation does for the order it names — ask the
//! provider where the order stands and apply that.
//!
//! The event's own payload never moves an order. Asking the provider makes
//! the handling the same whatever the provider (PaymentOptions signs
//! nothing, so its payload can only ever be a hint), and makes order of
//! delivery irrelevant: a stale or replayed event leads to the provider's
//! current state, which `sync` applies only forwards.

use super::hints::Admission;
use super::named::Named;
use super::{Caller, PaymentError, Payments};
use crate::domain::{OrderId, ProviderKind};
use crate::providers::{Notification, Subject};
use crate::store::Receipt;

/// What came of a notification. Every outcome is acknowledged to the
/// provider, so it stops delivering the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// The provider was asked about the order and its answer applied (which
    /// may have changed nothing).
    Synced { order_id: OrderId },
    /// This event was applied before.
    Duplicate,
    /// A kind of event kessai does not act on.
    Ignored,
    /// No order of kessai's matches it.
    UnknownOrder,
    /// An unsigned hint about an order looked up moments ago: one lookup at
    /// the end of the interval covers it (`hints.rs`). Nothing is stored.
    Coalesced { order_id: OrderId },
}

impl Payments {
    /// Whether kessai drives this provider (and so takes its notifications).
    pub fn serves(&self, provider: ProviderKind) -> bool {
        self.inner.providers.get(provider).is_some()
    }

    /// Handles a verified notification. An error means the event's effect
    /// is not known to be applied: answer so that the provider delivers it
    /// again (the event stays recorded as not processed).
    pub(super) async fn notify_now(
        &self,
        notification: &Notification,
    ) -> Result<NotifyOutcome, PaymentError> {
        let provider = notification.provider;
        let order_id = self.subject_order(provider, &notification.subject).await?;
        if order_id.is_none() && matches!(notification.subject, Subject::Hint { .. }) {
            // Anyone can post an unsigned hint: one naming nothing of ours
            // leaves no trace but a log line.
            tracing::info!(%provider, event_type = %notification.event_type, "a notification names no known order; ignored");
            return Ok(NotifyOutcome::UnknownOrder);
        }
        if let (Subject::Hint { transaction_id, .. }, Some(order)) =
            (&notification.subject, &order_id)
        {
            let seen = self
                .store()
                .webhook_event_seen(provider, &notification.event_id)
                .await?;
            let admission = match seen {
                Some(Receipt::Processed) => return Ok(NotifyOutcome::Duplicate),
                // Redelivered after it could not be applied: counted once
                // already, so not held back again.
                Some(Receipt::Unprocessed | Receipt::New) => Admission::Now,
                None => self.inner.hints.admit(
                    order,
                    transaction_id.as_deref(),
                    tokio::time::Instant::now(),
                ),
            };
            match admission {
                Admission::Now => {}
                Admission::Deferred(at) => {
                    self.look_up_later(provider, order.clone(), at);
                    return Ok(NotifyOutcome::Coalesced {
                        order_id: order.clone(),
                    });
                }
                Admission::Coalesced => {
                    return Ok(NotifyOutcome::Coalesced {
                        order_id: order.clone(),
                    });
                }
            }
        }
        let now = self.now();
        let receipt = self
            .store()
            .receive_webhook_event(
                provider,
                &notification.event_id,
                &notification.event_type,
                order_id.as_ref(),
                now,
            )
            .await?;
        let outcome = match (receipt, order_id) {
            (Receipt::Processed, _) => return Ok(NotifyOutcome::Duplicate),
            (Receipt::New | Receipt::Unprocessed, None) => {
                if notification.subject == Subject::Ignored {
                    NotifyOutcome::Ignored
                } else {
                    NotifyOutcome::UnknownOrder
                }
            }
            (Receipt::New | Receipt::Unprocessed, Some(order_id)) => {
                let caller = Caller::system(format!("webhook:{}", provider.as_str()));
                match self.get_order_now(&caller, &order_id, true).await {
                    Ok(_) => {}
                    // The provider does not know what the event named: there
                    // is nothing to apply, now or on a redelivery.
                    Err(PaymentError::ProviderRejected { .. }) => {
                        tracing::warn!(%order_id, %provider, "the provider does not confirm what its notification named");
                    }
                    Err(error) => return Err(error),
                }
                // A capture, refund or void whose answer was lost, that the
                // notification names by the provider's id: booked once the
                // provider confirms it.
                if let Subject::Hint {
                    transaction_id: Some(transaction_id),
                    ..
                } = &notification.subject
                {
                    match self
                        .settle_named(&caller, &order_id, transaction_id)
                        .await?
                    {
                        Named::Booked | Named::Nothing => {}
                        // Unapplied: the provider delivers it again.
                        Named::NotYet => return Err(PaymentError::KeyInUse),
                    }
                }
                // Calls of this order whose answer was lost may have just
                // been settled at the provider: the worker looks next pass.
                self.store().expedite_unsettled(&order_id, now).await?;
                NotifyOutcome::Synced { order_id }
            }
        };
        self.store()
            .webhook_event_processed(provider, &notification.event_id, self.now())
            .await?;
        Ok(outcome)
    }

    /// The one lookup that covers the hints coalesced until `at`. Not
    /// tracked for shutdown: a lookup lost with the process is made by
    /// reconciliation or the next hint.
    fn look_up_later(&self, provider: ProviderKind, order: OrderId, at: tokio::time::Instant) {
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let named = this
                .inner
                .hints
                .deferred_done(&order, tokio::time::Instant::now());
            let caller = Caller::system(format!("webhook:{}", provider.as_str()));
            if let Err(error) = this.get_order(&caller, &order, true).await {
                tracing::info!(order_id = %order, %provider, %error, "a coalesced notification's lookup failed; reconciliation looks later");
            }
            for transaction_id in named {
                this.settle_named_later(&caller, &order, &transaction_id)
                    .await;
            }
        });
    }

    /// [`Payments::settle_named`] for a held-back hint, which cannot be
    /// delivered again: a call still in flight is waited for a few times.
    async fn settle_named_later(&self, caller: &Caller, order: &OrderId, transaction_id: &str) {
        let lease = self.inner.config.in_flight_lease;
        for wait in [0, 1, 2, 4].map(|n| lease / 4 * n) {
            tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
            match self.settle_named(caller, order, transaction_id).await {
                Ok(Named::Booked | Named::Nothing) => return,
                Ok(Named::NotYet) => {}
                Err(error) => {
                    tracing::info!(order_id = %order, %error, "a coalesced notification's transaction could not be looked up; reconciliation looks later");
                    return;
                }
            }
        }
    }

    /// The order a notification is about, if kessai has it.
    async fn subject_order(
        &self,
        provider: ProviderKind,
        subject: &Subject,
    ) -> Result<Option<OrderId>, PaymentError> {
        let store = self.store();
        Ok(match subject {
            Subject::Ignored => None,
            Subject::ProviderOrder(id) => store.order_by_provider_id(provider, id).await?,
            Subject::ProviderCapture(id) => {
                store.order_by_provider_capture_id(provider, id).await?
            }
            Subject::Hint {
                order_id,
                transaction_id,
            } => {
                let named = match order_id
                    .as_deref()
                    .and_then(|id| OrderId::parse(id, "order_id").ok())
                {
                    Some(id) => self
                        .store()
                        .order_view(&id, &crate::domain::Visibility::All)
                        .await?
                        .filter(|view| {
                            view.order.provider == provider
                                && view.order.provider_order_id.is_some()
                        })
                        .map(|view| view.order.id),
                    None => None,
                };
                match (named, transaction_id) {
                    (Some(id), _) => Some(id),
                    (None, Some(tx)) => match store.order_by_provider_id(provider, tx).await? {
                        Some(id) => Some(id),
                        None => store.order_by_provider_capture_id(provider, tx).await?,
                    },
                    (None, None) => None,
                }
            }
        })
    }
}
