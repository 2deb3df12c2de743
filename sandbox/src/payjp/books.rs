//! The simulated PAY.JP account's books: payment flows and refunds, their
//! states and the rules that move them.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::requests::CreateRequest;
use super::{
    CARD_AUTHORIZATION, EXTENDED_AUTHORIZATION, IDEMPOTENCY_RETENTION, LedgerFlow,
    PAYPAY_AUTHORIZATION, PM_DECLINE, PM_PAYPAY, PM_THREE_D_SECURE, PayjpLedger,
};
use crate::book::{Book, Groups};
use crate::pipeline::idempotency::{Answers, Idempotent};
use crate::pipeline::reply::Reply;

/// Everything behind one mutex, so an idempotency lookup and the action it
/// guards are atomic (see [`crate::pipeline::idempotency`]). Saved whole in
/// the state file, but for the outbox, which is empty between requests.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Books {
    pub(super) flows: Book<Flow>,
    pub(super) refunds: Book<Refund>,
    pub(super) answers: Answers,
    /// Flows by customer, refunds by flow (for the lists narrowed so).
    #[serde(skip)]
    pub(super) customer_flows: Groups,
    #[serde(skip)]
    pub(super) flow_refunds: Groups,
    /// Events to notify (type, object), sent once the books are unlocked.
    #[serde(skip)]
    pub(super) outbox: Vec<(&'static str, Value)>,
}

impl crate::state::Saved for Books {
    fn loaded(&mut self) {
        self.customer_flows = Groups::of_book(&self.flows, |f| f.customer_id.as_deref());
        self.flow_refunds = Groups::of_book(&self.refunds, |r| Some(r.payment_flow_id.as_str()));
    }
}

impl Idempotent for Books {
    const RETENTION: Duration = IDEMPOTENCY_RETENTION;

    fn answers(&mut self) -> &mut Answers {
        &mut self.answers
    }

