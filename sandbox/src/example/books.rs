//! The simulated account's books: charges, their captures and refunds, and
//! the rules that move them.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde_json::{Map, Value, json};

use super::{ExampleLedger, LedgerCharge};
use crate::book::Book;
use crate::pipeline::idempotency::{Answers, Idempotent};
use crate::pipeline::reply::{Reply, json_object};

const MIN_AMOUNT: i64 = 100;
const MAX_AMOUNT: i64 = 1_000_000;
const AUTHORIZATION: Duration = Duration::days(7);

/// Everything behind one mutex, so an idempotency lookup and the action it
/// guards are atomic.
#[derive(Default)]
pub(crate) struct Books {
    charges: Book<Charge>,
    answers: Answers,
    /// Events to notify (type, charge id), sent once the books are unlocked.
    pub(super) outbox: Vec<(&'static str, String)>,
    next_id: u64,
}

impl Idempotent for Books {
    /// Keys live as long as any charge could (a resend of a lost answer is
    /// always deduplicated): ten years stands for that.
    const RETENTION: Duration = Duration::days(3_650);

    fn answers(&mut self) -> &mut Answers {
        &mut self.answers
    }

    /// A request refused as malformed never acted and may be corrected.
    fn keeps(reply: &Reply) -> bool {
        reply.status != StatusCode::BAD_REQUEST
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Authorized,
    PartiallyCaptured,
    Captured,
    Voided,
    Expired,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Authorized => "authorized",
            Status::PartiallyCaptured => "partially_captured",
            Status::Captured => "captured",
            Status::Voided => "voided",
            Status::Expired => "expired",
        }
    }
}

struct Charge {
    id: String,
    amount: i64,
    currency: String,
    reference: Option<String>,
    status: Status,
    captured: i64,
    refunded: i64,
    captures: usize,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl Charge {
    fn capturable(&self) -> i64 {
        match self.status {
            Status::Authorized | Status::PartiallyCaptured => self.amount - self.captured,
            Status::Captured | Status::Voided | Status::Expired => 0,
        }
    }

    /// An authorization past its deadline lapses when next looked at.
    fn lapse(&mut self, now: DateTime<Utc>) {
        let open = matches!(self.status, Status::Authorized | Status::PartiallyCaptured);
        if open && now >= self.expires_at {
            self.status = Status::Expired;
        }
    }

    fn wire(&self) -> Value {
        json!({
            "id": self.id,
            "object": "charge",
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status.as_str(),
            "amount_captured": self.captured,
            "amount_refunded": self.refunded,
            "amount_capturable": self.capturable(),
            "reference": self.reference,
            "livemode": false,
            "created_at": self.created_at.to_rfc3339(),
            "expires_at": self.expires_at.to_rfc3339(),
        })
    }
}

/// `{"error": {"code", "message"}}` with its status.
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub(super) fn reply(self) -> Reply {
        Reply::json(
            self.status,
            &json!({"error": {"code": self.code, "message": self.message}}),
        )
    }
}

/// One API operation, named by the route that received it.
pub(crate) enum Call {
    CreateCharge,
    GetCharge(String),
    Capture(String),
    Void(String),
    CreateRefund,
}

struct Body(Map<String, Value>);

impl Body {
    fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        json_object(bytes, true)
            .map(Body)
            .map_err(|_| ApiError::invalid("the body must be a JSON object"))
    }

    fn amount(&self, field: &str, min: i64, max: i64) -> Result<i64, ApiError> {
        match self.0.get(field).and_then(Value::as_i64) {
            Some(amount) if (min..=max).contains(&amount) => Ok(amount),
            Some(_) | None => Err(ApiError::invalid(format!(
                "{field} must be an integer from {min} to {max}"
            ))),
        }
    }

    fn text(&self, field: &str) -> Option<&str> {
        self.0.get(field).and_then(Value::as_str)
    }

    fn flag(&self, field: &str) -> bool {
        self.0.get(field).and_then(Value::as_bool).unwrap_or(false)
    }
}

