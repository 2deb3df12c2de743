//! The use cases' error: everything a caller can be told. It is plain data
//! (no sources), so the first outcome of an idempotent call can be stored and
//! replayed exactly.

use serde::{Deserialize, Serialize};

use crate::domain::{InvalidInput, ProviderKind, Reason, RuleViolation};
use crate::providers::{ProviderError, RejectionKind};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum PaymentError {
    /// Malformed input (INVALID_ARGUMENT).
    #[error("{0}")]
    Invalid(InvalidInput),
    #[error("order {order_id} not found")]
    OrderNotFound { order_id: String },
    /// The order's state forbids it (FAILED_PRECONDITION).
    #[error("{0}")]
    Refused(RuleViolation),
    #[error("the idempotency key was used with different parameters")]
    KeyReused,
    #[error("a call with this idempotency key is in progress")]
    KeyInUse,
    #[error("{provider} is not configured")]
    ProviderNotConfigured { provider: ProviderKind },
    /// Nothing reached the provider: retrying with the same key is safe.
    #[error("{provider} could not be reached: {detail}")]
    ProviderUnavailable {
        provider: ProviderKind,
        detail: String,
        retry_after_ms: Option<u64>,
        order_id: Option<String>,
    },
    /// The provider may have acted; the order is PENDING until reconciled.
    #[error("{provider} did not answer in time; the outcome is unknown")]
    OutcomeUnknown {
        provider: ProviderKind,
        order_id: String,
    },
    /// The outcome is unknown and only a person can settle it (the
    /// provider cannot be asked); the order is flagged `needs_review`.
    #[error("{provider} cannot be asked what became of this call; the order waits for review")]
    NeedsReview {
        provider: ProviderKind,
        order_id: String,
    },
    #[error("{provider} rejected kessai's credentials")]
    ProviderCredentialsRejected { provider: ProviderKind },
    /// The provider understood and refused.
    #[error("{provider} refused ({provider_code}): {message}")]
    ProviderRejected {
        provider: ProviderKind,
        kind: RejectionKindData,
        reason: Reason,
        provider_code: String,
        message: String,
        order_id: Option<String>,
        /// The request field the refusal is about, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
    },
    #[error("the database is unavailable")]
    DatabaseUnavailable,
    /// This replica already runs as many money operations as it admits;
    /// nothing was recorded or sent, so a retry (any replica) is safe.
    #[error("kessai is running as many payment operations as it admits; retry shortly")]
    Overloaded { retry_after_ms: u64 },
    /// As many event streams are open as the cap allows; one must end first.
    #[error("{max} event streams are open for this {limit}; close one or watch on another replica")]
    TooManyStreams {
        limit: super::StreamLimit,
        max: usize,
    },
    /// A bug or an unexpected state. Details are logged, not returned.
    #[error("internal error")]
    Internal,
}

/// [`RejectionKind`] as stored data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionKindData {
    InvalidArgument,
    Precondition,
    NotFound,
}

impl From<RejectionKind> for RejectionKindData {
    fn from(kind: RejectionKind) -> Self {
        match kind {
            RejectionKind::InvalidArgument => RejectionKindData::InvalidArgument,
            RejectionKind::Precondition => RejectionKindData::Precondition,
            RejectionKind::NotFound => RejectionKindData::NotFound,
        }
    }
}

impl From<InvalidInput> for PaymentError {
    fn from(e: InvalidInput) -> Self {
        PaymentError::Invalid(e)
    }
}

impl From<RuleViolation> for PaymentError {
    fn from(e: RuleViolation) -> Self {
        PaymentError::Refused(e)
    }
}

impl From<crate::domain::decide::Refusal> for PaymentError {
    fn from(e: crate::domain::decide::Refusal) -> Self {
        match e {
            crate::domain::decide::Refusal::Invalid(e) => PaymentError::Invalid(e),
            crate::domain::decide::Refusal::Rule(e) => PaymentError::Refused(e),
        }
    }
}

