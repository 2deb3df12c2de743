//! What the simulators were sent, as far as tests need to see it: each
//! request's method, path and W3C trace context headers (never bodies or
//! credentials). Kept for the most recent requests only.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

const KEPT: usize = 1_000;

/// One request as a simulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

impl ReceivedRequest {
    /// The trace id of the `traceparent` header
    /// (`00-<trace id>-<parent id>-<flags>`).
    pub fn trace_id(&self) -> Option<&str> {
        self.traceparent.as_deref()?.split('-').nth(1)
    }
}

/// The requests the simulators received, oldest first. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Received {
    requests: Arc<Mutex<VecDeque<ReceivedRequest>>>,
}

impl Received {
    pub fn all(&self) -> Vec<ReceivedRequest> {
        self.lock().iter().cloned().collect()
    }

    fn push(&self, request: ReceivedRequest) {
        let mut requests = self.lock();
        if requests.len() == KEPT {
            requests.pop_front();
        }
        requests.push_back(request);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<ReceivedRequest>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Middleware recording every request before it is handled.
pub async fn record(State(received): State<Received>, request: Request, next: Next) -> Response {
    received.push(ReceivedRequest {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        traceparent: header(&request, "traceparent"),
        tracestate: header(&request, "tracestate"),
    });
    next.run(request).await
}