impl Books {
    pub(super) fn perform(
        &mut self,
        call: &Call,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Reply, ApiError> {
        match call {
            Call::CreateCharge => self.create_charge(&Body::parse(body)?, now),
            Call::GetCharge(id) => Ok(Reply::ok(&self.charge(id, now)?.wire())),
            Call::Capture(id) => self.capture(id, &Body::parse(body)?, now),
            Call::Void(id) => self.void(id, now),
            Call::CreateRefund => self.refund(&Body::parse(body)?, now),
        }
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_{:08x}{:04}", rand::rng().next_u32(), self.next_id)
    }

    fn charge(&mut self, id: &str, now: DateTime<Utc>) -> Result<&mut Charge, ApiError> {
        let charge = self
            .charges
            .find_mut(id)
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such charge"))?;
        charge.lapse(now);
        Ok(charge)
    }

    fn create_charge(&mut self, body: &Body, now: DateTime<Utc>) -> Result<Reply, ApiError> {
        let amount = body.amount("amount", MIN_AMOUNT, MAX_AMOUNT)?;
        if body.text("currency") != Some("JPY") {
            return Err(ApiError::invalid("currency must be JPY"));
        }
        let token = body
            .text("card_token")
            .ok_or_else(|| ApiError::invalid("card_token is required"))?;
        if token == "tok_decline" {
            return Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "card_declined",
                "the card was declined",
            ));
        }
        if !token.starts_with("tok_") {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "token_not_found",
                "no such card token",
            ));
        }
        let capture = body.flag("capture");
        let charge = Charge {
            id: self.new_id("ch"),
            amount,
            currency: "JPY".into(),
            reference: body.text("reference").map(str::to_owned),
            status: if capture {
                Status::Captured
            } else {
                Status::Authorized
            },
            captured: if capture { amount } else { 0 },
            refunded: 0,
            captures: usize::from(capture),
            created_at: now,
            expires_at: now + AUTHORIZATION,
        };
        let reply = Reply::ok(&charge.wire());
        self.outbox.push(("charge.authorized", charge.id.clone()));
        self.charges.push(charge);
        Ok(reply)
    }

    fn capture(&mut self, id: &str, body: &Body, now: DateTime<Utc>) -> Result<Reply, ApiError> {
        let amount = body.amount("amount", 1, MAX_AMOUNT)?;
        let final_capture = body.flag("final");
        let capture_id = self.new_id("cap");
        let charge = self.charge(id, now)?;
        match charge.status {
            Status::Authorized | Status::PartiallyCaptured => {}
            Status::Expired => {
                return Err(ApiError::conflict(
                    "charge_expired",
                    "the authorization expired",
                ));
            }
            Status::Captured | Status::Voided => {
                return Err(ApiError::conflict(
                    "invalid_state",
                    format!("the charge is {}", charge.status.as_str()),
                ));
            }
        }
        if amount > charge.capturable() {
            return Err(ApiError::conflict(
                "amount_exceeds_capturable",
                format!("only {} can be captured", charge.capturable()),
            ));
        }
        charge.captured += amount;
        charge.captures += 1;
        charge.status = if final_capture || charge.captured == charge.amount {
            Status::Captured
        } else {
            Status::PartiallyCaptured
        };
        let reply = Reply::ok(&json!({
            "id": capture_id,
            "object": "capture",
            "charge": charge.id,
            "amount": amount,
        }));
        let charge_id = charge.id.clone();
        self.outbox.push(("charge.captured", charge_id));
        Ok(reply)
    }

    fn void(&mut self, id: &str, now: DateTime<Utc>) -> Result<Reply, ApiError> {
        let charge = self.charge(id, now)?;
        if charge.status != Status::Authorized {
            return Err(ApiError::conflict(
                "invalid_state",
                format!("a {} charge cannot be voided", charge.status.as_str()),
            ));
        }
        charge.status = Status::Voided;
        let reply = Reply::ok(&charge.wire());
        let charge_id = charge.id.clone();
        self.outbox.push(("charge.voided", charge_id));
        Ok(reply)
    }

    fn refund(&mut self, body: &Body, now: DateTime<Utc>) -> Result<Reply, ApiError> {
        let amount = body.amount("amount", 1, MAX_AMOUNT)?;
        let id = body
            .text("charge")
            .ok_or_else(|| ApiError::invalid("charge is required"))?
            .to_owned();
        let refund_id = self.new_id("re");
        let charge = self.charge(&id, now)?;
        let refundable = charge.captured - charge.refunded;
        if amount > refundable {
            return Err(ApiError::conflict(
                "amount_exceeds_refundable",
                format!("only {refundable} can be refunded"),
            ));
        }
        charge.refunded += amount;
        let reply = Reply::ok(&json!({
            "id": refund_id,
            "object": "refund",
            "charge": id,
            "amount": amount,
            "reason": body.text("reason"),
            "status": "succeeded",
        }));
        self.outbox.push(("charge.refunded", id));
        Ok(reply)
    }

    pub(super) fn ledger(&self) -> ExampleLedger {
        ExampleLedger {
            charges: self
                .charges
                .iter()
                .map(|c| LedgerCharge {
                    id: c.id.clone(),
                    status: c.status.as_str().to_owned(),
                    amount: c.amount,
                    captured: c.captured,
                    refunded: c.refunded,
                    captures: c.captures,
                })
                .collect(),
        }
    }
}

crate::book::records_by_id!(Charge);
