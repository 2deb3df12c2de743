//! Request validation: every problem of a body in one 400.

use serde_json::{Map, Value};

use super::errors::ApiError;
use crate::pipeline::reply::{NotAnObject, json_object};

/// Reads fields of a JSON object, collecting every problem so one 400 lists
/// them all. `null` counts as absent (the PHP SDK sends nulls).
pub(super) struct Input<'a> {
    pub(super) body: &'a Map<String, Value>,
    pub(super) prefix: String,
    pub(super) details: Vec<String>,
}

impl<'a> Input<'a> {
    pub(super) fn new(body: &'a Map<String, Value>) -> Self {
        Self::nested(body, String::new())
    }

    pub(super) fn nested(body: &'a Map<String, Value>, prefix: String) -> Self {
        Self {
            body,
            prefix,
            details: Vec::new(),
        }
    }

    pub(super) fn invalid(&mut self, field: &str, problem: &str) {
        self.details
            .push(format!("{}{field}: {problem}", self.prefix));
    }

    pub(super) fn value(&mut self, field: &str, required: bool) -> Option<&'a Value> {
        let value = self.body.get(field).filter(|v| !v.is_null());
        if value.is_none() && required {
            self.invalid(field, "is required");
        }
        value
    }

    /// Amounts are integer yen: 100.0 and "100" are refused. The schemas
    /// type every amount and count `uint32`.
    pub(super) fn integer(&mut self, field: &str, required: bool, min: i64) -> Option<i64> {
        self.bounded(field, required, min, i64::from(u32::MAX))
    }

    pub(super) fn bounded(
        &mut self,
        field: &str,
        required: bool,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let value = self.value(field, required)?;
        match value.as_i64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.invalid(field, &format!("must be an integer from {min} to {max}"));
                None
            }
        }
    }

    pub(super) fn text(&mut self, field: &str, required: bool) -> Option<String> {
        let value = self.value(field, required)?;
        match value.as_str() {
            Some(s) if !(required && s.is_empty()) => Some(s.to_owned()),
            Some(_) => {
                self.invalid(field, "must not be empty");
                None
            }
            None => {
                self.invalid(field, "must be a string");
                None
            }
        }
    }

    pub(super) fn choice(
        &mut self,
        field: &str,
        required: bool,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        let value = self.value(field, required)?;
        let found = value
            .as_str()
            .and_then(|s| allowed.iter().copied().find(|a| *a == s));
        if found.is_none() {
            self.invalid(field, &format!("must be one of {}", allowed.join(", ")));
        }
        found
    }

    pub(super) fn object(&mut self, field: &str) -> Option<Map<String, Value>> {
        let value = self.value(field, false)?;
        let object = value.as_object().cloned();
        if object.is_none() {
            self.invalid(field, "must be an object");
        }
        object
    }

    /// An object that may be required; a missing required one is named.
    pub(super) fn required_object(
        &mut self,
        field: &str,
        required: bool,
    ) -> Option<Map<String, Value>> {
        let value = self.value(field, required)?;
        let object = value.as_object().cloned();
        if object.is_none() {
            self.invalid(field, "must be an object");
        }
        object
    }

    pub(super) fn list(&mut self, field: &str, required: bool) -> Option<Vec<Value>> {
        let value = self.value(field, required)?;
        let list = value.as_array().cloned();
        if list.is_none() {
            self.invalid(field, "must be an array");
        }
        list
    }

    pub(super) fn strings(&mut self, field: &str) -> Option<Vec<String>> {
        let list = self.list(field, false)?;
        let strings: Option<Vec<String>> =
            list.iter().map(|v| v.as_str().map(str::to_owned)).collect();
        if strings.is_none() {
            self.invalid(field, "must be an array of strings");
        }
        strings
    }

    /// Takes the problems of a nested object's reader.
    pub(super) fn absorb(&mut self, nested: Input<'_>) {
        self.details.extend(nested.details);
    }

    /// The parsed request, or the 400 listing every problem.
    pub(super) fn finish<T>(self, parsed: Option<T>) -> Result<T, ApiError> {
        match parsed {
            Some(value) if self.details.is_empty() => Ok(value),
            _ if self.details.is_empty() => {
                Err(ApiError::invalid(vec!["body: is invalid".to_owned()]))
            }
            _ => Err(ApiError::invalid(self.details)),
        }
    }
}

/// The JSON object body; an empty body is `{}` (the cancellation has none).
pub(super) fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    json_object(body, true).map_err(|problem| {
        let detail = match problem {
            NotAnObject::OtherJson => "body: must be a JSON object",
            NotAnObject::NotJson => "body: is not valid JSON",
        };
        ApiError::invalid(vec![detail.to_owned()])
    })
}
