//! A transaction a provider's notification names by the provider's own id.
//! Where the provider cannot deduplicate a resent call (PaymentOptions), a
//! capture, refund or void whose answer was lost can neither be sent again
//! nor looked up by kessai's reference; the notification of the transaction
//! it made is how it settles without a person. kessai asks the provider
//! about that id, and books it only when the provider confirms it is this
//! order's, of the kind and amount of a call kessai is still waiting on.

use super::refund::FoundRefund;
use super::{Caller, PaymentError, Payments};
use crate::domain::{CaptureStatus, OrderId, OrderView, RefundStatus};
use crate::providers::{CaptureOutcome, FoundTransaction, ProviderError};
use crate::store::{AttemptRecord, Operation};

/// What came of a transaction a notification named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Named {
    /// A call whose answer was lost, now booked (and logged).
    Booked,
    /// Nothing of kessai's waits for it.
    Nothing,
    /// It may be the answer to a call still in flight: ask again later.
    NotYet,
}

/// What the provider confirmed, in the terms of the call it answers.
enum Booking {
    Capture(CaptureOutcome),
    Refund(FoundRefund),
    Void,
}

impl Booking {
    fn of(found: FoundTransaction) -> Option<Self> {
        match found {
            FoundTransaction::Capture { id, amount } => Some(Self::Capture(CaptureOutcome {
                provider_capture_id: Some(id),
                amount,
            })),
            FoundTransaction::Refund { id, amount } => {
                Some(Self::Refund(FoundRefund { id, amount }))
            }
            FoundTransaction::Void { .. } => Some(Self::Void),
            FoundTransaction::Other => None,
        }
    }

    fn operation(&self) -> Operation {
        match self {
            Self::Capture(_) => Operation::Capture,
            Self::Refund(_) => Operation::Refund,
            Self::Void => Operation::Void,
        }
    }

    fn amount(&self) -> Option<i64> {
        match self {
            Self::Capture(outcome) => Some(outcome.amount),
            Self::Refund(found) => Some(found.amount),
            Self::Void => None,
        }
    }

    /// Whether this is the answer to `attempt`: the same kind of call, for
    /// the same amount.
    fn answers(&self, attempt: &AttemptRecord) -> bool {
        attempt.operation == self.operation()
            && (self.amount().is_none() || attempt.amount == self.amount())
    }

    /// Whether the order holds a call of this kind and amount that has no
    /// outcome yet (its attempt may still be in flight).
    fn awaited_by(&self, view: &OrderView) -> bool {
        match self {
            Self::Capture(outcome) => view
                .captures
                .iter()
                .any(|c| c.status == CaptureStatus::Pending && c.amount == outcome.amount),
            Self::Refund(found) => view
                .refunds
                .iter()
                .any(|r| r.status == RefundStatus::Pending && r.amount == found.amount),
            Self::Void => view.order.state.void_pending,
        }
    }
}

/// Whether the order's books already hold the transaction.
fn booked(view: &OrderView, transaction_id: &str) -> bool {
    let capture = view
        .captures
        .iter()
        .any(|c| c.provider_capture_id.as_deref() == Some(transaction_id));
    let refund = view
        .refunds
        .iter()
        .flat_map(|r| &r.parts)
        .any(|p| p.provider_refund_id.as_deref() == Some(transaction_id));
    capture || refund
}

/// Whether any call of the order waits for an outcome.
fn waiting(view: &OrderView) -> bool {
    view.order.state.void_pending
        || view
            .captures
            .iter()
            .any(|c| c.status == CaptureStatus::Pending)
        || view
            .refunds
            .iter()
            .any(|r| r.status == RefundStatus::Pending)
}

impl Payments {
    /// Books the transaction a notification named when it is the answer to
    /// one of the order's calls whose answer was lost. Asks the provider
    /// only while a call of the order waits for an outcome.
    pub(super) async fn settle_named(
        &self,
        caller: &Caller,
        order_id: &OrderId,
        transaction_id: &str,
    ) -> Result<Named, PaymentError> {
        let view = self.view(order_id).await?;
        if booked(&view, transaction_id) || !waiting(&view) {
            return Ok(Named::Nothing);
        }
        let lost = self
            .store()
            .open_attempts_of(order_id, self.now(), self.inner.config.in_flight_lease)
            .await?;
        let provider = self.provider(view.order.provider)?.clone();
        let found = match provider.transaction(&view.order, transaction_id).await {
            Ok(found) => found,
            // Not a transaction the provider knows (anyone can post a
            // hint): nothing to book, now or on a redelivery.
            Err(ProviderError::Rejected { .. }) => None,
            Err(error) => return Err(PaymentError::from_provider(error, order_id.as_str())),
        };
        let Some(booking) = found.and_then(Booking::of) else {
            return Ok(Named::Nothing);
        };
        let Some(attempt) = lost.iter().find(|a| booking.answers(a)) else {
            // A call of this kind and amount waits, but it is still in
            // flight (the notification came before its answer was known
            // lost): the provider delivers the notification again.
            return Ok(if booking.awaited_by(&view) {
                Named::NotYet
            } else {
                Named::Nothing
            });
        };
        let Some(request) = self.key_to_settle(attempt).await? else {
            return Ok(Named::NotYet);
        };
        let operation = booking.operation();
        let provider = view.order.provider;
        let attempt_id = attempt.id.clone();
        match booking {
            Booking::Capture(outcome) => {
                self.redrive_capture_knowing(
                    caller,
                    &request,
                    order_id.clone(),
                    attempt_id,
                    Some(outcome),
                )
                .await?
            }
            Booking::Refund(found) => {
                self.redrive_refund_knowing(
                    caller,
                    &request,
                    order_id.clone(),
                    attempt_id,
                    Some(found),
                )
                .await?
            }
            Booking::Void => {
                self.redrive_void_knowing(caller, &request, order_id.clone(), attempt_id, true)
                    .await?
            }
        };
        tracing::info!(%order_id, %provider, operation = operation.as_str(), "a call whose answer was lost was found at the provider and booked");
        Ok(Named::Booked)
    }
}
