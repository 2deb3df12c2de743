//! An intent decided on an unlocked view of the order, for Capture, Refund
//! and Void. The view is the order with its captures and refunds as this
//! replica keeps it (written by its last call on the order, or read since),
//! else as read from the read pool (GetOrder's one statement). The rules
//! decide on it, and the intent's writes go as one step carrying two
//! guards, the idempotency key's claim and the order's update at the
//! view's version (one statement that commits itself on PostgreSQL,
//! `store::batch`). Nothing is decided on a stale view: if anyone wrote the
//! order since (and every change to its captures, refunds or attempts also
//! writes the order), nothing is written; a kept view is then replaced by
//! a read, and a read by the locked way, which also answers a held key, a
//! refusal and an order not found. A first call's outcome answers from the
//! records its steps wrote, instead of reading the order back, and keeps
//! that view for the next call: 2 round trips on a kept view, 3 on a read,
//! where the locked way takes 7.

use chrono::{DateTime, Utc};

use crate::domain::{AttemptId, CaptureRecord, OrderId, OrderRecord, OrderView, RefundRecord};
use crate::store::{Claim, StoreError, Tx};

use super::idempotency::KeyedRequest;
use super::{Caller, CrashPoint, PaymentError, Payments, order_moved};

/// An intent written after deciding on an unlocked read.
pub(super) struct Unlocked<T> {
    /// What the intent wrote.
    pub intent: T,
    pub attempt_id: AttemptId,
    /// The order's captures and refunds as read, current as of the version
    /// the intent's write was conditional on.
    pub attached: Attached,
}

/// The captures and refunds read with an order, current as of the order's
/// version.
#[derive(Debug, Clone, Default)]
pub(super) struct Attached {
    captures: Vec<CaptureRecord>,
    refunds: Vec<RefundRecord>,
}

impl Attached {
    /// The order and what is attached to it.
    pub(super) fn split(view: OrderView) -> (OrderRecord, Attached) {
        let OrderView {
            order,
            captures,
            refunds,
        } = view;
        (order, Attached { captures, refunds })
    }

    /// The order as answered once `order`, `captures` and `refunds` are
    /// written over these records: a record with the same id replaced,
    /// a new one added, oldest first like a read.
    pub(super) fn answer(
        mut self,
        order: OrderRecord,
        captures: impl IntoIterator<Item = CaptureRecord>,
        refunds: impl IntoIterator<Item = RefundRecord>,
    ) -> OrderView {
        for capture in captures {
            match self.captures.iter_mut().find(|c| c.id == capture.id) {
                Some(stored) => *stored = capture,
                None => self.captures.push(capture),
            }
        }
        for refund in refunds {
            match self.refunds.iter_mut().find(|r| r.id == refund.id) {
                Some(stored) => *stored = refund,
                None => self.refunds.push(refund),
            }
        }
        // Ids grow with time (ULIDs), as `store::attached` sorts them.
        self.captures
            .sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        self.refunds
            .sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        OrderView {
            order,
            captures: self.captures,
            refunds: self.refunds,
        }
    }
}

/// How an intent tried on one view of the order ended.
enum Tried<T> {
    Written(Unlocked<T>),
    /// Someone holds the key: the locked way answers.
    KeyHeld,
    /// Nothing was written: the order moved since the view, or the view
    /// did not allow the call (a refusal, an unconfigured provider).
    NotOnThisView,
}

impl Payments {
    /// Decides on the order `caller` may see without a lock, lets `decide`
    /// judge it (with its captures), and writes the intent with `intent`
    /// in one step guarded by the key's claim and the order's version.
    /// The view decided on is the one this replica keeps, if any (no
    /// read), else the order read whole; a kept view the row has moved
    /// past writes nothing and the order is then read whole. `None` when
    /// the call must go the locked way: the order is not found (or not the
    /// caller's), its provider is not configured, `decide` declines (a
    /// refusal, said the locked way), the key is held, or the order moved
    /// since it was read; nothing was written then.
    pub(super) async fn intend_unlocked<P, T>(
        &self,
        caller: &Caller,
        order_id: &OrderId,
        request: &KeyedRequest,
        decide: impl Fn(&OrderRecord, &[CaptureRecord], DateTime<Utc>) -> Option<P>,
        // Clone, so that each try takes its own (it captures references).
        intent: impl AsyncFnOnce(
            &Tx,
            OrderRecord,
            P,
            &AttemptId,
            DateTime<Utc>,
        ) -> Result<T, PaymentError>
        + Clone,
    ) -> Result<Option<Unlocked<T>>, PaymentError> {
        if let Some(kept) = self.store().order_view_kept(order_id, &caller.sees) {
            match self
                .try_intent(request, kept, &decide, intent.clone())
                .await?
            {
                Tried::Written(written) => return Ok(Some(written)),
                Tried::KeyHeld => return Ok(None),
                Tried::NotOnThisView => {}
            }
        }
        let Some(view) = self
            .store()
            .order_view_whole(order_id, &caller.sees)
            .await?
        else {
            return Ok(None);
        };
        match self.try_intent(request, view, &decide, intent).await? {
            Tried::Written(written) => Ok(Some(written)),
            Tried::KeyHeld | Tried::NotOnThisView => Ok(None),
        }
    }

