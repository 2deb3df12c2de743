//! Provider adapters behind one small trait. Each adapter owns its wire types
//! and its error mapping; adding a provider means a module here and one line
//! in [`registry`].

#[cfg(feature = "example-provider")]
pub mod example;
pub mod http;
mod instrumented;
mod notification;
pub mod payjp;
pub mod paymentoptions;
mod registry;
#[cfg(test)]
mod rules_tests;
pub mod smartpay;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::{
    CaptureMethod, CaptureRecord, CardSummary, Failure, Metadata, Money, NextAction, OrderId,
    OrderRecord, PaymentMethodKind, ProviderKind, Reason, RefundReason, RefundStatus,
};

pub use notification::{Notification, Rejection, Subject};
pub use registry::{
    AuthorizeDetails, ProviderDetails, ProviderSettings, Registry, dashboard_url, rules,
};

/// Authorize at the provider.
#[derive(Debug, Clone)]
pub struct AuthorizeCall<'a> {
    pub order_id: &'a OrderId,
    /// Derived from kessai's ids, so a retry is idempotent at the provider.
    pub idempotency_key: String,
    pub money: Money,
    pub capture_method: CaptureMethod,
    pub description: &'a str,
    pub merchant_reference: &'a str,
    pub metadata: &'a Metadata,
    pub details: &'a ProviderDetails,
    /// Set when this resends a call whose answer was lost: how long ago the
    /// first was sent. Past the provider's idempotency window a resend is
    /// no longer deduplicated, so an adapter looks the object up first.
    pub resumed_after: Option<chrono::Duration>,
}

/// What the provider made of an authorization.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizeResult {
    /// Authorized; with automatic capture `captured` is already taken.
    Authorized { amount: i64, captured: i64 },
    /// The shopper or the shop's front end must act.
    RequiresAction(NextAction),
    /// The provider said no.
    Declined(Failure),
    /// The provider is still working on it; reconciliation will tell.
    Processing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizeOutcome {
    pub provider_order_id: Option<String>,
    pub result: AuthorizeResult,
    pub livemode: bool,
    pub payment_method: Option<PaymentMethodKind>,
    /// The provider's own deadline for capturing, where it gives one.
    pub expires_at: Option<DateTime<Utc>>,
    pub provider_data: Option<serde_json::Value>,
    pub card: Option<CardSummary>,
    /// With automatic capture: the provider's capture objects, where it has
    /// them (refunds need their ids).
    pub captures: Vec<ProviderCapture>,
}

#[derive(Debug, Clone)]
pub struct CaptureCall<'a> {
    pub order: &'a OrderRecord,
    pub capture: &'a CaptureRecord,
    pub idempotency_key: String,
    /// Everything capturable: the provider's "capture all" form is used.
    pub whole_remainder: bool,
    /// The provider should release whatever this capture leaves.
    pub final_capture: bool,
    /// See [`AuthorizeCall::resumed_after`].
    pub resumed_after: Option<chrono::Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureOutcome {
    /// The provider's id for the capture, where it has one.
    pub provider_capture_id: Option<String>,
    pub amount: i64,
}

#[derive(Debug, Clone)]
pub struct RefundCall<'a> {
    pub order: &'a OrderRecord,
    /// The capture this part refunds, for providers that refund per capture.
    pub capture: Option<&'a CaptureRecord>,
    pub amount: i64,
    pub reason: Option<RefundReason>,
    pub reference: &'a str,
    pub description: &'a str,
    pub idempotency_key: String,
    /// See [`AuthorizeCall::resumed_after`].
    pub resumed_after: Option<chrono::Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundOutcome {
    pub provider_refund_id: String,
    /// Succeeded, or Pending where the provider settles refunds later.
    pub status: RefundStatus,
}

#[derive(Debug, Clone)]
pub struct VoidCall<'a> {
    pub order: &'a OrderRecord,
    pub idempotency_key: String,
    /// See [`AuthorizeCall::resumed_after`].
    pub resumed_after: Option<chrono::Duration>,
}

/// The provider's view of an order, for refresh and reconciliation.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSnapshot {
    pub state: SnapshotState,
    pub amount_authorized: i64,
    pub amount_captured: i64,
    pub amount_capturable: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub payment_method: Option<PaymentMethodKind>,
    /// The provider's own capture objects, where it has them (Smartpay
    /// payments), oldest first.
    pub captures: Vec<ProviderCapture>,
}

