//! What the simulators' unit tests share: one start time, requests sent
//! straight into a router, and the answers read back.

use std::collections::BTreeSet;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use tower::ServiceExt;

use crate::pipeline::reply::JSON;

/// An answer, its body also read as JSON (`Null` when it is not).
pub(crate) struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub bytes: Bytes,
    pub json: Value,
}

/// Where every simulator test's clock starts.
pub(crate) fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 2, 3, 15, 42)
        .single()
        .expect("a valid date")
}

/// A request with `headers` and, when given, a JSON body.
pub(crate) fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let body = match body {
        Some(json) => {
            builder = builder.header(header::CONTENT_TYPE, JSON);
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    builder.body(body).expect("a valid request")
}

/// [`request`] with `authorization` first.
pub(crate) fn authorized(
    authorization: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Request<Body> {
    let mut all = vec![(header::AUTHORIZATION.as_str(), authorization)];
    all.extend_from_slice(headers);
    request(method, path, &all, body)
}

pub(crate) async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a complete body");
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        content_type,
        bytes,
        json,
    }
}

pub(crate) fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

pub(crate) fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}
