//! What kessai records about an order, its captures and its refunds: plain
//! data that the store persists and the gRPC layer presents.

use chrono::{DateTime, Utc};

use super::customer::Customer;
use super::ids::{CaptureId, OrderId, RefundId};
use super::money::Currency;
use super::order::OrderState;
use super::provider::{PaymentMethodKind, ProviderKind};
use super::rules::RefundReason;
use super::text::Metadata;

/// Why something was declined or refused by the provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// kessai's reason, UPPER_SNAKE.
    pub code: String,
    pub message: String,
    /// The provider's own code.
    pub provider_code: Option<String>,
}

/// How the shopper completes an authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextAction {
    RedirectUrl(String),
    ClientSecret(String),
}

impl NextAction {
    pub fn kind(&self) -> &'static str {
        match self {
            NextAction::RedirectUrl(_) => "redirect_url",
            NextAction::ClientSecret(_) => "client_secret",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            NextAction::RedirectUrl(v) | NextAction::ClientSecret(v) => v,
        }
    }

    pub fn from_parts(kind: &str, value: String) -> Option<Self> {
        match kind {
            "redirect_url" => Some(NextAction::RedirectUrl(value)),
            "client_secret" => Some(NextAction::ClientSecret(value)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureMethod {
    #[default]
    Manual,
    Automatic,
}

impl CaptureMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureMethod::Manual => "manual",
            CaptureMethod::Automatic => "automatic",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "manual" => Some(CaptureMethod::Manual),
            "automatic" => Some(CaptureMethod::Automatic),
            _ => None,
        }
    }
}

/// What kessai keeps of a card: never the number or the CVC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSummary {
    pub bin: String,
    pub last4: String,
    pub brand: Option<String>,
    pub exp_month: i32,
    pub exp_year: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderRecord {
    pub id: OrderId,
    /// Who may see it (`owner.rs`).
    pub owner: String,
    pub provider: ProviderKind,
    pub provider_order_id: Option<String>,
    pub merchant_reference: String,
    pub description: String,
    pub currency: Currency,
    pub capture_method: CaptureMethod,
    pub payment_method: Option<PaymentMethodKind>,
    pub state: OrderState,
    pub next_action: Option<NextAction>,
    pub failure: Option<Failure>,
    pub livemode: bool,
    pub metadata: Metadata,
    /// Provider-specific facts an adapter needs later (opaque JSON).
    pub provider_data: Option<serde_json::Value>,
    pub card: Option<CardSummary>,
    /// The shopper as the caller described them (any provider).
    pub customer: Option<Customer>,
    /// Set when only a person can settle the order (an outcome that can
    /// never be looked up).
    pub needs_review: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency guard, bumped by every write.
    pub version: i64,
}

#[cfg(test)]
impl OrderRecord {
    /// A manual-capture JPY order in `state`, for unit tests.
    pub fn for_tests(id: &str, provider: ProviderKind, state: OrderState) -> Self {
        let now = chrono::Utc::now();
        Self {
            id: OrderId::from_trusted(id.into()),
            owner: "shop".into(),
            provider,
            provider_order_id: None,
            merchant_reference: String::new(),
            description: String::new(),
            currency: Currency::JPY,
            capture_method: CaptureMethod::Manual,
            payment_method: None,
            state,
            next_action: None,
            failure: None,
            livemode: false,
            metadata: Metadata::default(),
            provider_data: None,
            card: None,
            customer: None,
            needs_review: false,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureStatus {
    Pending,
    Succeeded,
    Failed,
}

impl CaptureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureStatus::Pending => "pending",
            CaptureStatus::Succeeded => "succeeded",
            CaptureStatus::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            CaptureStatus::Pending,
            CaptureStatus::Succeeded,
            CaptureStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRecord {
    pub id: CaptureId,
    pub order_id: OrderId,
    pub amount: i64,
    pub status: CaptureStatus,
    pub final_capture: bool,
    pub provider_capture_id: Option<String>,
    pub reference: String,
    pub description: String,
    pub amount_refunded: i64,
    pub pending_refund: i64,
    pub failure: Option<Failure>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CaptureRecord {
    pub fn refundable(&self) -> i64 {
        match self.status {
            CaptureStatus::Succeeded => self.amount - self.amount_refunded - self.pending_refund,
            CaptureStatus::Pending | CaptureStatus::Failed => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            RefundStatus::Pending,
            RefundStatus::Succeeded,
            RefundStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// One provider request of a refund.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefundPart {
    /// 1-based position; the provider key is `{refund id}-{n}`.
    pub n: u32,
    pub capture_id: Option<String>,
    pub amount: i64,
    pub status: RefundStatus,
    pub provider_refund_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: RefundId,
    pub order_id: OrderId,
    pub amount: i64,
    pub status: RefundStatus,
    pub reason: Option<RefundReason>,
    pub reference: String,
    pub description: String,
    pub parts: Vec<RefundPart>,
    pub failure: Option<Failure>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RefundRecord {
    /// The provider's idempotency key for part `n`.
    pub fn part_key(&self, n: u32) -> String {
        format!("{}-{n}", self.id)
    }
}

/// An order with its captures and refunds, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderView {
    pub order: OrderRecord,
    pub captures: Vec<CaptureRecord>,
    pub refunds: Vec<RefundRecord>,
}
