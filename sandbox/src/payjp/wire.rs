//! PAY.JP's wire shapes, field order as in the fixtures.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::books::{Flow, Refund};

#[derive(Serialize)]
pub(super) struct FlowWire<'a> {
    pub(super) object: &'static str,
    pub(super) id: &'a str,
    pub(super) livemode: bool,
    pub(super) amount: i64,
    pub(super) currency: &'a str,
    pub(super) amount_capturable: i64,
    pub(super) amount_received: i64,
    pub(super) client_secret: &'a str,
    pub(super) customer_id: Option<&'a str>,
    pub(super) description: Option<&'a str>,
    pub(super) payment_method_id: Option<&'a str>,
    pub(super) payment_method_options: Option<&'a Value>,
    pub(super) payment_method_types: &'a [String],
    pub(super) status: &'static str,
    pub(super) next_action: Option<&'a Value>,
    pub(super) return_url: Option<&'a str>,
    pub(super) redirect_options: RedirectOptionsWire,
    pub(super) capture_method: &'a str,
    pub(super) last_payment_error: Option<&'a Value>,
    pub(super) cancellation_reason: Option<&'a str>,
    pub(super) canceled_at: Option<String>,
    pub(super) expired_at: Option<String>,
    pub(super) metadata: &'a Map<String, Value>,
    pub(super) created_at: String,
    pub(super) updated_at: String,
}

#[derive(Serialize)]
pub(super) struct RefundWire<'a> {
    pub(super) object: &'static str,
    pub(super) id: &'a str,
    pub(super) livemode: bool,
    pub(super) payment_flow_id: &'a str,
    pub(super) amount: i64,
    pub(super) status: &'static str,
    pub(super) reason: Option<&'a str>,
    pub(super) metadata: &'a Map<String, Value>,
    pub(super) created_at: String,
    pub(super) updated_at: String,
}

/// The SDK's `RedirectOptionsResponse` (required on every flow).
#[derive(Serialize)]
pub(super) struct RedirectOptionsWire {
    pub(super) include_client_secret: bool,
}

/// The SDK's `ErrorResponse`: RFC 9457 problem details, no `code`.
#[derive(Serialize)]
pub(super) struct ProblemWire<'a> {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) title: &'a str,
    pub(super) status: u16,
    pub(super) detail: &'a str,
    pub(super) instance: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) errors: Option<&'a [FieldError]>,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct FieldError {
    pub(super) field: String,
    pub(super) message: String,
}

impl Flow {
    pub(super) fn wire(&self) -> FlowWire<'_> {
        FlowWire {
            object: "payment_flow",
            id: &self.id,
            livemode: false,
            amount: self.amount,
            currency: &self.currency,
            amount_capturable: self.amount_capturable,
            amount_received: self.amount_received,
            client_secret: &self.client_secret,
            customer_id: self.customer_id.as_deref(),
            description: self.description.as_deref(),
            payment_method_id: self.payment_method_id.as_deref(),
            payment_method_options: self.payment_method_options.as_ref(),
            payment_method_types: &self.payment_method_types,
            status: self.status.as_str(),
            next_action: self.next_action.as_ref(),
            return_url: self.return_url.as_deref(),
            redirect_options: RedirectOptionsWire {
                include_client_secret: self.include_client_secret,
            },
            capture_method: &self.capture_method,
            last_payment_error: self.last_payment_error.as_ref(),
            cancellation_reason: self.cancellation_reason.as_deref(),
            canceled_at: self.canceled_at.map(timestamp),
            expired_at: self.expired_at.map(timestamp),
            metadata: &self.metadata,
            created_at: timestamp(self.created_at),
            updated_at: timestamp(self.updated_at),
        }
    }
}

impl Refund {
    pub(super) fn wire(&self) -> RefundWire<'_> {
        RefundWire {
            object: "payment_refund",
            id: &self.id,
            livemode: false,
            payment_flow_id: &self.payment_flow_id,
            amount: self.amount,
            // Refunds settle at once in the sandbox.
            status: "succeeded",
            reason: self.reason.as_deref(),
            metadata: &self.metadata,
            created_at: timestamp(self.created_at),
            updated_at: timestamp(self.created_at),
        }
    }
}

pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}
