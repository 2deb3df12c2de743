//! PAY.JP problem+json → kessai's two-tier error model, by HTTP status and
//! what the problem names together (never by status alone): the SDK's
//! `ErrorResponse` has no `code`, so the name comes from `type`, then a
//! `code` if one is sent, then `title` ([`Problem::name`]), and `errors[]`
//! marks a request PAY.JP found invalid.

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
    let name = problem.name().unwrap_or_default();
    let code = name.as_str();
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
        // Any other 400 that names the fields at fault is a bad request.
        (400, _) if !problem.errors.is_empty() => rejected(
            RejectionKind::InvalidArgument,
            Reason::InvalidArgument,
            code_or(code, "invalid_request"),
            message,
        ),
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

    /// The SDK's shape: no `code`, the problem named by `type` alone, and
    /// the simulator's every `type`.
    #[test]
    fn spec_problems_without_a_code_map_as_the_docs_ones_do() {
        let spec = |status: u16, slug: &str| {
            let body = format!(
                r#"{{"type":"https://docs.pay.jp/v2/errors/{slug}","title":"T","status":{status},"detail":"d","instance":"/v2/x"}}"#
            );
            (
                StatusCode::from_u16(status).unwrap(),
                parse_problem(body.as_bytes()),
            )
        };
        let cases = [
            (
                400,
                "payment-flow-expired",
                Op::Capture,
                Reason::AuthorizationExpired,
            ),
            (
                400,
                "invalid-status",
                Op::Capture,
                Reason::CaptureNotAllowed,
            ),
            (400, "invalid-status", Op::Refund, Reason::RefundNotAllowed),
            (400, "invalid-status", Op::Void, Reason::VoidNotAllowed),
            (
                400,
                "refund-exceeds-payment",
                Op::Refund,
                Reason::AmountExceedsRefundable,
            ),
            (
                400,
                "invalid-amount-to-capture",
                Op::Capture,
                Reason::PartialCaptureNotAllowed,
            ),
            (
                400,
                "idempotency-conflict",
                Op::Authorize,
                Reason::ProviderRejected,
            ),
            (
                400,
                "invalid-payment-method",
                Op::Authorize,
                Reason::ProviderRejected,
            ),
            (402, "payment-failed", Op::Capture, Reason::ProviderRejected),
            (
                422,
                "validation-error",
                Op::Authorize,
                Reason::InvalidArgument,
            ),
        ];
        for (status, slug, op, reason) in cases {
            let (status, problem) = spec(status, slug);
            let error = map_error(op, status, &problem);
            let ProviderError::Rejected {
                reason: got,
                provider_code,
                ..
            } = &error
            else {
                panic!("{slug}: expected a rejection, got {error:?}");
            };
            assert_eq!(*got, reason, "{slug}");
            assert_eq!(*provider_code, slug.replace('-', "_"), "{slug}");
        }
        // A code that disagrees with the type loses: the type is the spec's.
        let problem = parse_problem(
            br#"{"type":"https://docs.pay.jp/v2/errors/payment-flow-expired","code":"invalid_status","title":"T","status":400}"#,
        );
        let (_, reason) = reason_of(map_error(Op::Capture, StatusCode::BAD_REQUEST, &problem));
        assert_eq!(reason, Reason::AuthorizationExpired);
        // A 400 naming the fields at fault is the caller's mistake.
        let problem = parse_problem(
            br#"{"type":"https://docs.pay.jp/v2/errors/bad-request","title":"Bad Request","status":400,"errors":[{"field":"customer_id","message":"required"}]}"#,
        );
        let (kind, reason) = reason_of(map_error(Op::Authorize, StatusCode::BAD_REQUEST, &problem));
        assert_eq!(
            (kind, reason),
            (RejectionKind::InvalidArgument, Reason::InvalidArgument)
        );
    }

    #[test]
    fn an_unreadable_body_still_maps() {
        let problem = parse_problem(b"<html>bad gateway</html>");
        let error = map_error(Op::Refund, StatusCode::BAD_REQUEST, &problem);
        assert_eq!(reason_of(error).1, Reason::ProviderRejected);
    }
}
