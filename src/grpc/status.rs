//! The one mapping from the use cases' errors to gRPC statuses. Exhaustive:
//! a new error variant does not compile until it is mapped here.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::Reason;
use crate::payments::{PaymentError, RejectionKindData};

pub const DOMAIN: &str = "kessai.v1";

fn info(details: &mut ErrorDetails, reason: Reason, metadata: &[(&str, Option<&str>)]) {
    let metadata: HashMap<String, String> = metadata
        .iter()
        .filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), v.to_owned())))
        .collect();
    details.set_error_info(reason.as_str(), DOMAIN, metadata);
}

impl From<PaymentError> for Status {
    fn from(error: PaymentError) -> Self {
        let message = error.to_string();
        let mut details = ErrorDetails::new();
        let code = match &error {
            PaymentError::Invalid(invalid) => {
                info(&mut details, invalid.reason, &[]);
                for v in &invalid.violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                Code::InvalidArgument
            }
            PaymentError::OrderNotFound { order_id } => {
                info(
                    &mut details,
                    Reason::OrderNotFound,
                    &[("order_id", Some(order_id))],
                );
                Code::NotFound
            }
            // Another call on the order was deciding: the same request
            // succeeds or gets its real answer when retried.
            PaymentError::Refused(violation) if violation.reason == Reason::OperationInProgress => {
                info(&mut details, violation.reason, &[]);
                details.set_retry_info(Some(std::time::Duration::from_secs(1)));
                Code::Aborted
            }
            PaymentError::Refused(violation) => {
                info(&mut details, violation.reason, &[]);
                details.add_precondition_failure_violation(
                    violation.reason.as_str(),
                    "order",
                    violation.message.clone(),
                );
                Code::FailedPrecondition
            }
            PaymentError::KeyReused => {
                info(&mut details, Reason::IdempotencyKeyReused, &[]);
                Code::AlreadyExists
            }
            PaymentError::KeyInUse => {
                info(&mut details, Reason::IdempotencyKeyInUse, &[]);
                details.set_retry_info(Some(std::time::Duration::from_secs(1)));
                Code::Aborted
            }
            PaymentError::ProviderNotConfigured { provider } => {
                info(
                    &mut details,
                    Reason::ProviderNotConfigured,
                    &[("provider", Some(provider.as_str()))],
                );
                Code::FailedPrecondition
            }
            PaymentError::ProviderUnavailable {
                provider,
                retry_after_ms,
                order_id,
                ..
            } => {
                info(
                    &mut details,
                    Reason::ProviderUnavailable,
                    &[
                        ("provider", Some(provider.as_str())),
                        ("order_id", order_id.as_deref()),
                    ],
                );
                let delay = retry_after_ms.map_or(
                    std::time::Duration::from_secs(1),
                    std::time::Duration::from_millis,
                );
                details.set_retry_info(Some(delay));
                Code::Unavailable
            }
            PaymentError::OutcomeUnknown { provider, order_id } => {
                info(
                    &mut details,
                    Reason::OutcomeUnknown,
                    &[
                        ("provider", Some(provider.as_str())),
                        ("order_id", Some(order_id)),
                    ],
                );
                Code::DeadlineExceeded
            }
            PaymentError::NeedsReview { provider, order_id } => {
                info(
                    &mut details,
                    Reason::NeedsReview,
                    &[
                        ("provider", Some(provider.as_str())),
                        ("order_id", Some(order_id)),
                    ],
                );
                details.add_precondition_failure_violation(
                    "NEEDS_REVIEW",
                    format!("order/{order_id}"),
                    "the order is flagged for review: settle it at the provider's dashboard, then `kessai reconcile`",
                );
                Code::FailedPrecondition
            }
            PaymentError::ProviderCredentialsRejected { provider } => {
                info(
                    &mut details,
                    Reason::ProviderCredentialsRejected,
                    &[("provider", Some(provider.as_str()))],
                );
                Code::Internal
            }
            PaymentError::ProviderRejected {
                provider,
                kind,
                reason,
                provider_code,
                message,
                order_id,
                field,
            } => {
                info(
                    &mut details,
                    *reason,
                    &[
                        ("provider", Some(provider.as_str())),
                        ("provider_code", Some(provider_code)),
                        ("order_id", order_id.as_deref()),
                        ("field", field.as_deref()),
                    ],
                );
                match kind {
                    RejectionKindData::InvalidArgument => {
                        details.add_bad_request_violation(
                            field.as_deref().unwrap_or("provider_details"),
                            message.clone(),
                        );
                        Code::InvalidArgument
                    }
                    RejectionKindData::Precondition => {
                        details.add_precondition_failure_violation(
                            reason.as_str(),
                            "order",
                            message.clone(),
                        );
                        Code::FailedPrecondition
                    }
                    RejectionKindData::NotFound => Code::NotFound,
                }
            }
            PaymentError::DatabaseUnavailable => {
                info(&mut details, Reason::DatabaseUnavailable, &[]);
                details.set_retry_info(Some(std::time::Duration::from_secs(1)));
                Code::Unavailable
            }
            PaymentError::Overloaded { retry_after_ms } => {
                info(&mut details, Reason::Overloaded, &[]);
                details.set_retry_info(Some(std::time::Duration::from_millis(*retry_after_ms)));
                Code::ResourceExhausted
            }
            PaymentError::TooManyStreams { limit, max } => {
                info(
                    &mut details,
                    Reason::TooManyStreams,
                    &[
                        ("limit", Some(limit.as_str())),
                        ("max", Some(&max.to_string())),
                    ],
                );
                Code::ResourceExhausted
            }
            PaymentError::Internal => {
                info(&mut details, Reason::Internal, &[]);
                Code::Internal
            }
        };
        Status::with_error_details(code, message, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InvalidInput, ProviderKind, RuleViolation};

    fn reason(status: &Status) -> String {
        status.get_details_error_info().expect("ErrorInfo").reason
    }

    #[test]
    fn every_error_carries_error_info_in_the_kessai_domain() {
        let errors = [
            PaymentError::Invalid(InvalidInput::new(
                Reason::InvalidAmount,
                "amount",
                "must be positive",
            )),
            PaymentError::OrderNotFound {
                order_id: "ord_x".into(),
            },
            PaymentError::Refused(RuleViolation::new(
                Reason::AmountExceedsCapturable,
                "too much",
            )),
            PaymentError::Refused(RuleViolation::new(
                Reason::OperationInProgress,
                "the order changed while the request was decided; retry",
            )),
            PaymentError::KeyReused,
            PaymentError::KeyInUse,
            PaymentError::ProviderNotConfigured {
                provider: ProviderKind::Smartpay,
            },
            PaymentError::ProviderUnavailable {
                provider: ProviderKind::Payjp,
                detail: "refused".into(),
                retry_after_ms: None,
                order_id: None,
            },
            PaymentError::OutcomeUnknown {
                provider: ProviderKind::Payjp,
                order_id: "ord_y".into(),
            },
            PaymentError::NeedsReview {
                provider: ProviderKind::PaymentOptions,
                order_id: "ord_z".into(),
            },
            PaymentError::ProviderCredentialsRejected {
                provider: ProviderKind::Payjp,
            },
            PaymentError::DatabaseUnavailable,
            PaymentError::Overloaded {
                retry_after_ms: 250,
            },
            PaymentError::TooManyStreams {
                limit: crate::payments::StreamLimit::Caller,
                max: 1_000,
            },
            PaymentError::Internal,
        ];
        let expected = [
            (Code::InvalidArgument, "INVALID_AMOUNT"),
            (Code::NotFound, "ORDER_NOT_FOUND"),
            (Code::FailedPrecondition, "AMOUNT_EXCEEDS_CAPTURABLE"),
            (Code::Aborted, "OPERATION_IN_PROGRESS"),
            (Code::AlreadyExists, "IDEMPOTENCY_KEY_REUSED"),
            (Code::Aborted, "IDEMPOTENCY_KEY_IN_USE"),
            (Code::FailedPrecondition, "PROVIDER_NOT_CONFIGURED"),
            (Code::Unavailable, "PROVIDER_UNAVAILABLE"),
            (Code::DeadlineExceeded, "OUTCOME_UNKNOWN"),
            (Code::FailedPrecondition, "NEEDS_REVIEW"),
            (Code::Internal, "PROVIDER_CREDENTIALS_REJECTED"),
            (Code::Unavailable, "DATABASE_UNAVAILABLE"),
            (Code::ResourceExhausted, "OVERLOADED"),
            (Code::ResourceExhausted, "TOO_MANY_STREAMS"),
            (Code::Internal, "INTERNAL"),
        ];
        for (error, (code, r)) in errors.into_iter().zip(expected) {
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            assert_eq!(reason(&status), r);
            assert_eq!(status.get_details_error_info().unwrap().domain, DOMAIN);
        }
    }

    #[test]
    fn retryable_answers_say_when_to_retry() {
        for error in [
            PaymentError::KeyInUse,
            PaymentError::Refused(RuleViolation::new(Reason::OperationInProgress, "retry")),
            PaymentError::Overloaded {
                retry_after_ms: 250,
            },
        ] {
            let status = Status::from(error);
            assert!(
                matches!(status.code(), Code::Aborted | Code::ResourceExhausted),
                "{status:?}"
            );
            assert!(status.get_details_retry_info().is_some(), "{status:?}");
        }
    }

    #[test]
    fn an_unknown_outcome_names_the_order() {
        let status = Status::from(PaymentError::OutcomeUnknown {
            provider: ProviderKind::Payjp,
            order_id: "ord_01ABC".into(),
        });
        let info = status.get_details_error_info().unwrap();
        assert_eq!(
            info.metadata.get("order_id").map(String::as_str),
            Some("ord_01ABC")
        );
    }

    #[test]
    fn invalid_input_lists_field_violations() {
        let status = Status::from(PaymentError::Invalid(InvalidInput::new(
            Reason::InvalidCurrency,
            "currency",
            "unknown",
        )));
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "currency");
    }
}
