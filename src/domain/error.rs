//! Why the service refuses something: machine-readable reasons shared by every
//! layer, and the domain's own refusal.

use std::fmt;

/// The `ErrorInfo.reason` values of the contract (UPPER_SNAKE on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    InvalidArgument,
    InvalidAmount,
    /// The amount is not what the lines it is made of add up to.
    AmountMismatch,
    InvalidCurrency,
    InvalidIdempotencyKey,
    InvalidCard,
    InvalidOrderId,
    InvalidPageToken,
    InvalidCursor,
    MissingProviderDetails,
    ProviderNotConfigured,
    OrderNotFound,
    PaymentMethodNotFound,
    ProviderOrderNotFound,
    AmountExceedsCapturable,
    PartialCaptureNotAllowed,
    CaptureNotAllowed,
    AuthorizationExpired,
    AmountExceedsRefundable,
    RefundNotAllowed,
    VoidNotAllowed,
    OperationInProgress,
    IdempotencyKeyReused,
    IdempotencyKeyInUse,
    ProviderUnavailable,
    OutcomeUnknown,
    ProviderRejected,
    ProviderCredentialsRejected,
    DatabaseUnavailable,
    MissingCredentials,
    InvalidCredentials,
    MissingScope,
    RateLimited,
    /// This replica runs as many money operations as it admits.
    Overloaded,
    /// As many event streams are open as this caller or replica may have.
    TooManyStreams,
    MetadataTooLarge,
    /// Only a person can settle the call's outcome now.
    NeedsReview,
    /// A request message over `KESSAI_MAX_MESSAGE_BYTES`.
    MessageTooLarge,
    Internal,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidArgument => "INVALID_ARGUMENT",
            Reason::InvalidAmount => "INVALID_AMOUNT",
            Reason::AmountMismatch => "AMOUNT_MISMATCH",
            Reason::InvalidCurrency => "INVALID_CURRENCY",
            Reason::InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
            Reason::InvalidCard => "INVALID_CARD",
            Reason::InvalidOrderId => "INVALID_ORDER_ID",
            Reason::InvalidPageToken => "INVALID_PAGE_TOKEN",
            Reason::InvalidCursor => "INVALID_CURSOR",
            Reason::MissingProviderDetails => "MISSING_PROVIDER_DETAILS",
            Reason::ProviderNotConfigured => "PROVIDER_NOT_CONFIGURED",
            Reason::OrderNotFound => "ORDER_NOT_FOUND",
            Reason::PaymentMethodNotFound => "PAYMENT_METHOD_NOT_FOUND",
            Reason::ProviderOrderNotFound => "PROVIDER_ORDER_NOT_FOUND",
            Reason::AmountExceedsCapturable => "AMOUNT_EXCEEDS_CAPTURABLE",
            Reason::PartialCaptureNotAllowed => "PARTIAL_CAPTURE_NOT_ALLOWED",
            Reason::CaptureNotAllowed => "CAPTURE_NOT_ALLOWED",
            Reason::AuthorizationExpired => "AUTHORIZATION_EXPIRED",
            Reason::AmountExceedsRefundable => "AMOUNT_EXCEEDS_REFUNDABLE",
            Reason::RefundNotAllowed => "REFUND_NOT_ALLOWED",
            Reason::VoidNotAllowed => "VOID_NOT_ALLOWED",
            Reason::OperationInProgress => "OPERATION_IN_PROGRESS",
            Reason::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Reason::IdempotencyKeyInUse => "IDEMPOTENCY_KEY_IN_USE",
            Reason::ProviderUnavailable => "PROVIDER_UNAVAILABLE",
            Reason::OutcomeUnknown => "OUTCOME_UNKNOWN",
            Reason::ProviderRejected => "PROVIDER_REJECTED",
            Reason::ProviderCredentialsRejected => "PROVIDER_CREDENTIALS_REJECTED",
            Reason::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            Reason::MissingCredentials => "MISSING_CREDENTIALS",
            Reason::InvalidCredentials => "INVALID_CREDENTIALS",
            Reason::MissingScope => "MISSING_SCOPE",
            Reason::RateLimited => "RATE_LIMITED",
            Reason::Overloaded => "OVERLOADED",
            Reason::TooManyStreams => "TOO_MANY_STREAMS",
            Reason::MetadataTooLarge => "METADATA_TOO_LARGE",
            Reason::MessageTooLarge => "MESSAGE_TOO_LARGE",
            Reason::NeedsReview => "NEEDS_REVIEW",
            Reason::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most characters of one field path or description in an error.
pub const MAX_QUOTED: usize = 200;

fn cut(text: String) -> String {
    shortened(text, MAX_QUOTED - 1)
}

/// `text` with at most `keep` characters, and `…` after them when it had
/// more.
pub fn shortened(text: String, keep: usize) -> String {
    match text.char_indices().nth(keep) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// Malformed input: the request can never succeed as sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{reason}: {}", describe(.violations))]
pub struct InvalidInput {
    pub reason: Reason,
    pub violations: Vec<FieldViolation>,
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl InvalidInput {
    /// A field path or description may quote what the caller sent (a
    /// metadata key, a currency code); each is cut to [`MAX_QUOTED`]
    /// characters so an error always fits in the answer's headers.
    pub fn new(reason: Reason, field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            reason,
            violations: vec![FieldViolation {
                field: cut(field.into()),
                description: cut(description.into()),
            }],
        }
    }

    /// Prefixes every field path, for errors parsed inside a nested message.
    pub fn within(mut self, parent: &str) -> Self {
        for v in &mut self.violations {
            v.field = format!("{parent}.{}", v.field);
        }
        self
    }
}

/// The order's state forbids the operation (FAILED_PRECONDITION).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{reason}: {message}")]
pub struct RuleViolation {
    pub reason: Reason,
    pub message: String,
}

impl RuleViolation {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_input_is_cut_to_two_hundred_characters() {
        let long = InvalidInput::new(
            Reason::InvalidArgument,
            format!("metadata[{}]", "鍵".repeat(10_000)),
            "x".repeat(5_000),
        );
        let violation = &long.violations[0];
        assert_eq!(violation.field.chars().count(), MAX_QUOTED);
        assert_eq!(violation.description.chars().count(), MAX_QUOTED);
        assert!(violation.field.ends_with('…'));
        let short = InvalidInput::new(Reason::InvalidArgument, "amount", "must be positive");
        assert_eq!(short.violations[0].field, "amount");
        assert_eq!(short.violations[0].description, "must be positive");
    }

    #[test]
    fn reasons_serialize_as_their_wire_names() {
        for reason in [
            Reason::AmountExceedsCapturable,
            Reason::ProviderCredentialsRejected,
            Reason::IdempotencyKeyInUse,
        ] {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
    }

    #[test]
    fn nested_violations_name_their_full_path() {
        let e = InvalidInput::new(Reason::InvalidCard, "number", "fails the Luhn check")
            .within("paymentoptions.card");
        assert_eq!(e.violations[0].field, "paymentoptions.card.number");
    }
}