    /// A request whose parameters failed validation never started acting,
    /// so (as with Stripe) it is not remembered and may be corrected.
    fn keeps(reply: &Reply) -> bool {
        reply.status != StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// Per-request context the handlers need besides the books.
pub(super) struct Env<'a> {
    pub(super) now: DateTime<Utc>,
    pub(super) public_base_url: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Status {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    RequiresCapture,
    Succeeded,
    Canceled,
}

impl Status {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::RequiresCapture => "requires_capture",
            Self::Succeeded => "succeeded",
            Self::Canceled => "canceled",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Flow {
    pub(super) id: String,
    pub(super) client_secret: String,
    pub(super) amount: i64,
    pub(super) currency: String,
    pub(super) amount_capturable: i64,
    pub(super) amount_received: i64,
    pub(super) customer_id: Option<String>,
    pub(super) description: Option<String>,
    pub(super) payment_method_id: Option<String>,
    pub(super) payment_method_options: Option<Value>,
    pub(super) payment_method_types: Vec<String>,
    pub(super) status: Status,
    pub(super) next_action: Option<Value>,
    pub(super) return_url: Option<String>,
    pub(super) include_client_secret: bool,
    pub(super) capture_method: String,
    pub(super) last_payment_error: Option<Value>,
    pub(super) cancellation_reason: Option<String>,
    pub(super) canceled_at: Option<DateTime<Utc>>,
    pub(super) expired_at: Option<DateTime<Utc>>,
    pub(super) metadata: Map<String, Value>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    // Bookkeeping the wire object does not show.
    pub(super) authorized: i64,
    pub(super) partially_captured: bool,
    pub(super) refunded: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Refund {
    pub(super) id: String,
    pub(super) payment_flow_id: String,
    pub(super) amount: i64,
    pub(super) reason: Option<String>,
    pub(super) metadata: Map<String, Value>,
    pub(super) created_at: DateTime<Utc>,
}

impl Flow {
    /// The event this flow's new state is notified as, with the flow;
    /// `failed`: the payment attempt was refused.
    pub(super) fn event(&self, failed: bool) -> Option<(&'static str, Value)> {
        let event_type = match (failed, self.status) {
            (true, _) => "payment_flow.payment_failed",
            (false, Status::RequiresAction) => "payment_flow.requires_action",
            (false, Status::RequiresCapture) => "payment_flow.amount_capturable_updated",
            (false, Status::Succeeded) => "payment_flow.succeeded",
            (false, Status::Canceled) => "payment_flow.canceled",
            // GUESS: a flow still waiting for a method is not notified.
            (false, Status::RequiresPaymentMethod | Status::RequiresConfirmation) => return None,
        };
        // Our own wire structs have string keys only, so this cannot fail.
        Some((
            event_type,
            serde_json::to_value(self.wire()).unwrap_or_default(),
        ))
    }
}

impl Books {
    pub(super) fn flow(&self, id: &str) -> Result<&Flow, ApiError> {
        self.flows
            .find(id)
            .ok_or_else(|| ApiError::not_found("payment_flow", id))
    }

    pub(super) fn flow_mut(&mut self, id: &str) -> Result<&mut Flow, ApiError> {
        self.flows
            .find_mut(id)
            .ok_or_else(|| ApiError::not_found("payment_flow", id))
    }

    pub(super) fn add_flow(&mut self, flow: Flow) {
        let customer = flow.customer_id.clone();
        let position = self.flows.push(flow);
        if let Some(customer) = customer {
            self.customer_flows.add(&customer, position);
        }
    }

    pub(super) fn add_refund(&mut self, refund: Refund) {
        let flow = refund.payment_flow_id.clone();
        let position = self.refunds.push(refund);
        self.flow_refunds.add(&flow, position);
    }

    pub(super) fn ledger(&self) -> PayjpLedger {
        PayjpLedger {
            flows: self.flows.iter().map(Flow::ledger).collect(),
        }
    }
}

impl Flow {
    pub(super) fn new(request: CreateRequest, now: DateTime<Utc>) -> Self {
        let id = format!("pfw_{}", random_hex(12));
        let client_secret = format!("{id}_secret_{}", random_hex(16));
        let status = if request.payment_method_id.is_some() {
            Status::RequiresConfirmation
        } else {
            Status::RequiresPaymentMethod
        };
        Self {
            id,
            client_secret,
            amount: request.amount,
            currency: request.currency,
            amount_capturable: 0,
            amount_received: 0,
            customer_id: request.customer_id,
            description: request.description,
            payment_method_id: request.payment_method_id,
            payment_method_options: request.payment_method_options,
            // GUESS: the fixtures show ["card"] on a flow created without types.
            payment_method_types: request
                .payment_method_types
                .unwrap_or_else(|| vec!["card".to_owned()]),
            status,
            next_action: None,
            return_url: request.return_url,
            include_client_secret: request.include_client_secret,
            capture_method: request.capture_method,
            last_payment_error: None,
            cancellation_reason: None,
            canceled_at: None,
            expired_at: None,
            metadata: request.metadata.unwrap_or_default(),
            created_at: now,
            updated_at: now,
            authorized: 0,
            partially_captured: false,
            refunded: 0,
        }
    }

    pub(super) fn require_status(&self, allowed: &[Status]) -> Result<(), ApiError> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            Err(ApiError::invalid_status(allowed, self.status))
        }
    }

    pub(super) fn is_manual_capture(&self) -> bool {
        self.capture_method == "manual"
    }

    /// The authorization succeeded: reserve the amount (manual capture) or
    /// take it at once (automatic capture).
    pub(super) fn authorize(&mut self, window: Duration, now: DateTime<Utc>) {
        self.authorized = self.amount;
        self.next_action = None;
        self.last_payment_error = None;
        self.updated_at = now;
        if self.is_manual_capture() {
            self.status = Status::RequiresCapture;
            self.amount_capturable = self.amount;
            self.expired_at = Some(now + window);
        } else {
            self.status = Status::Succeeded;
            self.amount_received = self.amount;
            self.amount_capturable = 0;
            // GUESS: nothing is left to capture, so no deadline is shown.
            self.expired_at = None;
        }
    }

    /// The attempt failed; the shopper may try another payment method.
    pub(super) fn fail_attempt(&mut self, code: &str, message: &str, now: DateTime<Utc>) {
        self.last_payment_error = Some(json!({ "code": code, "message": message }));
        // GUESS (Stripe-like): a failed method is detached, so a bare re-confirm
        // cannot silently retry the same declined card.
        self.payment_method_id = None;
        self.next_action = None;
        self.status = Status::RequiresPaymentMethod;
        self.updated_at = now;
    }

    /// The card's authorization window: 7 days unless an extension was asked.
    pub(super) fn card_window(&self) -> Duration {
        let extension = self
            .payment_method_options
            .as_ref()
            .and_then(|o| o.pointer("/card/request_extended_authorization"))
            .and_then(Value::as_str);
        match extension {
            Some("if_available" | "must_extend") => EXTENDED_AUTHORIZATION,
            _ => CARD_AUTHORIZATION,
        }
    }

    pub(super) fn three_d_secure_action(&self, public_base_url: &str) -> Value {
        json!({
            "type": "redirect_to_url",
            "redirect_to_url": {
                "url": format!("{public_base_url}/_sandbox/3ds/{}", self.id),
                "return_url": self.return_url,
            }
        })
    }

    /// Runs the payment attempt with the attached method, by test value.
    pub(super) fn attempt_payment(&mut self, env: &Env<'_>) -> Result<(), ApiError> {
        let method = self.payment_method_id.clone().unwrap_or_default();
        match method.as_str() {
            PM_DECLINE => {
                self.fail_attempt("card_declined", "Your card was declined.", env.now);
                Err(ApiError::payment_failed())
            }
            PM_THREE_D_SECURE => {
                self.status = Status::RequiresAction;
                self.next_action = Some(self.three_d_secure_action(env.public_base_url));
                self.last_payment_error = None;
                self.updated_at = env.now;
                Ok(())
            }
            PM_PAYPAY => {
                self.payment_method_types = vec!["paypay".to_owned()];
                self.authorize(PAYPAY_AUTHORIZATION, env.now);
                Ok(())
            }
            _ => {
                let window = self.card_window();
                self.authorize(window, env.now);
                Ok(())
            }
        }
    }

    pub(super) fn ledger(&self) -> LedgerFlow {
        LedgerFlow {
            id: self.id.clone(),
            status: self.status.as_str().to_owned(),
            amount: self.amount,
            authorized: self.authorized,
            captured: self.amount_received,
            refunded: self.refunded,
            canceled: self.status == Status::Canceled,
            metadata: self.metadata.clone(),
        }
    }
}

pub(super) fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

crate::book::records_by_id!(Flow, Refund);
