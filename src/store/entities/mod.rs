//! sea-orm entities, one per table (see `migrations/`).

pub mod captures;
pub mod idempotency_keys;
pub mod order_events;
pub mod orders;
pub mod provider_attempts;
pub mod refunds;
pub mod webhook_events;
