//! Request parsing: the bodies of `authorization`, `payment`, `capture`,
//! `refund` and `void`.

use serde_json::{Map, Value};

use super::books::{Card, Env};
use super::cards::parse_card;
use super::errors::ApiError;
use super::{
    CURRENCY, MAX_MERCHANT_ID_CHARS, MAX_MERCHANT_TXN_REF_CHARS, MAX_NOTES_CHARS,
    MAX_TRANSACTION_ID_CHARS,
};
use crate::pipeline::reply::{NotAnObject, json_object};

pub(super) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    json_object(body, false).map_err(|problem| match problem {
        NotAnObject::OtherJson => ApiError::bad_request("The request body must be a JSON object."),
        NotAnObject::NotJson => ApiError::bad_request("The request body is not valid JSON."),
    })
}

/// A field that is absent or `null` counts as not sent.
pub(super) fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).filter(|v| !v.is_null())
}

pub(super) fn optional_text<'a>(
    body: &'a Map<String, Value>,
    name: &str,
    max_chars: usize,
) -> Result<Option<&'a str>, ApiError> {
    let Some(value) = field(body, name) else {
        return Ok(None);
    };
    let Some(text) = value.as_str() else {
        return Err(ApiError::bad_request(format!("`{name}` must be a string.")));
    };
    if text.chars().count() > max_chars {
        return Err(ApiError::bad_request(format!(
            "`{name}` must be at most {max_chars} characters."
        )));
    }
    Ok(Some(text))
}

pub(super) fn required_text<'a>(
    body: &'a Map<String, Value>,
    name: &str,
    max_chars: usize,
) -> Result<&'a str, ApiError> {
    optional_text(body, name, max_chars)?
        .filter(|text| !text.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("`{name}` is required.")))
}

/// Whole yen, as a JSON number or a numeric string: the docs' requests send
/// "1000" and their answers 1000.
pub(super) fn parse_amount(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            // 1000.0 is still whole yen; beyond 2^53 a float is not exact.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => {
            let s = s.trim();
            let digits = !s.is_empty() && s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| s.parse().ok()).flatten()
        }
        _ => None,
    }
}

pub(super) fn required_amount(body: &Map<String, Value>) -> Result<i64, ApiError> {
    let value =
        field(body, "amount").ok_or_else(|| ApiError::bad_request("`amount` is required."))?;
    parse_amount(value).ok_or_else(|| {
        ApiError::bad_request(
            "`amount` must be a whole number of yen (a JSON number or a numeric string).",
        )
    })
}

pub(super) fn check_merchant(body: &Map<String, Value>, env: &Env<'_>) -> Result<(), ApiError> {
    let sent = required_text(body, "merchant_id", MAX_MERCHANT_ID_CHARS)?;
    if sent == env.merchant_id {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "`merchant_id` does not match this merchant account.",
        ))
    }
}

/// The body of `authorization` and `payment`.
pub(super) struct AuthorizationRequest {
    pub(super) amount: i64,
    pub(super) card: Card,
    pub(super) merchant_txn_ref: String,
    pub(super) customer_ip: Option<String>,
    pub(super) billing_address: Value,
    pub(super) shipping_address: Value,
    pub(super) webhook_url: Option<String>,
}

impl AuthorizationRequest {
    /// Request errors (400) come before card errors (406), so a caller fixing
    /// its request sees the structural mistakes first.
    pub(super) fn parse(body: &Map<String, Value>, env: &Env<'_>) -> Result<Self, ApiError> {
        check_merchant(body, env)?;
        let amount = required_amount(body)?;
        if amount < 1 {
            return Err(ApiError::bad_request("`amount` must be at least 1 yen."));
        }
        match field(body, "currency").and_then(Value::as_str) {
            Some(CURRENCY) => {}
            _ => return Err(ApiError::bad_request("`currency` must be \"JPY\".")),
        }
        let merchant_txn_ref = required_text(body, "merchant_txn_ref", MAX_MERCHANT_TXN_REF_CHARS)?;
        let customer_ip = optional_text(body, "customer_ip", 64)?;
        let webhook_url = optional_object(body, "return_url")?
            .get("webhook_url")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let billing_address = optional_object(body, "billing_address")?;
        let shipping_address = optional_object(body, "shipping_address")?;
        let Some(card) = field(body, "card").and_then(Value::as_object) else {
            return Err(ApiError::bad_request("`card` must be an object."));
        };
        Ok(Self {
            amount,
            card: parse_card(card, env.now)?,
            merchant_txn_ref: merchant_txn_ref.to_owned(),
            customer_ip: customer_ip.map(str::to_owned),
            billing_address,
            shipping_address,
            webhook_url,
        })
    }
}

pub(super) fn optional_object(body: &Map<String, Value>, name: &str) -> Result<Value, ApiError> {
    match field(body, name) {
        None => Ok(Value::Null),
        Some(value @ Value::Object(_)) => Ok(value.clone()),
        Some(_) => Err(ApiError::bad_request(format!(
            "`{name}` must be an object."
        ))),
    }
}

/// The body of `capture`, `refund` and `void`.
pub(super) struct FollowUpRequest {
    pub(super) transaction_id: String,
    pub(super) amount: Option<i64>,
}

impl FollowUpRequest {
    pub(super) fn parse(
        body: &Map<String, Value>,
        env: &Env<'_>,
        needs_amount: bool,
    ) -> Result<Self, ApiError> {
        check_merchant(body, env)?;
        let transaction_id = required_text(body, "transactionId", MAX_TRANSACTION_ID_CHARS)?;
        let amount = if needs_amount {
            Some(required_amount(body)?)
        } else {
            None
        };
        // Notes are accepted and validated but not shown in any answer.
        optional_text(body, "notes", MAX_NOTES_CHARS)?;
        Ok(Self {
            transaction_id: transaction_id.to_owned(),
            amount,
        })
    }
}
