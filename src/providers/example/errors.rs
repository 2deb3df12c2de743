//! The example provider's errors → kessai's error model, by status and code
//! together.

use reqwest::StatusCode;

use super::wire::ErrorBody;
use crate::domain::{ProviderKind, Reason};
use crate::providers::{ProviderError, RejectionKind};

pub fn parse_error(body: &[u8]) -> ErrorBody {
    serde_json::from_slice(body).unwrap_or_default()
}

/// Maps a non-2xx answer; `not_allowed` is what a refusal for the charge's
/// state means to the call that got it. A 402 on Authorize is a decline,
/// which the adapter reads before calling this.
pub fn map_error(not_allowed: Reason, status: StatusCode, body: &ErrorBody) -> ProviderError {
    use RejectionKind::{InvalidArgument, NotFound, Precondition};
    let provider = ProviderKind::Example;
    let code = body.error.code.as_str();
    let message = format!("example provider answered {status}: {}", body.error.message);
    let (kind, reason) = match (status.as_u16(), code) {
        (401, _) => return ProviderError::CredentialsRejected { provider },
        (429, _) => {
            return ProviderError::Throttled {
                provider,
                retry_after: None,
            };
        }
        (500..=599, _) => {
            return ProviderError::OutcomeUnknown {
                provider,
                detail: message,
            };
        }
        (404, "token_not_found") => (NotFound, Reason::PaymentMethodNotFound),
        (404, _) => (NotFound, Reason::OrderNotFound),
        (409, "charge_expired") => (Precondition, Reason::AuthorizationExpired),
        (409, "amount_exceeds_capturable") => (Precondition, Reason::AmountExceedsCapturable),
        (409, "amount_exceeds_refundable") => (Precondition, Reason::AmountExceedsRefundable),
        // kessai derives one key per call: a conflict is kessai's own bug.
        (409, "idempotency_conflict") => (InvalidArgument, Reason::ProviderRejected),
        (409, _) => (Precondition, not_allowed),
        (400, _) => (InvalidArgument, Reason::InvalidArgument),
        (_, _) => (Precondition, Reason::ProviderRejected),
    };
    ProviderError::Rejected {
        provider,
        kind,
        reason,
        provider_code: if code.is_empty() {
            status.as_str()
        } else {
            code
        }
        .to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(op: Reason, status: u16, body: &str) -> ProviderError {
        let status = StatusCode::from_u16(status).unwrap();
        map_error(op, status, &parse_error(body.as_bytes()))
    }

    fn reason(error: ProviderError) -> Option<Reason> {
        match error {
            ProviderError::Rejected { reason, .. } => Some(reason),
            ProviderError::Unreachable { .. }
            | ProviderError::Throttled { .. }
            | ProviderError::OutcomeUnknown { .. }
            | ProviderError::CredentialsRejected { .. } => None,
        }
    }

    #[test]
    fn codes_map_by_status_and_call() {
        let state = r#"{"error":{"code":"invalid_state","message":"voided"}}"#;
        assert_eq!(
            reason(map(Reason::CaptureNotAllowed, 409, state)),
            Some(Reason::CaptureNotAllowed)
        );
        assert_eq!(
            reason(map(Reason::VoidNotAllowed, 409, state)),
            Some(Reason::VoidNotAllowed)
        );
        let over = r#"{"error":{"code":"amount_exceeds_refundable","message":"no"}}"#;
        assert_eq!(
            reason(map(Reason::RefundNotAllowed, 409, over)),
            Some(Reason::AmountExceedsRefundable)
        );
        assert!(matches!(
            map(Reason::CaptureNotAllowed, 503, "not json"),
            ProviderError::OutcomeUnknown { .. }
        ));
        assert!(matches!(
            map(Reason::ProviderRejected, 401, "{}"),
            ProviderError::CredentialsRejected { .. }
        ));
    }
}
