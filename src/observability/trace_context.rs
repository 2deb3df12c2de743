//! W3C trace context (`traceparent`, `tracestate`): read from a caller's
//! gRPC metadata onto the call's span, and written from the current span
//! onto provider requests, so one trace runs from the caller through kessai
//! to the provider.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

struct Extract<'a>(&'a HeaderMap);

impl Extractor for Extract<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct Inject<'a>(&'a mut HeaderMap);

impl Injector for Inject<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Makes `span` a child of the trace the caller's headers name, if any. A
/// malformed `traceparent` is ignored, as the W3C spec asks: the span then
/// starts a trace of its own.
pub fn continue_from(span: &tracing::Span, headers: &HeaderMap) {
    if !headers.contains_key(TRACEPARENT) {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Extract(headers));
    // Only fails when no OpenTelemetry layer is installed: nothing to join.
    let _ = span.set_parent(parent);
}

/// The trace id of `span` in hex, when it belongs to a trace.
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The trace context headers of `span` (empty when it belongs to no
/// trace, e.g. when no OpenTelemetry layer is installed).
pub fn headers_of(span: &tracing::Span) -> HeaderMap {
    let mut headers = HeaderMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut Inject(&mut headers));
    headers
}