    /// `view`, built from the rows a committed step wrote, kept for the
    /// reads and decisions after it.
    pub(super) fn keep_written(&self, view: OrderView) -> OrderView {
        self.store().keep_written(&view);
        view
    }

    /// The intent decided on `view` and written conditional on its version.
    async fn try_intent<P, T>(
        &self,
        request: &KeyedRequest,
        view: OrderView,
        decide: &impl Fn(&OrderRecord, &[CaptureRecord], DateTime<Utc>) -> Option<P>,
        intent: impl AsyncFnOnce(
            &Tx,
            OrderRecord,
            P,
            &AttemptId,
            DateTime<Utc>,
        ) -> Result<T, PaymentError>,
    ) -> Result<Tried<T>, PaymentError> {
        let (order, attached) = Attached::split(view);
        if self.provider(order.provider).is_err() {
            return Ok(Tried::NotOnThisView);
        }
        let now = self.now();
        let Some(plan) = decide(&order, &attached.captures, now) else {
            return Ok(Tried::NotOnThisView);
        };
        let attempt_id = AttemptId::generate();
        let key = self.new_key(request, Some(&order.id), Some(&attempt_id), now);
        let tx = self.store().begin().await?;
        if let Claim::Existing(_) = tx.claim_key_at_commit(&key).await? {
            tx.rollback().await?;
            return Ok(Tried::KeyHeld);
        }
        tx.assume_unchanged(&order);
        let written = match intent(&tx, order, plan, &attempt_id, now).await {
            Ok(written) => written,
            Err(PaymentError::KeyInUse) => {
                tx.rollback().await?;
                return Ok(Tried::KeyHeld);
            }
            Err(error) if order_moved(&error) => {
                tx.rollback().await?;
                return Ok(Tried::NotOnThisView);
            }
            Err(other) => return Err(other),
        };
        match tx.commit().await {
            Ok(()) => {}
            Err(StoreError::KeyTaken) => return Ok(Tried::KeyHeld),
            Err(StoreError::Conflict) => return Ok(Tried::NotOnThisView),
            Err(other) => return Err(other.into()),
        }
        self.crash_point(CrashPoint::AfterIntentCommit);
        Ok(Tried::Written(Unlocked {
            intent: written,
            attempt_id,
            attached,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CaptureId, CaptureStatus, OrderId};

    fn capture(id: &str, amount: i64) -> CaptureRecord {
        let now = chrono::Utc::now();
        CaptureRecord {
            id: CaptureId::from_trusted(id.to_owned()),
            order_id: OrderId::from_trusted("ord_1".to_owned()),
            amount,
            status: CaptureStatus::Pending,
            final_capture: false,
            provider_capture_id: None,
            reference: String::new(),
            description: String::new(),
            amount_refunded: 0,
            pending_refund: 0,
            failure: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_written_record_replaces_the_one_read_and_a_new_one_is_added_in_id_order() {
        let attached = Attached {
            captures: vec![capture("cap_01", 100), capture("cap_03", 300)],
            refunds: vec![],
        };
        let state = crate::domain::OrderState::new(1_000);
        let order = OrderRecord::for_tests("ord_1", crate::domain::ProviderKind::Payjp, state);
        let view = attached.answer(order, [capture("cap_02", 200), capture("cap_03", 250)], []);
        let seen: Vec<(&str, i64)> = view
            .captures
            .iter()
            .map(|c| (c.id.as_str(), c.amount))
            .collect();
        assert_eq!(seen, [("cap_01", 100), ("cap_02", 200), ("cap_03", 250)]);
    }
}
