//! The simulated Smartpay merchant account's books: checkout sessions,
//! orders, payments (captures) and refunds, and the rules that move them.

use std::collections::BTreeSet;

use chrono::Duration;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::errors::ApiError;
use super::requests::CaptureRequest;
use super::{
    AUTHORIZATION_WINDOW, BASE62, ID_LENGTH, IDEMPOTENCY_RETENTION, LedgerOrder, LedgerPayment,
    SmartpayLedger,
};
use crate::book::{Book, Groups};
use crate::pipeline::idempotency::{Answers, Idempotent};

/// Everything behind one mutex, so an idempotency lookup and the action it
/// guards are atomic (see [`crate::pipeline::idempotency`]). Saved whole in
/// the state file, but for the outbox, which is empty between requests.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Books {
    pub(super) sessions: Book<Session>,
    pub(super) orders: Book<Order>,
    pub(super) payments: Book<Payment>,
    pub(super) refunds: Book<Refund>,
    pub(super) answers: Answers,
    /// Each order's checkout session, if it has one.
    #[serde(skip)]
    pub(super) order_sessions: Groups,
    /// Orders that may lapse at their deadline: (deadline, position),
    /// soonest first; an entry whose order moved on is dropped when due.
    #[serde(skip)]
    deadlines: BTreeSet<(i64, usize)>,
    /// Events to notify (type, object), sent once the books are unlocked.
    #[serde(skip)]
    pub(super) outbox: Vec<(&'static str, Value)>,
}

impl crate::state::Saved for Books {
    fn loaded(&mut self) {
        self.order_sessions = Groups::of_book(&self.sessions, |s| Some(s.order_id.as_str()));
        self.deadlines = self
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| o.status == OrderStatus::RequiresCapture)
            .filter_map(|(position, o)| Some((o.expires_at?, position)))
            .collect();
    }
}

/// GUESS: every answer is kept, errors included, so a retry learns exactly
/// what the first attempt learned.
impl Idempotent for Books {
    const RETENTION: Duration = IDEMPOTENCY_RETENTION;

    fn answers(&mut self) -> &mut Answers {
        &mut self.answers
    }
}

/// Per-request context the operations need besides the books.
pub(super) struct Env<'a> {
    pub(super) now: i64,
    pub(super) public_base_url: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum OrderStatus {
    RequiresAuthorization,
    RequiresCapture,
    Succeeded,
    Canceled,
    Rejected,
}

