//! Proto ⇄ domain. Requests are parsed into commands here ("parse, don't
//! validate"): every field problem is collected into one INVALID_ARGUMENT
//! with a field violation each.

mod authorize;
#[cfg(feature = "example-provider")]
mod example;
mod list;
mod operations;
mod order;
mod payjp;
mod paymentoptions;
mod smartpay;

pub(super) use list::provider_filter;
pub use order::{provider, status};

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::domain::text::bounded_text;
use crate::domain::{Amount, InvalidInput, OrderId, PostalAddress, Reason};
use crate::payments::PaymentError;
use crate::proto::v1;

/// Longest accepted free-text field (references, descriptions, ids of
/// provider objects).
pub const MAX_TEXT: usize = 255;
const MAX_URL: usize = 2048;
const MAX_PAGE_TOKEN: usize = 1024;

/// Gathers field problems so one answer lists them all.
#[derive(Default)]
pub(super) struct Violations(Vec<InvalidInput>);

impl Violations {
    pub(super) fn check<T>(&mut self, result: Result<T, InvalidInput>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub(super) fn finish(self) -> Result<(), PaymentError> {
        let mut all = self.0.into_iter();
        let Some(first) = all.next() else {
            return Ok(());
        };
        let mut merged = first;
        for other in all {
            merged.violations.extend(other.violations);
        }
        Err(PaymentError::Invalid(merged))
    }
}

fn text(value: &str, field: &str) -> Result<String, InvalidInput> {
    bounded_text(value, field, MAX_TEXT)
}

fn optional_text(value: &str, field: &str) -> Result<Option<String>, InvalidInput> {
    text(value, field).map(|v| (!v.is_empty()).then_some(v))
}

fn optional_url(value: &str, field: &str) -> Result<Option<String>, InvalidInput> {
    if value.is_empty() {
        return Ok(None);
    }
    let value = bounded_text(value, field, MAX_URL)?;
    match url::Url::parse(&value) {
        Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(Some(value)),
        Ok(_) | Err(_) => Err(InvalidInput::new(
            Reason::InvalidArgument,
            field,
            "must be an http(s) URL",
        )),
    }
}

fn address(a: &v1::Address, field: &str) -> Result<PostalAddress, InvalidInput> {
    let country = text(&a.country, &format!("{field}.country"))?;
    if !(country.is_empty()
        || (country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase())))
    {
        return Err(InvalidInput::new(
            Reason::InvalidArgument,
            format!("{field}.country"),
            "must be an ISO 3166-1 alpha-2 code such as JP",
        ));
    }
    Ok(PostalAddress {
        line1: text(&a.line1, &format!("{field}.line1"))?,
        line2: text(&a.line2, &format!("{field}.line2"))?,
        city: text(&a.city, &format!("{field}.city"))?,
        state: text(&a.state, &format!("{field}.state"))?,
        postal_code: text(&a.postal_code, &format!("{field}.postal_code"))?,
        country,
    })
}

fn missing(field: impl Into<String>) -> InvalidInput {
    InvalidInput::new(Reason::InvalidArgument, field, "is required by Smartpay")
}

fn optional_amount(amount: Option<i64>) -> Result<Option<Amount>, InvalidInput> {
    amount.map(|a| Amount::parse(a, "amount")).transpose()
}

pub fn order_id(value: &str) -> Result<OrderId, PaymentError> {
    Ok(OrderId::parse(value, "order_id")?)
}

pub(super) fn ts(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;
