//! What a provider's notification says, once its origin is verified: the
//! provider-neutral shape each provider's `webhook.rs` reads its body into.

use crate::domain::ProviderKind;

/// A notification whose origin was verified (or, for a provider that signs
/// nothing, that is treated as a hint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub provider: ProviderKind,
    /// The provider's id of the event: a redelivery carries the same one.
    pub event_id: String,
    pub event_type: String,
    pub subject: Subject,
}

/// What a notification is about, in the provider's ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The provider's id of the order (Smartpay order, PAY.JP payment flow).
    ProviderOrder(String),
    /// The provider's id of one of the order's captures (Smartpay payment).
    ProviderCapture(String),
    /// kessai's own order id as the provider echoes it, or failing that a
    /// transaction id (PaymentOptions): an unsigned hint.
    Hint {
        order_id: Option<String>,
        transaction_id: Option<String>,
    },
    /// An event kessai does not act on: acknowledged and ignored.
    Ignored,
}

/// The non-empty string at `path` in a JSON body.
pub(crate) fn text(value: &serde_json::Value, path: &[&str]) -> Option<String> {
    path.iter()
        .try_fold(value, |value, field| value.get(field))
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Why a request was refused before anything was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Missing or wrong signature or token, or a stale timestamp (401).
    Unauthenticated(&'static str),
    /// Not a notification kessai can read (400).
    Malformed(String),
}