impl OrderStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::RequiresAuthorization => "requires_authorization",
            Self::RequiresCapture => "requires_capture",
            Self::Succeeded => "succeeded",
            Self::Canceled => "canceled",
            Self::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum CaptureMethod {
    Automatic,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Verdict {
    Approve,
    Reject,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Session {
    pub(super) id: String,
    pub(super) order_id: String,
    pub(super) success_url: String,
    pub(super) cancel_url: String,
    pub(super) customer_info: Map<String, Value>,
    pub(super) metadata: Map<String, Value>,
    pub(super) reference: Option<String>,
    pub(super) created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LineItem {
    pub(super) id: String,
    pub(super) price_id: String,
    pub(super) product_id: String,
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) images: Vec<String>,
    pub(super) amount: i64,
    pub(super) currency: String,
    pub(super) quantity: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Order {
    pub(super) id: String,
    pub(super) amount: i64,
    pub(super) currency: String,
    pub(super) capture_method: CaptureMethod,
    pub(super) status: OrderStatus,
    pub(super) line_items: Vec<LineItem>,
    pub(super) metadata: Map<String, Value>,
    pub(super) shipping_info: Option<Value>,
    /// Only the token flow sets the order's own reference: the fixture's
    /// checkout session keeps its `reference` off the embedded order.
    pub(super) reference: Option<String>,
    pub(super) expires_at: Option<i64>,
    pub(super) payment_ids: Vec<String>,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    // Bookkeeping the wire object does not show.
    pub(super) authorized: i64,
    pub(super) captured: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Payment {
    pub(super) id: String,
    pub(super) order_id: String,
    pub(super) amount: i64,
    pub(super) currency: String,
    pub(super) reference: Option<String>,
    pub(super) description: Option<String>,
    pub(super) line_items: Vec<Value>,
    pub(super) metadata: Map<String, Value>,
    pub(super) refunded: i64,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Refund {
    pub(super) id: String,
    pub(super) payment_id: String,
    pub(super) amount: i64,
    pub(super) currency: String,
    pub(super) reason: String,
    pub(super) reference: Option<String>,
    pub(super) description: Option<String>,
    pub(super) line_items: Vec<Value>,
    pub(super) metadata: Map<String, Value>,
    pub(super) created_at: i64,
}

impl Books {
    pub(super) fn notify<T: Serialize>(&mut self, event_type: &'static str, object: &T) {
        // Our own wire structs have string keys only, so this cannot fail.
        let data = serde_json::to_value(object).unwrap_or_default();
        self.outbox.push((event_type, data));
    }

    pub(super) fn order(&self, id: &str) -> Result<&Order, ApiError> {
        self.orders.find(id).ok_or_else(ApiError::order_not_found)
    }

    pub(super) fn order_mut(&mut self, id: &str) -> Result<&mut Order, ApiError> {
        self.orders
            .find_mut(id)
            .ok_or_else(ApiError::order_not_found)
    }

    pub(super) fn payment_mut(&mut self, id: &str) -> Result<&mut Payment, ApiError> {
        self.payments
            .find_mut(id)
            .ok_or_else(ApiError::payment_not_found)
    }

    /// The checkout session that made `order_id`, if one did.
    pub(super) fn session_of(&self, order_id: &str) -> Option<&Session> {
        let position = *self.order_sessions.of(order_id).first()?;
        self.sessions.get(position)
    }

    pub(super) fn add_session(&mut self, session: Session) {
        let order_id = session.order_id.clone();
        let position = self.sessions.push(session);
        self.order_sessions.add(&order_id, position);
    }

    /// Smartpay cancels an uncaptured order by itself at its deadline; the
    /// simulator catches up whenever it is touched, dating the change at the
    /// deadline so the books read as if it had happened on time. Only the
    /// orders whose deadline has come are read.
    pub(super) fn settle_expired(&mut self, now: i64) {
        while let Some(&(deadline, position)) = self.deadlines.first()
            && deadline <= now
        {
            self.deadlines.pop_first();
            let Some(order) = self.orders.get_mut(position) else {
                continue;
            };
            let overdue = order.status == OrderStatus::RequiresCapture
                && order.expires_at.is_some_and(|deadline| now >= deadline);
            if overdue {
                // A partly captured order keeps what was taken: it ends
                // `succeeded`, as cancelling it by hand would.
                order.status = if order.captured > 0 {
                    OrderStatus::Succeeded
                } else {
                    OrderStatus::Canceled
                };
                order.updated_at = order.expires_at.unwrap_or(now);
            }
        }
    }

    /// The shopper's answer, or the approved token: authorize the order.
    /// Automatic capture takes the whole amount at once as one payment.
    pub(super) fn authorize(&mut self, order_index: usize, now: i64) {
        let Some(order) = self.orders.get_mut(order_index) else {
            return;
        };
        order.authorized = order.amount;
        // GUESS: an automatically captured order also shows the 7-day
        // `expiresAt` (order.succeeded.json carries one).
        let deadline = now + AUTHORIZATION_WINDOW.num_milliseconds();
        order.expires_at = Some(deadline);
        order.updated_at = now;
        self.deadlines.insert((deadline, order_index));
        match order.capture_method {
            CaptureMethod::Manual => order.status = OrderStatus::RequiresCapture,
            CaptureMethod::Automatic => {
                let capture = CaptureRequest {
                    order_id: order.id.clone(),
                    amount: order.amount,
                    currency: order.currency.clone(),
                    cancel_remainder: "automatic",
                    reference: None,
                    description: None,
                    line_items: Vec::new(),
                    metadata: Map::new(),
                };
                self.record_payment(order_index, capture, now);
            }
        }
        if let Some(order) = self.orders.get(order_index) {
            let authorized = serde_json::to_value(order.wire()).unwrap_or_default();
            self.outbox.push(("order.authorized", authorized));
        }
    }

    /// Books a capture on the order and returns the new payment's index.
    pub(super) fn record_payment(
        &mut self,
        order_index: usize,
        request: CaptureRequest,
        now: i64,
    ) -> usize {
        let payment = Payment {
            id: new_id("payment"),
            order_id: request.order_id,
            amount: request.amount,
            currency: request.currency,
            reference: request.reference,
            description: request.description,
            line_items: request.line_items,
            metadata: request.metadata,
            refunded: 0,
            created_at: now,
            updated_at: now,
        };
        if let Some(order) = self.orders.get_mut(order_index) {
            order.captured += payment.amount;
            order.payment_ids.push(payment.id.clone());
            order.updated_at = now;
            // Seed 000: by default whatever this capture leaves is cancelled
            // and can never be captured; `manual` keeps it capturable.
            if request.cancel_remainder == "automatic" || order.captured >= order.amount {
                order.status = OrderStatus::Succeeded;
            }
        }
        self.notify("payment.created", &payment.wire());
        self.payments.push(payment)
    }

    pub(super) fn ledger(&self) -> SmartpayLedger {
        SmartpayLedger {
            orders: self.orders.iter().map(|o| self.ledger_order(o)).collect(),
        }
    }

    pub(super) fn ledger_order(&self, order: &Order) -> LedgerOrder {
        let payments: Vec<LedgerPayment> = order
            .payment_ids
            .iter()
            .filter_map(|id| self.payments.find(id))
            .map(|p| LedgerPayment {
                id: p.id.clone(),
                amount: p.amount,
                refunded: p.refunded,
            })
            .collect();
        let session_reference = self.session_of(&order.id).and_then(|s| s.reference.clone());
        LedgerOrder {
            id: order.id.clone(),
            status: order.status.as_str().to_owned(),
            amount: order.amount,
            authorized: order.authorized,
            captured: order.captured,
            refunded: payments.iter().map(|p| p.refunded).sum(),
            canceled: order.status == OrderStatus::Canceled,
            payments,
            reference: order.reference.clone().or(session_reference),
        }
    }
}

/// `<prefix>_test_<22 base62>`, like the fixtures' ids.
pub(super) fn new_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..ID_LENGTH)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect();
    format!("{prefix}_test_{tail}")
}

crate::book::records_by_id!(Session, Order, Payment, Refund);
