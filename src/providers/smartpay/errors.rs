//! Smartpay errors → kessai's two-tier model, by `errorCode` (not by HTTP
//! status alone: a 403 `amount.insufficient` is a refund beyond what is
//! left, not a permission problem).

use reqwest::StatusCode;

use super::wire::ApiError;
use crate::domain::{ProviderKind, Reason};
use crate::providers::{ProviderError, RejectionKind};

pub fn parse_error(body: &[u8]) -> ApiError {
    serde_json::from_slice(body).unwrap_or_default()
}

fn rejected(kind: RejectionKind, reason: Reason, code: &str, message: String) -> ProviderError {
    ProviderError::Rejected {
        provider: ProviderKind::Smartpay,
        kind,
        reason,
        provider_code: code.to_owned(),
        message,
    }
}

pub fn map_error(status: StatusCode, error: &ApiError) -> ProviderError {
    let code = error.error_code.as_deref().unwrap_or("");
    let message = error
        .message
        .clone()
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    match (status.as_u16(), code) {
        (401, _) => ProviderError::CredentialsRejected {
            provider: ProviderKind::Smartpay,
        },
        (429, _) => ProviderError::Throttled {
            provider: ProviderKind::Smartpay,
            retry_after: None,
        },
        (500..=599, _) => ProviderError::OutcomeUnknown {
            provider: ProviderKind::Smartpay,
            detail: message,
        },
        (_, "order.cannot-capture") => rejected(
            RejectionKind::Precondition,
            Reason::CaptureNotAllowed,
            code,
            message,
        ),
        (_, "payment.excessive-amount") => rejected(
            RejectionKind::Precondition,
            Reason::AmountExceedsCapturable,
            code,
            message,
        ),
        (_, "order.cannot-cancel") => rejected(
            RejectionKind::Precondition,
            Reason::VoidNotAllowed,
            code,
            message,
        ),
        (_, "amount.insufficient") => rejected(
            RejectionKind::Precondition,
            Reason::AmountExceedsRefundable,
            code,
            message,
        ),
        (404, _) => rejected(
            RejectionKind::NotFound,
            Reason::OrderNotFound,
            if code.is_empty() { "not-found" } else { code },
            message,
        ),
        (400 | 422, _) => rejected(
            RejectionKind::InvalidArgument,
            Reason::InvalidArgument,
            if code.is_empty() {
                "request.invalid"
            } else {
                code
            },
            message,
        ),
        (_, _) => rejected(
            RejectionKind::Precondition,
            Reason::ProviderRejected,
            if code.is_empty() {
                status.as_str()
            } else {
                code
            },
            message,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> (StatusCode, ApiError) {
        let path = format!(
            "{}/tests/fixtures/smartpay/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read(path).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let status = StatusCode::from_u16(json["statusCode"].as_u64().unwrap() as u16).unwrap();
        (status, parse_error(&body))
    }

    fn reason_of(error: ProviderError) -> (RejectionKind, Reason) {
        match error {
            ProviderError::Rejected { kind, reason, .. } => (kind, reason),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn fixtures_map_by_error_code() {
        for (name, kind, reason) in [
            (
                "error.409.order.cannot-capture.json",
                RejectionKind::Precondition,
                Reason::CaptureNotAllowed,
            ),
            (
                "error.409.payment.excessive-amount.json",
                RejectionKind::Precondition,
                Reason::AmountExceedsCapturable,
            ),
            (
                "error.409.order.cannot-cancel.json",
                RejectionKind::Precondition,
                Reason::VoidNotAllowed,
            ),
            (
                "error.403.amount.insufficient.json",
                RejectionKind::Precondition,
                Reason::AmountExceedsRefundable,
            ),
            (
                "error.404.order.not-found.json",
                RejectionKind::NotFound,
                Reason::OrderNotFound,
            ),
        ] {
            let (status, error) = fixture(name);
            assert_eq!(
                reason_of(map_error(status, &error)),
                (kind, reason),
                "{name}"
            );
        }
    }

    #[test]
    fn a_bad_key_is_kessais_credentials_not_the_callers() {
        let (status, error) = fixture("error.401.json");
        assert!(matches!(
            map_error(status, &error),
            ProviderError::CredentialsRejected { .. }
        ));
    }

    #[test]
    fn an_undocumented_body_still_maps() {
        let error = parse_error(b"gateway exploded");
        assert!(matches!(
            map_error(StatusCode::BAD_GATEWAY, &error),
            ProviderError::OutcomeUnknown { .. }
        ));
        assert_eq!(
            reason_of(map_error(StatusCode::CONFLICT, &error)).1,
            Reason::ProviderRejected
        );
    }
}
