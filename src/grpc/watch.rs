//! WatchOrderEvents: the request parsed into a command, events presented,
//! and the stream ended with UNAVAILABLE when kessai shuts down (callers
//! resume from their last cursor on another replica).

use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::convert::{Violations, provider, provider_filter, status, ts};
use crate::domain::{InvalidInput, OrderId, Reason};
use crate::payments::{PaymentError, WatchCommand};
use crate::proto::v1;
use crate::store::{EventFilter, StreamedEvent};

/// Longest cursor accepted (an event id in decimal).
const MAX_CURSOR: usize = 19;

fn cursor(value: &str) -> Result<i64, InvalidInput> {
    if value.is_empty() {
        return Ok(0);
    }
    value
        .parse::<i64>()
        .ok()
        .filter(|id| {
            *id >= 0 && value.len() <= MAX_CURSOR && value.bytes().all(|b| b.is_ascii_digit())
        })
        .ok_or_else(|| {
            InvalidInput::new(
                Reason::InvalidCursor,
                "after_cursor",
                "is not a cursor kessai handed out",
            )
        })
}

impl TryFrom<v1::WatchOrderEventsRequest> for WatchCommand {
    type Error = PaymentError;

    fn try_from(r: v1::WatchOrderEventsRequest) -> Result<Self, Self::Error> {
        let mut v = Violations::default();
        let after = v.check(cursor(&r.after_cursor));
        let order_id = if r.order_id.is_empty() {
            Some(None)
        } else {
            v.check(OrderId::parse(&r.order_id, "order_id").map(Some))
        };
        let provider = v.check(provider_filter(r.provider));
        v.finish()?;
        Ok(WatchCommand {
            after: after.unwrap_or_default(),
            filter: EventFilter {
                order_id: order_id.flatten(),
                provider: provider.flatten(),
                // Set from the caller by the use case.
                owner: None,
            },
        })
    }
}

impl From<&StreamedEvent> for v1::OrderEvent {
    fn from(e: &StreamedEvent) -> Self {
        v1::OrderEvent {
            cursor: e.id.to_string(),
            order_id: e.order_id.to_string(),
            provider: provider(e.provider).into(),
            event_type: e.event_type.clone(),
            actor: e.actor.clone(),
            status: status(e.status).into(),
            currency: e.currency.code().to_owned(),
            amount: e.amount,
            amounts: e.amounts.map(|a| v1::OrderEventAmounts {
                amount_authorized: a.authorized,
                amount_captured: a.captured,
                amount_refunded: a.refunded,
                amount_capturable: a.capturable,
            }),
            created_at: Some(ts(e.created_at)),
        }
    }
}

/// The events as responses, ending with UNAVAILABLE once `shutdown` fires.
pub fn responses(
    events: impl Stream<Item = Result<StreamedEvent, PaymentError>> + Send + 'static,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<v1::WatchOrderEventsResponse, Status>> + Send + 'static {
    let events = Box::pin(events);
    futures::stream::unfold(Some((events, shutdown)), |state| async move {
        let (mut events, shutdown) = state?;
        tokio::select! {
            biased;
            () = shutdown.cancelled() => Some((
                Err(Status::unavailable("kessai is shutting down: watch again from the last cursor")),
                None,
            )),
            next = events.next() => match next {
                Some(Ok(event)) => Some((
                    Ok(v1::WatchOrderEventsResponse { event: Some((&event).into()) }),
                    Some((events, shutdown)),
                )),
                Some(Err(error)) => Some((Err(error.into()), None)),
                None => None,
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_the_decimal_event_ids_kessai_hands_out() {
        assert_eq!(cursor("").unwrap(), 0);
        assert_eq!(cursor("42").unwrap(), 42);
        for bad in ["-1", "+1", "1.0", "abc", " 1", "99999999999999999999"] {
            let e = cursor(bad).unwrap_err();
            assert_eq!(e.reason, Reason::InvalidCursor, "{bad}");
        }
    }
}
