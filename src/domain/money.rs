//! Money: positive amounts in a currency's minor unit, and ISO 4217 codes.

use std::fmt;

use super::error::{InvalidInput, Reason};

/// An ISO 4217 currency the service knows, with its minor-unit exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

/// Active ISO 4217 codes and their minor-unit exponents. A code outside this
/// table is refused as unknown; whether a provider accepts a known one is a
/// provider rule.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AUD", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("MYR", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PHP", 2),
    ("PLN", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TRY", 2),
    ("TWD", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

impl Currency {
    pub const JPY: Currency = Currency {
        code: "JPY",
        exponent: 0,
    };

    pub fn parse(code: &str) -> Result<Self, InvalidInput> {
        let well_formed = code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase());
        if !well_formed {
            return Err(InvalidInput::new(
                Reason::InvalidCurrency,
                "currency",
                "must be a three-letter upper-case ISO 4217 code, e.g. JPY",
            ));
        }
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|&(code, exponent)| Currency { code, exponent })
            .ok_or_else(|| {
                InvalidInput::new(
                    Reason::InvalidCurrency,
                    "currency",
                    format!("{code} is not a known ISO 4217 currency"),
                )
            })
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    pub fn exponent(self) -> u8 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// A strictly positive amount in minor units, small enough that any sum of
/// amounts on one order cannot overflow an `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    /// One trillion minor units less one: far above any provider's limit,
    /// and a thousand of them still fit in an `i64`.
    pub const MAX: i64 = 999_999_999_999;

    pub fn parse(value: i64, field: &str) -> Result<Self, InvalidInput> {
        if value <= 0 {
            return Err(InvalidInput::new(
                Reason::InvalidAmount,
                field,
                format!("must be positive, got {value}"),
            ));
        }
        if value > Self::MAX {
            return Err(InvalidInput::new(
                Reason::InvalidAmount,
                field,
                format!("must be at most {}, got {value}", Self::MAX),
            ));
        }
        Ok(Self(value))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An amount with its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub amount: Amount,
    pub currency: Currency,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpy_has_no_minor_unit() {
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(jpy, Currency::JPY);
        assert_eq!(jpy.exponent(), 0);
    }

    #[test]
    fn malformed_and_unknown_codes_are_refused() {
        for code in ["", "jpy", "JP", "JPYY", "J1Y", "XYZ", "ＪＰＹ"] {
            let e = Currency::parse(code).unwrap_err();
            assert_eq!(e.reason, Reason::InvalidCurrency, "{code}");
            assert_eq!(e.violations[0].field, "currency");
        }
    }

    #[test]
    fn zero_negative_and_overflowing_amounts_are_refused() {
        for v in [0, -1, i64::MIN, Amount::MAX + 1, i64::MAX] {
            let e = Amount::parse(v, "amount").unwrap_err();
            assert_eq!(e.reason, Reason::InvalidAmount, "{v}");
        }
        assert_eq!(Amount::parse(1, "amount").unwrap().get(), 1);
        assert_eq!(
            Amount::parse(Amount::MAX, "amount").unwrap().get(),
            Amount::MAX
        );
    }

    #[test]
    fn a_thousand_maximal_amounts_do_not_overflow() {
        assert!(Amount::MAX.checked_mul(1000).is_some());
    }
}