impl From<StoreError> for PaymentError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::error!(%detail, "database unavailable");
                PaymentError::DatabaseUnavailable
            }
            StoreError::InvariantViolated(detail) => {
                // The domain checks first, so reaching here is a bug; the
                // database kept the books right regardless.
                tracing::error!(%detail, "database refused a write that would break an invariant");
                PaymentError::Refused(RuleViolation::new(
                    Reason::OperationInProgress,
                    "the order changed while the request was decided; retry",
                ))
            }
            // Authorize answers a taken key itself; anywhere else it is the
            // key in use.
            StoreError::KeyTaken => PaymentError::KeyInUse,
            StoreError::Conflict => PaymentError::Refused(RuleViolation::new(
                Reason::OperationInProgress,
                "the order changed while the request was decided; retry",
            )),
            StoreError::Corrupt(detail) | StoreError::Database(detail) => {
                tracing::error!(%detail, "database error");
                PaymentError::Internal
            }
        }
    }
}

impl PaymentError {
    /// Maps a provider failure for an order (whose id goes into the error
    /// where the caller needs it to follow up).
    pub fn from_provider(error: ProviderError, order_id: &str) -> Self {
        match error {
            ProviderError::Unreachable { provider, detail } => PaymentError::ProviderUnavailable {
                provider,
                detail,
                retry_after_ms: None,
                order_id: Some(order_id.to_owned()),
            },
            ProviderError::Throttled {
                provider,
                retry_after,
            } => PaymentError::ProviderUnavailable {
                provider,
                detail: "rate limited".into(),
                retry_after_ms: retry_after.map(|d| d.as_millis() as u64),
                order_id: Some(order_id.to_owned()),
            },
            ProviderError::OutcomeUnknown { provider, detail } => {
                // Told once per call where its state is decided
                // (`payments::tell_unknown`); the detail stays in the
                // call's record.
                tracing::debug!(%provider, order_id, %detail, "provider outcome unknown");
                PaymentError::OutcomeUnknown {
                    provider,
                    order_id: order_id.to_owned(),
                }
            }
            ProviderError::CredentialsRejected { provider } => {
                tracing::error!(%provider, "provider rejected kessai's credentials");
                PaymentError::ProviderCredentialsRejected { provider }
            }
            ProviderError::Rejected {
                provider,
                kind,
                reason,
                provider_code,
                message,
            } => match kind {
                // `NOT_FOUND` means only that kessai has no such order. A
                // provider that no longer knows an order kessai has is a
                // discrepancy a person looks at (the order is flagged).
                RejectionKind::NotFound => PaymentError::ProviderRejected {
                    provider,
                    kind: RejectionKindData::Precondition,
                    reason: Reason::ProviderOrderNotFound,
                    provider_code,
                    message,
                    order_id: Some(order_id.to_owned()),
                    field: None,
                },
                RejectionKind::InvalidArgument | RejectionKind::Precondition => {
                    PaymentError::ProviderRejected {
                        provider,
                        kind: kind.into(),
                        reason,
                        provider_code,
                        message,
                        order_id: Some(order_id.to_owned()),
                        field: None,
                    }
                }
            },
        }
    }

    /// A provider error answering an authorization: the provider not
    /// knowing what it was given (a mistyped payment method or token) is
    /// the caller's bad input, named by its field.
    pub fn from_provider_authorizing(
        error: ProviderError,
        order_id: &str,
        field: &'static str,
    ) -> Self {
        match error {
            ProviderError::Rejected {
                provider,
                kind: RejectionKind::NotFound,
                provider_code,
                message,
                ..
            } => PaymentError::ProviderRejected {
                provider,
                kind: RejectionKindData::InvalidArgument,
                reason: Reason::PaymentMethodNotFound,
                provider_code,
                message,
                order_id: Some(order_id.to_owned()),
                field: Some(field.to_owned()),
            },
            other => Self::from_provider(other, order_id),
        }
    }
}
