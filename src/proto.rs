//! Code generated from `proto/kessai/v1/payment.proto`.

#[allow(clippy::all, missing_docs)]
pub mod kessai {
    pub mod v1 {
        tonic::include_proto!("kessai.v1");
    }
}

pub use kessai::v1;

/// The compiled contract, comments included, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/kessai_descriptor.bin"));

impl std::fmt::Debug for v1::Card {
    /// A card is never printed: at most its first six and last four digits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits: String = self.number.chars().filter(char::is_ascii_digit).collect();
        let masked = if digits.len() >= 12 {
            format!("{}…{}", &digits[..6], &digits[digits.len() - 4..])
        } else {
            "[REDACTED]".to_owned()
        };
        f.debug_struct("Card")
            .field("number", &masked)
            .field("cvc", &"[REDACTED]")
            .field("expiry_month", &self.expiry_month)
            .field("expiry_year", &self.expiry_year)
            .field("name", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::v1::Card;

    #[test]
    fn debug_never_prints_the_number_or_the_cvc() {
        let card = Card {
            number: "4242424242424242".into(),
            cvc: "987".into(),
            expiry_month: 12,
            expiry_year: 2031,
            name: "TARO YAMADA".into(),
        };
        let printed = format!("{card:?}");
        assert!(!printed.contains("4242424242424242"));
        assert!(!printed.contains("987"));
        assert!(!printed.contains("TARO"));
        assert!(printed.contains("424242…4242"));
    }
}
