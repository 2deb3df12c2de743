//! Card data for one request. The number and the CVC live only in memory,
//! wrapped so that no `Debug`, `Display` or serialization can print them;
//! at most the first six and last four digits are ever kept.

use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::error::{InvalidInput, Reason};

/// A primary account number: 12–19 digits passing the Luhn check.
#[derive(Clone)]
pub struct CardNumber(SecretString);

impl CardNumber {
    /// Spaces and dashes are accepted as separators. Errors never echo the
    /// number.
    pub fn parse(value: &str, field: &str) -> Result<Self, InvalidInput> {
        let digits: String = value.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let invalid = |why: &str| InvalidInput::new(Reason::InvalidCard, field, why);
        if digits.is_empty() {
            return Err(invalid("is required"));
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("must contain only digits"));
        }
        if !(12..=19).contains(&digits.len()) {
            return Err(invalid("must be 12 to 19 digits long"));
        }
        if !luhn(&digits) {
            return Err(invalid("fails the check-digit (Luhn) test"));
        }
        Ok(Self(SecretString::from(digits)))
    }

    /// The first six digits (the BIN), which may be kept.
    pub fn bin(&self) -> String {
        self.0.expose_secret()[..6].to_owned()
    }

    /// The last four digits, which may be kept.
    pub fn last4(&self) -> String {
        let digits = self.0.expose_secret();
        digits[digits.len() - 4..].to_owned()
    }

    /// The full number, for the one provider request that needs it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({}…{})", self.bin(), self.last4())
    }
}

fn luhn(digits: &str) -> bool {
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

/// A card verification code: 3 or 4 digits, never stored or logged.
#[derive(Clone)]
pub struct Cvc(SecretString);

impl Cvc {
    pub fn parse(value: &str, field: &str) -> Result<Self, InvalidInput> {
        let valid = (3..=4).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
        if valid {
            Ok(Self(SecretString::from(value.to_owned())))
        } else {
            Err(InvalidInput::new(
                Reason::InvalidCard,
                field,
                "must be 3 or 4 digits",
            ))
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Cvc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvc([REDACTED])")
    }
}

/// A card as given for one authorization.
#[derive(Clone)]
pub struct CardInput {
    pub number: CardNumber,
    pub cvc: Cvc,
    pub exp_month: u32,
    pub exp_year: i32,
    /// The cardholder's name (personal data: never logged).
    pub name: SecretString,
}

impl fmt::Debug for CardInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardInput")
            .field("number", &self.number)
            .field("cvc", &self.cvc)
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("name", &"[REDACTED]")
            .finish()
    }
}

impl PartialEq for CardInput {
    fn eq(&self, other: &Self) -> bool {
        self.number.expose() == other.number.expose()
            && self.cvc.expose() == other.cvc.expose()
            && self.exp_month == other.exp_month
            && self.exp_year == other.exp_year
            && self.name.expose_secret() == other.name.expose_secret()
    }
}

impl Eq for CardInput {}

/// Checks the expiry month and year are well formed.
pub fn parse_expiry(month: i32, year: i32, field: &str) -> Result<(u32, i32), InvalidInput> {
    if !(1..=12).contains(&month) {
        return Err(InvalidInput::new(
            Reason::InvalidCard,
            format!("{field}.expiry_month"),
            "must be 1 to 12",
        ));
    }
    if !(2000..=2199).contains(&year) {
        return Err(InvalidInput::new(
            Reason::InvalidCard,
            format!("{field}.expiry_year"),
            "must be a four-digit year",
        ));
    }
    Ok((month as u32, year))
}

impl CardInput {
    /// A card is good through the end of its expiry month.
    pub fn check_not_expired(&self, now: DateTime<Utc>, field: &str) -> Result<(), InvalidInput> {
        if (self.exp_year, self.exp_month) < (now.year(), now.month()) {
            return Err(InvalidInput::new(
                Reason::InvalidCard,
                format!("{field}.expiry_year"),
                "the card has expired",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAN: &str = "4111111111111111";

    #[test]
    fn luhn_valid_numbers_of_every_length_parse() {
        for pan in [
            "5200000000001005",
            "4000000000000002",
            "378282246310005",
            "6011 1111 1111 1117",
        ] {
            assert!(CardNumber::parse(pan, "card.number").is_ok(), "{pan}");
        }
    }

    #[test]
    fn bad_numbers_are_refused_without_being_echoed() {
        for bad in ["4111111111111112", "41111111111", "4111-1111-1111-111a", ""] {
            let e = CardNumber::parse(bad, "card.number").unwrap_err();
            assert_eq!(e.reason, Reason::InvalidCard);
            if !bad.is_empty() {
                assert!(!e.to_string().contains(&bad.replace('-', "")[..8]), "{e}");
            }
        }
    }

    #[test]
    fn only_the_bin_and_the_last_four_can_be_printed() {
        let number = CardNumber::parse(PAN, "card.number").unwrap();
        assert_eq!(
            (number.bin().as_str(), number.last4().as_str()),
            ("411111", "1111")
        );
        let card = CardInput {
            number,
            cvc: Cvc::parse("737", "card.cvc").unwrap(),
            exp_month: 3,
            exp_year: 2030,
            name: SecretString::from("TARO YAMADA"),
        };
        let printed = format!("{card:?}");
        assert!(
            !printed.contains(PAN) && !printed.contains("737") && !printed.contains("TARO"),
            "{printed}"
        );
    }

    #[test]
    fn cvcs_are_three_or_four_digits() {
        assert!(Cvc::parse("123", "cvc").is_ok());
        assert!(Cvc::parse("1234", "cvc").is_ok());
        for bad in ["12", "12345", "12a", ""] {
            assert!(Cvc::parse(bad, "cvc").is_err());
        }
    }

    fn card(month: u32, year: i32) -> CardInput {
        CardInput {
            number: CardNumber::parse(PAN, "card.number").unwrap(),
            cvc: Cvc::parse("123", "card.cvc").unwrap(),
            exp_month: month,
            exp_year: year,
            name: SecretString::from(""),
        }
    }

    #[test]
    fn a_card_is_good_through_its_expiry_month() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
            .unwrap()
            .to_utc();
        assert!(card(11, 2026).check_not_expired(now, "card").is_ok());
        assert!(card(12, 2031).check_not_expired(now, "card").is_ok());
        let e = card(10, 2026).check_not_expired(now, "card").unwrap_err();
        assert_eq!(e.violations[0].field, "card.expiry_year");
    }

    #[test]
    fn expiry_fields_are_checked_for_form() {
        assert_eq!(parse_expiry(12, 2031, "card").unwrap(), (12, 2031));
        assert_eq!(
            parse_expiry(13, 2027, "card").unwrap_err().violations[0].field,
            "card.expiry_month"
        );
        assert_eq!(
            parse_expiry(1, 27, "card").unwrap_err().violations[0].field,
            "card.expiry_year"
        );
    }
}
