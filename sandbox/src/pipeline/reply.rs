//! Finished answers, and the JSON bodies requests carry.

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(crate) const JSON: &str = "application/json";
/// RFC 9457 problem details (PAY.JP's errors).
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// A finished HTTP answer, kept as bytes so an idempotent replay is
/// byte-identical.
#[derive(Debug, Clone, Serialize)]
#[serde(into = "SavedReply")]
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

/// A reply as the state file keeps it (an idempotent replay after a
/// restart): every body the simulators answer is JSON, so UTF-8.
#[derive(Serialize, Deserialize)]
struct SavedReply {
    status: u16,
    content_type: String,
    body: String,
}

impl From<Reply> for SavedReply {
    fn from(reply: Reply) -> Self {
        Self {
            status: reply.status.as_u16(),
            content_type: reply.content_type.to_owned(),
            body: String::from_utf8_lossy(&reply.body).into_owned(),
        }
    }
}

// By hand: derived, the `&'static str` field would tie it to `'static` input.
impl<'de> Deserialize<'de> for Reply {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let saved = SavedReply::deserialize(deserializer)?;
        Reply::try_from(saved).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<SavedReply> for Reply {
    type Error = String;

    fn try_from(saved: SavedReply) -> Result<Self, Self::Error> {
        let status = StatusCode::from_u16(saved.status)
            .map_err(|_| format!("status {} is not an HTTP status", saved.status))?;
        // Only the types the simulators answer with, so the reply keeps a
        // `&'static str` like every other.
        let content_type = [JSON, PROBLEM_JSON]
            .into_iter()
            .find(|known| *known == saved.content_type)
            .ok_or_else(|| format!("unknown content type {:?}", saved.content_type))?;
        Ok(Self {
            status,
            content_type,
            body: Bytes::from(saved.body),
        })
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
