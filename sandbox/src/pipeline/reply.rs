//! Finished answers, and the JSON bodies requests carry.

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

pub(crate) const JSON: &str = "application/json";

/// A finished HTTP answer, kept as bytes so an idempotent replay is
/// byte-identical.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl Reply {
    pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Self {
        Self {
            status,
            content_type: JSON,
            // Our own wire structs have string keys only, so this cannot fail.
            body: serde_json::to_vec(value).unwrap_or_default().into(),
        }
    }

    pub(crate) fn ok<T: Serialize>(value: &T) -> Self {
        Self::json(StatusCode::OK, value)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, self.content_type)],
            self.body,
        )
            .into_response()
    }
}

/// Why a body is not a JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotAnObject {
    /// JSON, but not an object.
    OtherJson,
    /// Not JSON at all.
    NotJson,
}

/// The JSON object a body holds; a blank body is `{}` when `blank_is_empty`
/// (operations that may be sent without a body).
pub(crate) fn json_object(
    body: &[u8],
    blank_is_empty: bool,
) -> Result<Map<String, Value>, NotAnObject> {
    if blank_is_empty && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(NotAnObject::OtherJson),
        Err(_) => Err(NotAnObject::NotJson),
    }
}
