//! Pure, provider-neutral rules: money, identifiers, the order state machine
//! and the shape of a provider's rules. No I/O.

pub mod address;
pub mod card;
pub mod customer;
pub mod decide;
pub mod error;
pub mod idempotency_key;
pub mod ids;
pub mod money;
pub mod order;
pub mod owner;
pub mod provider;
pub mod records;
pub mod rules;
pub mod search;
pub mod text;

pub use address::PostalAddress;
pub use card::{CardInput, CardNumber, Cvc};
pub use customer::Customer;
pub use error::{FieldViolation, InvalidInput, Reason, RuleViolation};
pub use idempotency_key::IdempotencyKey;
pub use ids::{AttemptId, CaptureId, OrderId, RefundId};
pub use money::{Amount, Currency, Money};
pub use order::{AuthState, OrderState, OrderStatus, Release};
pub use owner::Visibility;
pub use provider::{PaymentMethodKind, ProviderKind};
pub use records::{
    CaptureMethod, CaptureRecord, CaptureStatus, CardSummary, Failure, NextAction, OrderRecord,
    OrderView, RefundPart, RefundRecord, RefundStatus,
};
pub use rules::{ProviderRules, RefundReason};
pub use search::{OrderSearch, SearchTerm, address_probe, email_local_reversed};
pub use text::Metadata;
