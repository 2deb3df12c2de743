//! Cards as an acquirer checks them: digits, Luhn, CVC, expiry, scheme.

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Map, Value};

use super::books::{Card, Pan};
use super::errors::ApiError;
use super::input::field;

/// A card field as text; numbers are tolerated for the expiry fields, which
/// some clients send as integers.
pub(super) fn card_text(card: &Map<String, Value>, name: &str) -> Option<String> {
    match field(card, name)? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

pub(super) fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Validates the card as an acquirer would before asking the issuer. The
/// messages never repeat what was sent: card data stays out of answers that
/// a client may log.
pub(super) fn parse_card(card: &Map<String, Value>, now: DateTime<Utc>) -> Result<Card, ApiError> {
    let number = match field(card, "number") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(ApiError::invalid_card("card.number is required")),
    };
    if !all_digits(&number) || !(12..=19).contains(&number.len()) {
        return Err(ApiError::invalid_card(
            "card.number must be 12 to 19 digits",
        ));
    }
    if !luhn_valid(&number) {
        return Err(ApiError::invalid_card("card.number fails the Luhn check"));
    }
    let cvc = match field(card, "cvc") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(ApiError::invalid_card("card.cvc is required")),
    };
    if !all_digits(cvc) || !(3..=4).contains(&cvc.len()) {
        return Err(ApiError::invalid_card("card.cvc must be 3 or 4 digits"));
    }
    let exp_month = card_text(card, "expiry_month").unwrap_or_default();
    let month = Some(exp_month.as_str())
        .filter(|m| all_digits(m) && m.len() <= 2)
        .and_then(|m| m.parse::<u32>().ok())
        .filter(|m| (1..=12).contains(m))
        .ok_or_else(|| ApiError::invalid_card("card.expiry_month must be 1 to 12"))?;
    let exp_year = card_text(card, "expiry_year").unwrap_or_default();
    let year = expiry_year(&exp_year)
        .ok_or_else(|| ApiError::invalid_card("card.expiry_year must be 2 or 4 digits"))?;
    // A card is good through the last day of its expiry month.
    // GUESS: judged in UTC; the gateway's own time zone is not documented.
    if (year, month) < (now.year(), now.month()) {
        return Err(ApiError::invalid_card("the card has expired"));
    }
    let name = match field(card, "name") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::invalid_card("card.name must be a string")),
    };
    let (payment_method, scheme) = card_scheme(&number);
    Ok(Card {
        pan: Pan(number),
        name,
        exp_month,
        exp_year,
        payment_method,
        scheme,
    })
}

/// "24" is 2024, "2024" is 2024.
pub(super) fn expiry_year(text: &str) -> Option<i32> {
    if !all_digits(text) {
        return None;
    }
    let year: i32 = text.parse().ok()?;
    match text.len() {
        2 => Some(2000 + year),
        4 => Some(year),
        _ => None,
    }
}

pub(super) fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `(payment_method, scheme)` from the card's leading digits.
/// GUESS: only MASTERCARD / ECMC-SSL is shown by the sources; the other names
/// follow the same (Worldpay-style) pattern.
pub(super) fn card_scheme(pan: &str) -> (&'static str, &'static str) {
    let prefix = |n: usize| pan.get(..n).and_then(|p| p.parse::<u32>().ok());
    let in_range =
        |n: usize, low: u32, high: u32| prefix(n).is_some_and(|p| (low..=high).contains(&p));
    if pan.starts_with('4') {
        ("VISA-SSL", "VISA")
    } else if in_range(2, 51, 55) || in_range(4, 2221, 2720) {
        ("ECMC-SSL", "MASTERCARD")
    } else if in_range(2, 34, 34) || in_range(2, 37, 37) {
        ("AMEX-SSL", "AMEX")
    } else if in_range(4, 3528, 3589) {
        ("JCB-SSL", "JCB")
    } else if in_range(2, 36, 36) || in_range(2, 38, 39) || in_range(3, 300, 305) {
        ("DINERS-SSL", "DINERS")
    } else {
        ("CARD-SSL", "UNKNOWN")
    }
}

/// First six, stars, last four: the status fixture's `545454******5454`.
pub(super) fn mask_pan(pan: &str) -> String {
    if pan.len() < 10 || !pan.is_ascii() {
        return "*".repeat(pan.len());
    }
    let stars = "*".repeat(pan.len() - 10);
    format!("{}{stars}{}", &pan[..6], &pan[pan.len() - 4..])
}
