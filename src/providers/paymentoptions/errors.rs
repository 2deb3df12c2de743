//! PaymentOptions failures → kessai's two-tier model, by HTTP status and the
//! acquirer's `payment_details.response_code` together. Failure bodies are
//! undocumented, so anything unreadable still maps to a clear error.

use reqwest::StatusCode;

use super::wire::Envelope;
use crate::domain::{ProviderKind, Reason};
use crate::providers::{ProviderError, RejectionKind};

/// Which call the failure answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Authorize,
    Capture,
    Refund,
    Void,
    Status,
}

/// kessai's `failure.code` for an acquirer decline (providers.md's table).
pub fn decline_code(response_code: i64) -> &'static str {
    match response_code {
        5 => "CARD_DECLINED",
        13 => "INVALID_AMOUNT",
        51 => "INSUFFICIENT_FUNDS",
        54 | 605 => "CARD_EXPIRED",
        _ => "CARD_DECLINED",
    }
}

fn rejected(kind: RejectionKind, reason: Reason, code: String, message: String) -> ProviderError {
    ProviderError::Rejected {
        provider: ProviderKind::PaymentOptions,
        kind,
        reason,
        provider_code: code,
        message,
    }
}

pub fn map_failure(op: Op, status: StatusCode, envelope: &Envelope) -> ProviderError {
    let message = envelope
        .explanation()
        .unwrap_or_else(|| format!("PaymentOptions answered HTTP {}", status.as_u16()));
    let response_code = envelope.response_code();
    let code = response_code
        .map(|c| c.to_string())
        .or_else(|| envelope.gateway_code().map(str::to_owned))
        .unwrap_or_else(|| status.as_u16().to_string());
    let not_allowed = match op {
        Op::Capture => Reason::CaptureNotAllowed,
        Op::Refund => Reason::RefundNotAllowed,
        Op::Void => Reason::VoidNotAllowed,
        Op::Authorize | Op::Status => Reason::ProviderRejected,
    };
    match (status.as_u16(), response_code) {
        (401 | 403, _) => ProviderError::CredentialsRejected {
            provider: ProviderKind::PaymentOptions,
        },
        (429, _) => ProviderError::Throttled {
            provider: ProviderKind::PaymentOptions,
            retry_after: None,
        },
        (500..=599, _) => ProviderError::OutcomeUnknown {
            provider: ProviderKind::PaymentOptions,
            detail: message,
        },
        (404, _) => rejected(
            RejectionKind::NotFound,
            Reason::OrderNotFound,
            code,
            message,
        ),
        (406, _) => rejected(
            RejectionKind::InvalidArgument,
            Reason::InvalidCard,
            code,
            message,
        ),
        (_, Some(836)) => rejected(
            RejectionKind::Precondition,
            Reason::AmountExceedsCapturable,
            code,
            message,
        ),
        (_, Some(13)) if op == Op::Refund => rejected(
            RejectionKind::Precondition,
            Reason::AmountExceedsRefundable,
            code,
            message,
        ),
        (_, Some(84)) => rejected(RejectionKind::Precondition, not_allowed, code, message),
        (400, _) => rejected(
            RejectionKind::InvalidArgument,
            Reason::InvalidArgument,
            code,
            message,
        ),
        (412, _) => rejected(RejectionKind::Precondition, not_allowed, code, message),
        (_, _) => rejected(
            RejectionKind::Precondition,
            Reason::ProviderRejected,
            code,
            message,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(json: &str) -> Envelope {
        serde_json::from_str(json).unwrap_or_default()
    }

    fn reason_of(error: ProviderError) -> (RejectionKind, Reason, String) {
        match error {
            ProviderError::Rejected {
                kind,
                reason,
                provider_code,
                ..
            } => (kind, reason, provider_code),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn acquirer_codes_decide_the_reason() {
        let over = envelope(r#"{"success":false,"payment_details":{"response_code":836}}"#);
        assert_eq!(
            reason_of(map_failure(
                Op::Capture,
                StatusCode::PRECONDITION_FAILED,
                &over
            )),
            (
                RejectionKind::Precondition,
                Reason::AmountExceedsCapturable,
                "836".into()
            )
        );
        let twice = envelope(r#"{"success":false,"payment_details":{"response_code":"84"}}"#);
        assert_eq!(
            reason_of(map_failure(
                Op::Capture,
                StatusCode::PRECONDITION_FAILED,
                &twice
            ))
            .1,
            Reason::CaptureNotAllowed
        );
        assert_eq!(
            reason_of(map_failure(
                Op::Void,
                StatusCode::PRECONDITION_FAILED,
                &twice
            ))
            .1,
            Reason::VoidNotAllowed
        );
        let amount = envelope(r#"{"payment_details":{"response_code":13}}"#);
        assert_eq!(
            reason_of(map_failure(
                Op::Refund,
                StatusCode::PRECONDITION_FAILED,
                &amount
            ))
            .1,
            Reason::AmountExceedsRefundable
        );
    }

    #[test]
    fn statuses_without_a_body_still_map() {
        let empty = Envelope::default();
        assert!(matches!(
            map_failure(Op::Capture, StatusCode::UNAUTHORIZED, &empty),
            ProviderError::CredentialsRejected { .. }
        ));
        assert!(matches!(
            map_failure(Op::Capture, StatusCode::BAD_GATEWAY, &empty),
            ProviderError::OutcomeUnknown { .. }
        ));
        assert!(matches!(
            map_failure(Op::Capture, StatusCode::GATEWAY_TIMEOUT, &empty),
            ProviderError::OutcomeUnknown { .. }
        ));
        let (kind, reason, code) = reason_of(map_failure(
            Op::Authorize,
            StatusCode::NOT_ACCEPTABLE,
            &empty,
        ));
        assert_eq!(
            (kind, reason, code.as_str()),
            (RejectionKind::InvalidArgument, Reason::InvalidCard, "406")
        );
        assert_eq!(
            reason_of(map_failure(Op::Capture, StatusCode::NOT_FOUND, &empty)).1,
            Reason::OrderNotFound
        );
    }

    #[test]
    fn the_message_comes_from_the_gateway_then_message_then_error() {
        let body = envelope(
            r#"{"gateway_response":{"message":"Do not honour"},"message":"x","error":"y"}"#,
        );
        let ProviderError::Rejected { message, .. } =
            map_failure(Op::Capture, StatusCode::BAD_REQUEST, &body)
        else {
            panic!("a rejection");
        };
        assert_eq!(message, "Do not honour");
    }

    #[test]
    fn decline_codes_name_the_reason() {
        assert_eq!(decline_code(5), "CARD_DECLINED");
        assert_eq!(decline_code(51), "INSUFFICIENT_FUNDS");
        assert_eq!(decline_code(54), "CARD_EXPIRED");
        assert_eq!(decline_code(605), "CARD_EXPIRED");
    }
}
