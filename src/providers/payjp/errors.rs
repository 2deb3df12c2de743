//! PAY.JP problem+json → kessai's two-tier error model, by HTTP status and
//! `code` together (never by status alone).

use reqwest::StatusCode;

use super::wire::Problem;
use crate::domain::{ProviderKind, Reason};
use crate::providers::{ProviderError, RejectionKind};

/// Which call the error answered; the same PAY.JP code means different
/// things to a capture and to a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Authorize,
    Capture,
    Refund,
    Void,
    Fetch,
}

impl Op {
    fn not_allowed(self) -> Reason {
        match self {
            Op::Capture => Reason::CaptureNotAllowed,
            Op::Refund => Reason::RefundNotAllowed,
            Op::Void => Reason::VoidNotAllowed,
            Op::Authorize | Op::Fetch => Reason::ProviderRejected,
        }
    }
}

pub fn parse_problem(body: &[u8]) -> Problem {
    serde_json::from_slice(body).unwrap_or_default()
}

fn rejected(kind: RejectionKind, reason: Reason, code: &str, message: String) -> ProviderError {
    ProviderError::Rejected {
        provider: ProviderKind::Payjp,
        kind,
        reason,
        provider_code: code.to_owned(),
        message,
    }
}

/// Maps a non-2xx answer. A 402 on authorization is a decline, which the
/// adapter turns into a DECLINED order before calling this.
pub fn map_error(op: Op, status: StatusCode, problem: &Problem) -> ProviderError {
    let code = problem.code.as_deref().unwrap_or("");
    let message = describe(status, problem);
    match (status.as_u16(), code) {
        (401, _) | (403, "unauthorized") => ProviderError::CredentialsRejected {
            provider: ProviderKind::Payjp,
        },
        (429, _) => ProviderError::Throttled {
            provider: ProviderKind::Payjp,
            retry_after: None,
        },
        (500..=599, _) => ProviderError::OutcomeUnknown {
            provider: ProviderKind::Payjp,
            detail: message,
        },
        (404, _) => rejected(
            RejectionKind::NotFound,
            Reason::OrderNotFound,
            code_or(code, "not_found"),
            message,
        ),
        (422, _) => rejected(
            RejectionKind::InvalidArgument,
            Reason::InvalidArgument,
            code_or(code, "validation_error"),
            message,
        ),
        (400, "payment_flow_expired") => rejected(
            RejectionKind::Precondition,
            Reason::AuthorizationExpired,
            code,
            message,
        ),
        (400, "invalid_amount_to_capture") => rejected(
            RejectionKind::Precondition,
            Reason::PartialCaptureNotAllowed,
            code,
            message,
        ),
        (400, "refund_exceeds_payment" | "already_refunded") => rejected(
            RejectionKind::Precondition,
            Reason::AmountExceedsRefundable,
            code,
            message,
        ),
        (400, "invalid_status") => {
            rejected(RejectionKind::Precondition, op.not_allowed(), code, message)
        }
        (402, _) => rejected(
            RejectionKind::Precondition,
            Reason::ProviderRejected,
            code_or(code, "payment_failed"),
            message,
        ),
        (_, _) => rejected(
            RejectionKind::Precondition,
            Reason::ProviderRejected,
            code_or(code, status.as_str()),
            message,
        ),
    }
}

fn code_or<'a>(code: &'a str, fallback: &'a str) -> &'a str {
    if code.is_empty() { fallback } else { code }
}

fn describe(status: StatusCode, problem: &Problem) -> String {
    let mut text = problem
        .detail
        .clone()
        .or_else(|| problem.title.clone())
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    if !problem.errors.is_empty() {
        let fields: Vec<String> = problem
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        text.push_str(" (");
        text.push_str(&fields.join("; "));
        text.push(')');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> (StatusCode, Problem) {
        let path = format!("{}/tests/fixtures/payjp/{name}", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read(path).unwrap();
        let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let status = status["status"].as_u64().unwrap() as u16;
        (StatusCode::from_u16(status).unwrap(), parse_problem(&body))
    }

    fn reason_of(error: ProviderError) -> (RejectionKind, Reason) {
        match error {
            ProviderError::Rejected { kind, reason, .. } => (kind, reason),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn fixtures_map_by_code() {
        let cases = [
            (
                "error.400.payment_flow_expired.json",
                Op::Capture,
                RejectionKind::Precondition,
                Reason::AuthorizationExpired,
            ),
            (
                "error.400.invalid_status.json",
                Op::Capture,
                RejectionKind::Precondition,
                Reason::CaptureNotAllowed,
            ),
            (
                "error.400.invalid_status.json",
                Op::Void,
                RejectionKind::Precondition,
                Reason::VoidNotAllowed,
            ),
            (
                "error.400.refund_exceeds_payment.json",
                Op::Refund,
                RejectionKind::Precondition,
                Reason::AmountExceedsRefundable,
            ),
            (
                "error.404.not_found.json",
                Op::Capture,
                RejectionKind::NotFound,
                Reason::OrderNotFound,
            ),
            (
                "error.422.validation_error.json",
                Op::Authorize,
                RejectionKind::InvalidArgument,
                Reason::InvalidArgument,
            ),
            (
                "error.402.payment_failed.json",
                Op::Capture,
                RejectionKind::Precondition,
                Reason::ProviderRejected,
            ),
            (
                "error.409.idempotency_conflict.json",
                Op::Authorize,
                RejectionKind::Precondition,
                Reason::ProviderRejected,
            ),
        ];
        for (name, op, kind, reason) in cases {
            let (status, problem) = fixture(name);
            assert_eq!(
                reason_of(map_error(op, status, &problem)),
                (kind, reason),
                "{name}"
            );
        }
    }

    #[test]
    fn credentials_rate_limits_and_server_errors_are_not_rejections() {
        let (status, problem) = fixture("error.401.unauthorized.json");
        assert!(matches!(
            map_error(Op::Capture, status, &problem),
            ProviderError::CredentialsRejected { .. }
        ));
        let (status, problem) = fixture("error.429.rate_limit.json");
        assert!(matches!(
            map_error(Op::Capture, status, &problem),
            ProviderError::Throttled { .. }
        ));
        let error = map_error(Op::Capture, StatusCode::BAD_GATEWAY, &Problem::default());
        assert!(matches!(error, ProviderError::OutcomeUnknown { .. }));
    }

    #[test]
    fn validation_messages_name_the_fields() {
        let (status, problem) = fixture("error.422.validation_error.json");
        let ProviderError::Rejected { message, .. } = map_error(Op::Authorize, status, &problem)
        else {
            panic!("expected a rejection");
        };
        assert!(message.contains("amount: Field required"), "{message}");
    }

    #[test]
    fn an_unreadable_body_still_maps() {
        let problem = parse_problem(b"<html>bad gateway</html>");
        let error = map_error(Op::Refund, StatusCode::BAD_REQUEST, &problem);
        assert_eq!(reason_of(error).1, Reason::ProviderRejected);
    }
}
