//! PAY.JP's errors: RFC 9457 problems, the SDK's `ErrorResponse` exactly
//! (`type`, `title`, `status`, `detail`, `instance`, `errors`; no `code`).

use axum::http::StatusCode;

use super::books::Status;
use super::wire::{FieldError, ProblemWire};
use super::{PROBLEM_JSON, TYPE_PREFIX};
use crate::pipeline::reply::Reply;

/// An RFC 9457 problem; `instance` is filled with the request path on reply.
/// `code` names the problem (snake case) and makes its `type` URI.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) title: &'static str,
    pub(super) detail: String,
    pub(super) errors: Vec<FieldError>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// `https://docs.pay.jp/v2/errors/<code with dashes>`.
    pub(super) fn type_uri(&self) -> String {
        format!("{TYPE_PREFIX}{}", self.code.replace('_', "-"))
    }

    pub(super) fn validation(errors: Vec<FieldError>) -> Self {
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                "Validation Error",
                "The request parameters didn't pass validation.",
            )
        }
    }

    pub(super) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    pub(super) fn invalid_status(allowed: &[Status], current: Status) -> Self {
        let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        Self::invalid_status_detail(format!(
            "This operation can only be executed when the payment_flow status is {}. The current status is {}.",
            join_alternatives(&names),
            current.as_str()
        ))
    }

    pub(super) fn invalid_status_detail(detail: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_status",
            "Invalid Status",
            detail,
        )
    }

    pub(super) fn not_found(resource: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not Found",
            format!("{resource}: {id} not found."),
        )
    }

    pub(super) fn unknown_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not Found",
            "The requested resource was not found.",
        )
    }

    pub(super) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "Invalid API key provided.",
        )
    }

    pub(super) fn payment_failed() -> Self {
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment_failed",
            "Payment Failed",
            "The payment could not be completed.",
        )
    }

    pub(super) fn expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "payment_flow_expired",
            "Payment Flow Expired",
            "This payment flow has expired and can no longer be captured.",
        )
    }

    pub(super) fn invalid_amount_to_capture(remaining: i64) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_amount_to_capture",
            "Invalid Amount To Capture",
            format!(
                "This payment flow was already partially captured; only the whole remaining amount_capturable ({remaining}) can be captured."
            ),
        )
    }

    pub(super) fn refund_exceeds_payment() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "refund_exceeds_payment",
            "Refund Exceeds Payment",
            "The refund amount exceeds the payment amount.",
        )
    }

    /// 400: the SDK lists no 409 for any endpoint (`_response_types_map`:
    /// 200, 400, 402, 404, 422, 429), so the conflict is a bad request.
    pub(super) fn idempotency_conflict() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "idempotency_conflict",
            "Idempotency Conflict",
            "A request with the same Idempotency-Key but different parameters was already sent.",
        )
    }

    /// GUESS: a payment method given with a customer that does not own it
    /// (the SDK: "Customer が所持する PaymentMethod のみ指定できます").
    pub(super) fn payment_method_not_owned(method: &str, customer: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_payment_method",
            "Invalid Payment Method",
            format!("payment_method: {method} does not belong to customer: {customer}."),
        )
    }

    pub(super) fn into_reply(self, instance: &str) -> Reply {
        let problem = ProblemWire {
            kind: self.type_uri(),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            instance,
            errors: (!self.errors.is_empty()).then_some(self.errors.as_slice()),
        };
        Reply {
            content_type: PROBLEM_JSON,
            ..Reply::json(self.status, &problem)
        }
    }
}

/// "a", "a or b", "a, b or c".
pub(super) fn join_alternatives(items: &[&str]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}