/// A capture as the provider records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderCapture {
    pub id: String,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotState {
    RequiresAction(Option<NextAction>),
    Processing,
    /// Authorized; something may still be capturable.
    Authorized,
    /// Nothing more can be captured (fully captured or the rest released).
    Closed,
    /// Released without any capture.
    Canceled,
    Declined(Failure),
}

/// How the provider refused a request it understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The request was malformed for the provider (INVALID_ARGUMENT).
    InvalidArgument,
    /// The provider's state forbids it (FAILED_PRECONDITION).
    Precondition,
    /// The provider does not know the object (NOT_FOUND).
    NotFound,
}

/// Why a provider call did not give an answer kessai can record as done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The request never reached the provider: nothing moved.
    #[error("{provider} could not be reached: {detail}")]
    Unreachable {
        provider: ProviderKind,
        detail: String,
    },
    /// The provider declined to act now (rate limit): nothing moved.
    #[error("{provider} is throttling requests")]
    Throttled {
        provider: ProviderKind,
        retry_after: Option<Duration>,
    },
    /// The request may have been acted on; what happened is unknown.
    #[error("{provider} outcome unknown: {detail}")]
    OutcomeUnknown {
        provider: ProviderKind,
        detail: String,
    },
    /// The provider refused kessai's own credentials.
    #[error("{provider} rejected kessai's credentials")]
    CredentialsRejected { provider: ProviderKind },
    /// The provider understood and refused the request.
    #[error("{provider} refused ({provider_code}): {message}")]
    Rejected {
        provider: ProviderKind,
        kind: RejectionKind,
        reason: Reason,
        provider_code: String,
        message: String,
    },
}

/// A provider answer kessai can do arithmetic on: amounts within the
/// bounds of [`crate::domain::Amount`], so no sum of them can overflow. An
/// answer that is not plausible is treated as unreadable.
pub trait Plausible {
    fn plausible(&self) -> bool;
}

/// Whether an amount a provider reports could be real.
pub fn plausible_amount(amount: i64) -> bool {
    (0..=crate::domain::Amount::MAX).contains(&amount)
}

impl ProviderError {
    /// Details for another provider reached this one: a routing bug.
    pub fn wrong_details(provider: ProviderKind) -> Self {
        ProviderError::Rejected {
            provider,
            kind: RejectionKind::InvalidArgument,
            reason: Reason::MissingProviderDetails,
            provider_code: "wrong_details".into(),
            message: format!("the request carries no {provider} details"),
        }
    }
}

/// The provider-facing operations. Calls carry kessai's ids; outcomes carry
/// what the provider said, already mapped to kessai's vocabulary.
#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    fn kind(&self) -> ProviderKind;
    /// Whether objects are test-mode (sandbox or test keys).
    fn livemode(&self) -> bool;
    /// Whether resending a call with the same provider idempotency key is
    /// deduplicated by the provider. Where it is not, a call whose answer
    /// was lost is never sent again.
    fn deduplicates_retries(&self) -> bool {
        true
    }
    async fn authorize(&self, call: AuthorizeCall<'_>) -> Result<AuthorizeOutcome, ProviderError>;
    async fn capture(&self, call: CaptureCall<'_>) -> Result<CaptureOutcome, ProviderError>;
    async fn refund(&self, call: RefundCall<'_>) -> Result<RefundOutcome, ProviderError>;
    async fn void(&self, call: VoidCall<'_>) -> Result<(), ProviderError>;
    async fn fetch(&self, order: &OrderRecord) -> Result<ProviderSnapshot, ProviderError>;

    /// A transaction of `order` that a notification named by the provider's
    /// own id, as the provider reports it: how a provider without
    /// idempotency lets a call whose answer was lost be settled. `None`
    /// where the provider has nothing like it, or the transaction is not
    /// this order's or did not succeed.
    async fn transaction(
        &self,
        _order: &OrderRecord,
        _id: &str,
    ) -> Result<Option<FoundTransaction>, ProviderError> {
        Ok(None)
    }
}

/// A transaction looked up at the provider by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundTransaction {
    Capture {
        id: String,
        amount: i64,
    },
    Refund {
        id: String,
        amount: i64,
    },
    Void {
        id: String,
    },
    /// Anything else (the authorization itself, a sale).
    Other,
}
