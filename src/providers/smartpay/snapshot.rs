//! What kessai reads from Smartpay's answers: outcomes and the order's
//! state for refresh and reconciliation.

use super::*;

pub(super) fn refund_outcome(refund: Refund) -> RefundOutcome {
    let status = match refund.status.as_deref() {
        Some("succeeded") => RefundStatus::Succeeded,
        Some("failed") => RefundStatus::Failed,
        Some(_) | None => RefundStatus::Pending,
    };
    RefundOutcome {
        provider_refund_id: refund.id,
        status,
    }
}

/// What kessai may add up from an order's payments: a sum that cannot
/// overflow and stays within the order's amount, or an unreadable answer.
fn captured_total(order: &Order, payments: &[Payment]) -> Result<i64, ProviderError> {
    payments
        .iter()
        .try_fold(0i64, |sum, p| sum.checked_add(p.amount))
        .filter(|total| *total <= order.amount)
        .ok_or_else(|| {
            unreadable(format!(
                "Smartpay reports payments beyond order {}'s amount",
                order.id
            ))
        })
}

fn provider_captures(payments: Vec<Payment>) -> Vec<ProviderCapture> {
    payments
        .into_iter()
        .map(|p| ProviderCapture {
            id: p.id,
            amount: p.amount,
        })
        .collect()
}

/// The outcome of an authorized (or captured) Smartpay order.
pub(super) fn authorized_outcome(
    order: &Order,
    payments: Vec<Payment>,
    livemode: bool,
) -> Result<AuthorizeOutcome, ProviderError> {
    let captured = captured_total(order, &payments)?;
    Ok(AuthorizeOutcome {
        provider_order_id: Some(order.id.clone()),
        result: AuthorizeResult::Authorized {
            amount: order.amount,
            captured,
        },
        livemode,
        payment_method: Some(PaymentMethodKind::Bnpl),
        expires_at: millis(order.expires_at),
        provider_data: None,
        card: None,
        captures: provider_captures(payments),
    })
}

/// What Smartpay's order and its payments say, in kessai's terms.
pub(super) fn snapshot(
    order: Order,
    payments: Vec<Payment>,
) -> Result<ProviderSnapshot, ProviderError> {
    let captured = captured_total(&order, &payments)?;
    let state = match order.status {
        OrderStatus::RequiresAuthorization => SnapshotState::RequiresAction(None),
        OrderStatus::Pending | OrderStatus::Unknown => SnapshotState::Processing,
        OrderStatus::RequiresCapture => SnapshotState::Authorized,
        OrderStatus::Succeeded => SnapshotState::Closed,
        OrderStatus::Canceled if captured > 0 => SnapshotState::Closed,
        OrderStatus::Canceled => SnapshotState::Canceled,
        OrderStatus::Rejected | OrderStatus::Failed => SnapshotState::Declined(rejection()),
    };
    let authorized = match order.status {
        OrderStatus::RequiresCapture | OrderStatus::Succeeded | OrderStatus::Canceled => {
            order.amount
        }
        OrderStatus::RequiresAuthorization
        | OrderStatus::Pending
        | OrderStatus::Unknown
        | OrderStatus::Rejected
        | OrderStatus::Failed => 0,
    };
    Ok(ProviderSnapshot {
        state,
        amount_authorized: authorized,
        amount_captured: captured,
        amount_capturable: if order.status == OrderStatus::RequiresCapture {
            order.amount - captured
        } else {
            0
        },
        expires_at: millis(order.expires_at),
        payment_method: Some(PaymentMethodKind::Bnpl),
        captures: provider_captures(payments),
    })
}
