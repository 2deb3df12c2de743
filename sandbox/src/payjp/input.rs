//! Request validation with pydantic-style messages, as PAY.JP's 422 shows.

use serde_json::{Map, Value};

use super::errors::{ApiError, join_alternatives};
use super::wire::FieldError;
use super::{EXTENDED_AUTHORIZATION_CHOICES, MAX_METADATA_KEYS, THREE_D_SECURE_CHOICES};
use crate::pipeline::reply::{NotAnObject, json_object};

/// Reads fields of a JSON object body, collecting every problem so one 422
/// lists them all. `null` counts as absent, as for optional pydantic fields.
pub(super) struct Input<'a> {
    pub(super) body: &'a Map<String, Value>,
    pub(super) errors: Vec<FieldError>,
}

impl<'a> Input<'a> {
    pub(super) fn new(body: &'a Map<String, Value>) -> Self {
        Self {
            body,
            errors: Vec::new(),
        }
    }

    pub(super) fn get(&self, field: &str) -> Option<&'a Value> {
        self.body.get(field).filter(|v| !v.is_null())
    }

    pub(super) fn invalid(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    pub(super) fn require(&mut self, field: &str) -> bool {
        let present = self.get(field).is_some();
        if !present {
            self.invalid(field, "Field required");
        }
        present
    }

    pub(super) fn string(&mut self, field: &str) -> Option<String> {
        let value = self.get(field)?;
        self.string_value(field, value)
    }

    pub(super) fn string_value(&mut self, field: &str, value: &Value) -> Option<String> {
        match value.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                self.invalid(field, "Input should be a valid string");
                None
            }
        }
    }

    /// Strict integers only (PAY.JP's schema says `strict=True`): 100.0 and
    /// "100" are refused.
    pub(super) fn integer(&mut self, field: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.get(field)?;
        let Some(n) = value.as_i64() else {
            self.invalid(field, "Input should be a valid integer");
            return None;
        };
        if n < min {
            self.invalid(
                field,
                format!("Input should be greater than or equal to {min}"),
            );
            None
        } else if n > max {
            self.invalid(
                field,
                format!("Input should be less than or equal to {max}"),
            );
            None
        } else {
            Some(n)
        }
    }

    pub(super) fn boolean(&mut self, field: &str) -> Option<bool> {
        let value = self.get(field)?;
        let parsed = value.as_bool();
        if parsed.is_none() {
            self.invalid(field, "Input should be a valid boolean");
        }
        parsed
    }

    pub(super) fn choice(&mut self, field: &str, allowed: &[&str]) -> Option<String> {
        let value = self.get(field)?;
        self.choice_value(field, value, allowed)
    }

    pub(super) fn choice_value(
        &mut self,
        field: &str,
        value: &Value,
        allowed: &[&str],
    ) -> Option<String> {
        let text = self.string_value(field, value)?;
        if allowed.contains(&text.as_str()) {
            return Some(text);
        }
        let quoted: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
        let quoted: Vec<&str> = quoted.iter().map(String::as_str).collect();
        self.invalid(
            field,
            format!("Input should be {}", join_alternatives(&quoted)),
        );
        None
    }

    pub(super) fn choices(&mut self, field: &str, allowed: &[&str]) -> Option<Vec<String>> {
        let value = self.get(field)?;
        let Some(items) = value.as_array() else {
            self.invalid(field, "Input should be a valid list");
            return None;
        };
        let chosen: Vec<String> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.choice_value(&format!("{field}.{i}"), item, allowed))
            .collect();
        (chosen.len() == items.len()).then_some(chosen)
    }

    pub(super) fn object(&mut self, field: &str) -> Option<&'a Map<String, Value>> {
        let value = self.get(field)?;
        let object = value.as_object();
        if object.is_none() {
            self.invalid(field, "Input should be a valid dictionary");
        }
        object
    }

    /// Metadata values are strings, numbers or booleans, at most 20 keys.
    pub(super) fn metadata(&mut self, field: &str) -> Option<Map<String, Value>> {
        let map = self.object(field)?;
        if map.len() > MAX_METADATA_KEYS {
            self.invalid(
                field,
                format!("Dictionary should have at most {MAX_METADATA_KEYS} items"),
            );
            return None;
        }
        let before = self.errors.len();
        for (key, value) in map {
            if !(value.is_string() || value.is_number() || value.is_boolean()) {
                self.invalid(
                    &format!("{field}.{key}"),
                    "Input should be a valid string, integer or boolean",
                );
            }
        }
        (self.errors.len() == before).then(|| map.clone())
    }

    /// `payment_method_options` is kept as given (it is echoed back), after
    /// checking the card options the simulator acts on.
    pub(super) fn payment_method_options(&mut self, field: &str) -> Option<Value> {
        let options = self.object(field)?;
        let Some(card) = options.get("card").filter(|v| !v.is_null()) else {
            return Some(Value::Object(options.clone()));
        };
        let Some(card) = card.as_object() else {
            self.invalid(
                &format!("{field}.card"),
                "Input should be a valid dictionary",
            );
            return None;
        };
        let before = self.errors.len();
        let checks = [
            (
                "request_extended_authorization",
                EXTENDED_AUTHORIZATION_CHOICES,
            ),
            ("request_three_d_secure", THREE_D_SECURE_CHOICES),
        ];
        for (name, allowed) in checks {
            if let Some(value) = card.get(name).filter(|v| !v.is_null()) {
                self.choice_value(&format!("{field}.card.{name}"), value, allowed);
            }
        }
        (self.errors.len() == before).then(|| Value::Object(options.clone()))
    }

    /// `redirect_options.include_client_secret`, `true` unless given.
    pub(super) fn redirect_options(&mut self, field: &str) -> bool {
        let Some(options) = self.object(field) else {
            return true;
        };
        match options
            .get("include_client_secret")
            .filter(|v| !v.is_null())
        {
            None => true,
            Some(Value::Bool(include)) => *include,
            Some(_) => {
                self.invalid(
                    &format!("{field}.include_client_secret"),
                    "Input should be a valid boolean",
                );
                true
            }
        }
    }

    pub(super) fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

/// The JSON object body; an empty body is `{}` because capture, cancel and
/// confirm may be sent without one.
pub(super) fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    json_object(body, true).map_err(|problem| match problem {
        NotAnObject::OtherJson => ApiError::field("body", "Input should be a valid dictionary"),
        NotAnObject::NotJson => ApiError::field("body", "JSON decode error"),
    })
}
