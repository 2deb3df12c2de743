//! Every provider call in a span of its own (provider, operation, order id,
//! the provider idempotency key, outcome) and in the provider metrics. The
//! registry wraps each adapter in this, so no adapter can forget it. Spans
//! carry ids only: card data never reaches a span field.

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use super::{
    AuthorizeCall, AuthorizeOutcome, AuthorizeResult, CaptureCall, CaptureOutcome, PaymentProvider,
    ProviderError, ProviderSnapshot, RefundCall, RefundOutcome, VoidCall,
};
use crate::domain::{OrderId, OrderRecord, ProviderKind};
use crate::observability::metrics;

pub struct Instrumented {
    inner: Arc<dyn PaymentProvider>,
}

impl Instrumented {
    pub fn new(inner: Arc<dyn PaymentProvider>) -> Self {
        Self { inner }
    }
}

/// How a call ended, as a metric label and span field.
pub fn error_outcome(error: &ProviderError) -> &'static str {
    match error {
        ProviderError::Unreachable { .. } => "unreachable",
        ProviderError::Throttled { .. } => "throttled",
        ProviderError::OutcomeUnknown { .. } => "unknown_outcome",
        ProviderError::CredentialsRejected { .. } => "credentials_rejected",
        ProviderError::Rejected { .. } => "rejected",
    }
}

fn authorize_outcome(outcome: &AuthorizeOutcome) -> &'static str {
    match outcome.result {
        AuthorizeResult::Authorized { .. } => "success",
        AuthorizeResult::RequiresAction(_) => "requires_action",
        AuthorizeResult::Declined(_) => "declined",
        AuthorizeResult::Processing => "processing",
    }
}

fn span(
    provider: ProviderKind,
    operation: &'static str,
    order_id: &OrderId,
    idempotency_key: Option<&str>,
) -> tracing::Span {
    tracing::info_span!(
        "provider_call",
        otel.name = %format_args!("{} {operation}", provider.as_str()),
        otel.kind = "client",
        provider = provider.as_str(),
        operation,
        order_id = %order_id,
        idempotency_key,
        outcome = tracing::field::Empty,
    )
}

impl Instrumented {
    async fn measure<T>(
        &self,
        operation: &'static str,
        order_id: &OrderId,
        idempotency_key: Option<&str>,
        call: impl Future<Output = Result<T, ProviderError>>,
        outcome_of: impl Fn(&T) -> &'static str,
    ) -> Result<T, ProviderError> {
        let provider = self.inner.kind();
        let span = span(provider, operation, order_id, idempotency_key);
        let started = Instant::now();
        let result = call.instrument(span.clone()).await;
        let outcome = match &result {
            Ok(value) => outcome_of(value),
            Err(error) => error_outcome(error),
        };
        span.record("outcome", outcome);
        metrics::provider_call(provider, operation, outcome, started.elapsed());
        result
    }
}

fn success<T>(_: &T) -> &'static str {
    "success"
}

#[async_trait::async_trait]
impl PaymentProvider for Instrumented {
    fn kind(&self) -> ProviderKind {
        self.inner.kind()
    }

    fn livemode(&self) -> bool {
        self.inner.livemode()
    }

    fn deduplicates_retries(&self) -> bool {
        self.inner.deduplicates_retries()
    }

    async fn authorize(&self, call: AuthorizeCall<'_>) -> Result<AuthorizeOutcome, ProviderError> {
        let order_id = call.order_id.clone();
        let key = call.idempotency_key.clone();
        self.measure(
            "authorize",
            &order_id,
            Some(&key),
            self.inner.authorize(call),
            authorize_outcome,
        )
        .await
    }

    async fn capture(&self, call: CaptureCall<'_>) -> Result<CaptureOutcome, ProviderError> {
        let order_id = call.order.id.clone();
        let key = call.idempotency_key.clone();
        self.measure(
            "capture",
            &order_id,
            Some(&key),
            self.inner.capture(call),
            success,
        )
        .await
    }

    async fn refund(&self, call: RefundCall<'_>) -> Result<RefundOutcome, ProviderError> {
        let order_id = call.order.id.clone();
        let key = call.idempotency_key.clone();
        self.measure(
            "refund",
            &order_id,
            Some(&key),
            self.inner.refund(call),
            success,
        )
        .await
    }

    async fn void(&self, call: VoidCall<'_>) -> Result<(), ProviderError> {
        let order_id = call.order.id.clone();
        let key = call.idempotency_key.clone();
        self.measure(
            "void",
            &order_id,
            Some(&key),
            self.inner.void(call),
            success,
        )
        .await
    }

    async fn fetch(&self, order: &OrderRecord) -> Result<ProviderSnapshot, ProviderError> {
        self.measure("fetch", &order.id, None, self.inner.fetch(order), success)
            .await
    }

    async fn transaction(
        &self,
        order: &OrderRecord,
        id: &str,
    ) -> Result<Option<super::FoundTransaction>, ProviderError> {
        self.measure(
            "transaction",
            &order.id,
            None,
            self.inner.transaction(order, id),
            success,
        )
        .await
    }
}
