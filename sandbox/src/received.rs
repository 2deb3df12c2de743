//! What the simulators were sent and what they answered, as far as tests
//! need to see it: each request's method, path and W3C trace context
//! headers, and each exchange's bodies (card numbers and CVCs masked, never
//! credentials), so contract tests can check both sides against the
//! providers' official models. Kept for the most recent requests only.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

const KEPT: usize = 1_000;
/// Exchanges are kept longer: a contract test replays a whole workload.
const EXCHANGES_KEPT: usize = 10_000;
/// Bodies larger than this are not kept (the simulators' pages are small).
const BODY_LIMIT: usize = 1 << 20;

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

/// One request and its answer, bodies parsed as JSON where they are JSON
/// (form bodies become objects of strings).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Exchange {
    pub method: String,
    /// The path as the simulator saw it, with its provider prefix
    /// (`/payjp/v2/payment_flows`).
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    pub request: Option<serde_json::Value>,
    pub response: Option<serde_json::Value>,
}

/// The requests the simulators received, oldest first. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Received {
    requests: Arc<Mutex<VecDeque<ReceivedRequest>>>,
    exchanges: Arc<Mutex<VecDeque<Exchange>>>,
}

impl Received {
    pub fn all(&self) -> Vec<ReceivedRequest> {
        lock(&self.requests).iter().cloned().collect()
    }

    /// Every exchange kept, oldest first.
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.exchanges).iter().cloned().collect()
    }

    /// Writes the exchanges as JSON lines, for a contract checker.
    pub fn write_exchanges(&self, path: &std::path::Path) -> std::io::Result<usize> {
        use std::io::Write;
        let exchanges = self.exchanges();
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for exchange in &exchanges {
            serde_json::to_writer(&mut out, exchange)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(exchanges.len())
    }

    fn push(&self, request: ReceivedRequest) {
        push_bounded(&self.requests, request, KEPT);
    }

    fn push_exchange(&self, exchange: Exchange) {
        push_bounded(&self.exchanges, exchange, EXCHANGES_KEPT);
    }
}

fn push_bounded<T>(queue: &Mutex<VecDeque<T>>, item: T, kept: usize) {
    let mut queue = lock(queue);
    if queue.len() == kept {
        queue.pop_front();
    }
    queue.push_back(item);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A body as JSON: JSON as it is, a form as an object of strings, anything
/// else (HTML pages, empty bodies) as nothing.
fn parse_body(bytes: &Bytes) -> Option<serde_json::Value> {
    if bytes.is_empty() {
        return None;
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        return Some(mask(value));
    }
    let text = std::str::from_utf8(bytes).ok()?;
    if text.contains('=') && !text.contains('<') {
        let fields: serde_json::Map<String, serde_json::Value> = url::form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect();
        return Some(mask(serde_json::Value::Object(fields)));
    }
    None
}

/// Card numbers keep their first six and last four digits and CVCs are
/// replaced, so an exchange log is safe to write to disk.
fn mask(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    let v = match v {
                        Value::String(s) if lower == "cvc" || lower == "cvv" => {
                            Value::String("*".repeat(s.len()))
                        }
                        Value::String(s) if lower == "number" || lower.contains("card_number") => {
                            Value::String(mask_pan(&s))
                        }
                        other => mask(other),
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(mask).collect()),
        other => other,
    }
}

fn mask_pan(pan: &str) -> String {
    let digits = pan.len();
    if digits <= 10 || !pan.bytes().all(|b| b.is_ascii_digit()) {
        return pan.to_owned();
    }
    format!(
        "{}{}{}",
        &pan[..6],
        "*".repeat(digits - 10),
        &pan[digits - 4..]
    )
}

/// Middleware recording every request before it is handled, and the
/// exchange once it is answered.
pub async fn record(State(received): State<Received>, request: Request, next: Next) -> Response {
    received.push(ReceivedRequest {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        traceparent: header(&request, "traceparent"),
        tracestate: header(&request, "tracestate"),
    });
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let (parts, body) = request.into_parts();
    let Ok(request_bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return Response::builder()
            .status(413)
            .body(Body::empty())
            .unwrap_or_default();
    };
    let request_body = parse_body(&request_bytes);
    let response = next
        .run(Request::from_parts(parts, Body::from(request_bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let response_bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        // A fault that breaks the connection mid-body must still break it.
        Err(error) => {
            let broken = futures::stream::once(async move {
                Err::<Bytes, _>(std::io::Error::other(error.to_string()))
            });
            return Response::from_parts(parts, Body::from_stream(broken));
        }
    };
    received.push_exchange(Exchange {
        method,
        path,
        query,
        status: parts.status.as_u16(),
        request: request_body,
        response: parse_body(&response_bytes),
    });
    Response::from_parts(parts, Body::from(response_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_and_cvcs_are_masked_at_any_depth() {
        let body = serde_json::json!({
            "card": {"number": "4111111111111111", "cvc": "123"},
            "items": [{"card_number": "5555555555554444"}],
            "amount": "1000",
        });
        let masked = mask(body);
        assert_eq!(masked["card"]["number"], "411111******1111");
        assert_eq!(masked["card"]["cvc"], "***");
        assert_eq!(masked["items"][0]["card_number"], "555555******4444");
        assert_eq!(masked["amount"], "1000");
    }

    #[test]
    fn forms_become_objects_and_pages_are_skipped() {
        let form = Bytes::from_static(b"amount=1000&currency=jpy");
        assert_eq!(
            parse_body(&form),
            Some(serde_json::json!({"amount": "1000", "currency": "jpy"}))
        );
        assert_eq!(parse_body(&Bytes::from_static(b"<html>ok</html>")), None);
        assert_eq!(parse_body(&Bytes::new()), None);
    }
}
