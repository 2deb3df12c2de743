//! PAY.JP v2 wire types (providers.md, seed 003, the OpenAPI spec's field
//! names). Parsing is tolerant: unknown fields are ignored and absent
//! optional fields default, so a new PAY.JP field never breaks a capture.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const PAYMENT_FLOWS: &str = "/payment_flows";
/// The SDKs use `/payment_refunds`; the docs guide shows `/refunds`. One
/// constant, so switching is one line.
pub const PAYMENT_REFUNDS: &str = "/payment_refunds";

#[derive(Debug, Serialize)]
pub struct CreatePaymentFlow<'a> {
    pub amount: i64,
    pub currency: &'static str,
    pub capture_method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method_options: Option<PaymentMethodOptions>,
    pub confirm: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct PaymentMethodOptions {
    pub card: CardOptions,
}

#[derive(Debug, Serialize)]
pub struct CardOptions {
    pub request_extended_authorization: &'static str,
}

#[derive(Debug, Serialize)]
pub struct CapturePaymentFlow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_to_capture: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct CancelPaymentFlow {
    pub cancellation_reason: &'static str,
}

#[derive(Debug, Serialize)]
pub struct CreateRefund<'a> {
    pub payment_flow_id: &'a str,
    pub amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Succeeded,
    Canceled,
    /// A status this adapter does not know yet: treated as "not settled".
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentFlow {
    pub id: String,
    #[serde(default)]
    pub livemode: bool,
    pub amount: i64,
    #[serde(default)]
    pub amount_capturable: Option<i64>,
    #[serde(default)]
    pub amount_received: Option<i64>,
    #[serde(default)]
    pub client_secret: Option<String>,
    pub status: FlowStatus,
    #[serde(default)]
    pub next_action: Option<serde_json::Value>,
    #[serde(default)]
    pub payment_method_types: Option<Vec<String>>,
    #[serde(default)]
    pub last_payment_error: Option<serde_json::Value>,
    #[serde(default)]
    pub expired_at: Option<DateTime<Utc>>,
}

impl crate::providers::Plausible for PaymentFlow {
    fn plausible(&self) -> bool {
        use crate::providers::plausible_amount;
        plausible_amount(self.amount)
            && self.amount_capturable.is_none_or(plausible_amount)
            && self.amount_received.is_none_or(plausible_amount)
    }
}

impl crate::providers::Plausible for PaymentRefund {
    fn plausible(&self) -> bool {
        true
    }
}

impl PaymentFlow {
    /// The URL the shopper must visit, when `next_action` names one. Its
    /// shape is not documented; the fixtures' Stripe-like form is read and
    /// anything else is ignored.
    pub fn redirect_url(&self) -> Option<String> {
        let action = self.next_action.as_ref()?;
        action
            .get("redirect_to_url")
            .and_then(|r| r.get("url"))
            .or_else(|| action.get("url"))
            .and_then(|u| u.as_str())
            .map(str::to_owned)
    }

    pub fn payment_error(&self) -> Option<(String, String)> {
        let error = self.last_payment_error.as_ref()?;
        let code = error
            .get("code")
            .and_then(|c| c.as_str())
            .unwrap_or("payment_failed");
        let message = error
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("the payment failed");
        Some((code.to_owned(), message.to_owned()))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentRefund {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
}

/// RFC 9457 problem details. Matched on `status` + `code` only: `type` and
/// `instance` differ between the docs and the OpenAPI spec.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub errors: Vec<ProblemField>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProblemField {
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/payjp/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn every_flow_fixture_parses() {
        for (name, status) in [
            (
                "payment_flow.created.requires_payment_method.json",
                FlowStatus::RequiresPaymentMethod,
            ),
            (
                "payment_flow.confirmed.requires_capture.json",
                FlowStatus::RequiresCapture,
            ),
            (
                "payment_flow.requires_action.3ds.json",
                FlowStatus::RequiresAction,
            ),
            (
                "payment_flow.partially_captured.requires_capture.json",
                FlowStatus::RequiresCapture,
            ),
            ("payment_flow.succeeded.json", FlowStatus::Succeeded),
            ("payment_flow.canceled.json", FlowStatus::Canceled),
        ] {
            let flow: PaymentFlow = serde_json::from_str(&fixture(name)).unwrap();
            assert_eq!(flow.status, status, "{name}");
        }
    }

    #[test]
    fn the_partial_capture_fixture_reads_as_the_seed_says() {
        let flow: PaymentFlow = serde_json::from_str(&fixture(
            "payment_flow.partially_captured.requires_capture.json",
        ))
        .unwrap();
        assert_eq!(flow.amount_received, Some(3000));
        assert_eq!(flow.amount_capturable, Some(7000));
        assert!(flow.expired_at.is_some());
    }

    #[test]
    fn the_3ds_redirect_is_found() {
        let flow: PaymentFlow =
            serde_json::from_str(&fixture("payment_flow.requires_action.3ds.json")).unwrap();
        assert_eq!(
            flow.redirect_url().as_deref(),
            Some("https://api.pay.jp/v2/three_d_secure/redirect/pfw_e9af07486e92bf2eb5ea4d2d")
        );
    }

    #[test]
    fn an_unknown_status_does_not_fail_the_parse() {
        let flow: PaymentFlow =
            serde_json::from_str(r#"{"id":"pfw_1","amount":100,"status":"requires_teleport"}"#)
                .unwrap();
        assert_eq!(flow.status, FlowStatus::Unknown);
    }

    #[test]
    fn every_error_fixture_parses_as_a_problem() {
        for name in [
            "error.400.invalid_status.json",
            "error.400.payment_flow_expired.json",
            "error.400.refund_exceeds_payment.json",
            "error.401.unauthorized.json",
            "error.402.payment_failed.json",
            "error.404.not_found.json",
            "error.409.idempotency_conflict.json",
            "error.422.validation_error.json",
            "error.429.rate_limit.json",
        ] {
            let problem: Problem = serde_json::from_str(&fixture(name)).unwrap();
            assert!(problem.code.is_some() && problem.detail.is_some(), "{name}");
        }
    }

    #[test]
    fn the_refund_fixture_parses() {
        let refund: PaymentRefund =
            serde_json::from_str(&fixture("payment_refund.succeeded.json")).unwrap();
        assert_eq!(refund.status.as_deref(), Some("succeeded"));
    }
}
