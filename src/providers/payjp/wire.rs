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
    pub currency: String,
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
        self.amount.is_none_or(crate::providers::plausible_amount)
    }
}

impl PaymentFlow {
    /// The URL the shopper must visit, when `next_action` names one. The
    /// SDK types it as a free dictionary; two shapes are read: the fixtures'
    /// nested `{type: "redirect_to_url", redirect_to_url: {url}}` (also
    /// under any other `type`, `{type: T, T: {url}}`) and a flat `{url}` or
    /// `{redirect_url}`. Only an http(s) URL counts.
    pub fn redirect_url(&self) -> Option<String> {
        let action = self.next_action.as_ref()?;
        let kind = action.get("type").and_then(|t| t.as_str());
        let nested = |key: &str| {
            let inner = action.get(key)?;
            inner.get("url").or_else(|| inner.get("redirect_url"))
        };
        nested("redirect_to_url")
            .or_else(|| kind.and_then(nested))
            .or_else(|| action.get("url"))
            .or_else(|| action.get("redirect_url"))
            .and_then(|u| u.as_str())
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .map(str::to_owned)
    }

    /// Why the last attempt failed, as (code, message). The SDK types it as
    /// a free dictionary; two shapes are read: Stripe-like `{code, message}`
    /// and a problem like the API's errors `{type, title, detail}`.
    pub fn payment_error(&self) -> Option<(String, String)> {
        let error = self.last_payment_error.as_ref()?;
        if !error.is_object() {
            return None;
        }
        let text = |key: &str| {
            error
                .get(key)
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let as_problem: Problem = serde_json::from_value(error.clone()).unwrap_or_default();
        let code = text("code")
            .or_else(|| as_problem.name())
            .unwrap_or_else(|| "payment_failed".to_owned());
        let message = text("message")
            .or_else(|| text("detail"))
            .or_else(|| text("title"))
            .unwrap_or_else(|| "the payment failed".to_owned());
        Some((code, message))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentRefund {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// The SDK's `*ListResponse`: `{object: "list", url, has_more, data}`.
#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

impl<T> crate::providers::Plausible for List<T> {
    fn plausible(&self) -> bool {
        true
    }
}

/// The metadata key a refund carries its kessai idempotency key under, so
/// a refund whose answer was lost can be found by listing the flow's refunds.
pub const REFUND_KEY: &str = "kessai_refund_key";

/// RFC 9457 problem details, the SDK's `ErrorResponse` `{type, title,
/// status, detail, instance, errors[]}`. The SDK has no `code` (the docs'
/// error page shows one): it is read when present and never needed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Problem {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    /// `List[Dict[str, str]]` in the SDK; `field` and `message` as the
    /// docs' 422 shows them, anything else ignored.
    #[serde(default, deserialize_with = "lenient_errors")]
    pub errors: Vec<ProblemField>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProblemField {
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub message: String,
}

/// `errors` as a list of objects; `null`, another shape or odd entries
/// count as no field errors rather than an unreadable problem.
fn lenient_errors<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<ProblemField>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    let items = value.as_array().cloned().unwrap_or_default();
    Ok(items
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect())
}

/// Where the docs' generic `type` URIs live (`…/error-response#400-bad-request`):
/// they name only the HTTP status.
const GENERIC_TYPE: &str = "/error-response";

impl Problem {
    /// What the problem is, in snake case (`payment_flow_expired`): the last
    /// segment of a specific `type` URI (`…/errors/payment-flow-expired`),
    /// else a `code` if one was sent, else the `title` ("Payment Flow
    /// Expired"). `None` when the body names nothing.
    pub fn name(&self) -> Option<String> {
        let from_type = self
            .kind
            .as_deref()
            .filter(|t| !t.contains(GENERIC_TYPE) && !t.contains('#'))
            .and_then(|t| t.trim_end_matches('/').rsplit('/').next())
            .filter(|segment| !segment.is_empty() && !segment.contains(':'));
        let name = from_type
            .map(str::to_owned)
            .or_else(|| self.code.clone().filter(|c| !c.is_empty()))
            .or_else(|| self.title.clone())?;
        let name: String = name
            .trim()
            .chars()
            .map(|c| match c {
                '-' | ' ' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        (!name.is_empty()).then_some(name)
    }
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

    fn flow_with(field: &str, value: serde_json::Value) -> PaymentFlow {
        let mut flow: serde_json::Value =
            serde_json::from_str(&fixture("payment_flow.requires_action.3ds.json")).unwrap();
        flow[field] = value;
        serde_json::from_value(flow).unwrap()
    }

    #[test]
    fn both_next_action_shapes_give_the_redirect() {
        let url = "https://pay.example/3ds/1";
        for action in [
            serde_json::json!({"type": "redirect_to_url", "redirect_to_url": {"url": url}}),
            serde_json::json!({"type": "three_d_secure", "three_d_secure": {"redirect_url": url}}),
            serde_json::json!({"type": "redirect", "url": url}),
            serde_json::json!({"redirect_url": url}),
        ] {
            let flow = flow_with("next_action", action.clone());
            assert_eq!(flow.redirect_url().as_deref(), Some(url), "{action}");
        }
        for action in [
            serde_json::json!({"type": "redirect_to_url", "redirect_to_url": {"url": "javascript:x"}}),
            serde_json::json!({"type": "display_qr"}),
            serde_json::json!("redirect"),
            serde_json::Value::Null,
        ] {
            assert_eq!(
                flow_with("next_action", action.clone()).redirect_url(),
                None,
                "{action}"
            );
        }
    }

    #[test]
    fn both_last_payment_error_shapes_are_read() {
        let stripe_like = flow_with(
            "last_payment_error",
            serde_json::json!({"code": "card_declined", "message": "Your card was declined."}),
        );
        assert_eq!(
            stripe_like.payment_error(),
            Some(("card_declined".into(), "Your card was declined.".into()))
        );
        let problem = flow_with(
            "last_payment_error",
            serde_json::json!({"type": "https://docs.pay.jp/v2/errors/card-declined", "title": "Card Declined", "status": 402, "detail": "The card was declined."}),
        );
        assert_eq!(
            problem.payment_error(),
            Some(("card_declined".into(), "The card was declined.".into()))
        );
        let odd = flow_with("last_payment_error", serde_json::json!(["?"]));
        assert_eq!(odd.payment_error(), None);
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
            assert!(problem.kind.is_some() && problem.detail.is_some(), "{name}");
            assert!(problem.name().is_some(), "{name}");
        }
    }

    #[test]
    fn a_problem_is_named_by_type_then_code_then_title() {
        let spec: Problem = serde_json::from_str(
            r#"{"type":"https://docs.pay.jp/v2/errors/payment-flow-expired","title":"Gone","status":400}"#,
        )
        .unwrap();
        assert_eq!(spec.name().as_deref(), Some("payment_flow_expired"));
        // The docs' generic type names only the status: the title tells.
        let docs: Problem = serde_json::from_str(
            r#"{"type":"https://docs.pay.jp/v2/guide/developers/error-response#400-bad-request","title":"Refund Exceeds Payment","status":400}"#,
        )
        .unwrap();
        assert_eq!(docs.name().as_deref(), Some("refund_exceeds_payment"));
        let with_code: Problem = serde_json::from_str(
            r#"{"type":"about:blank","code":"invalid_status","title":"Bad Request","status":400,"errors":null}"#,
        )
        .unwrap();
        assert_eq!(with_code.name().as_deref(), Some("invalid_status"));
        let odd: Problem =
            serde_json::from_str(r#"{"type":"x","title":"y","status":422,"errors":[{"field":"amount","message":"m"},"junk",{"loc":"z"}]}"#)
                .unwrap();
        assert_eq!(odd.errors.len(), 2);
        assert_eq!(Problem::default().name(), None);
    }

    #[test]
    fn the_refund_fixture_parses() {
        let refund: PaymentRefund =
            serde_json::from_str(&fixture("payment_refund.succeeded.json")).unwrap();
        assert_eq!(refund.status.as_deref(), Some("succeeded"));
    }
}
