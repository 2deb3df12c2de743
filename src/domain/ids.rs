//! kessai's own identifiers: a type prefix and a ULID, so ids sort by creation
//! time and a capture id can never be passed where an order id is expected.

use std::fmt;

use super::error::{InvalidInput, Reason};

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, ulid::Ulid::new()))
            }

            /// Accepts only `<prefix><26-character ULID>`.
            pub fn parse(value: &str, field: &str) -> Result<Self, InvalidInput> {
                let valid = value
                    .strip_prefix($prefix)
                    .is_some_and(|rest| ulid::Ulid::from_string(rest).is_ok());
                if valid {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(InvalidInput::new(
                        Reason::InvalidOrderId,
                        field,
                        format!("must be \"{}\" followed by a 26-character ULID", $prefix),
                    ))
                }
            }

            /// For ids read back from the database, which were valid when written.
            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// An order: `ord_…`.
    OrderId,
    "ord_"
);
prefixed_id!(
    /// A capture: `cap_…`.
    CaptureId,
    "cap_"
);
prefixed_id!(
    /// A refund: `ref_…`.
    RefundId,
    "ref_"
);
prefixed_id!(
    /// One provider call recorded before it is made: `att_…`.
    AttemptId,
    "att_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let id = OrderId::generate();
        assert_eq!(OrderId::parse(id.as_str(), "order_id").unwrap(), id);
        assert_eq!(id.as_str().len(), 4 + 26);
    }

    #[test]
    fn ids_of_another_kind_or_malformed_are_refused() {
        let capture = CaptureId::generate();
        for bad in [
            capture.as_str(),
            "",
            "ord_",
            "ord_123",
            "ORD_01J0000000000000000000000",
        ] {
            let e = OrderId::parse(bad, "order_id").unwrap_err();
            assert_eq!(e.reason, Reason::InvalidOrderId, "{bad}");
        }
    }

    #[test]
    fn ids_sort_by_creation() {
        let first = OrderId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = OrderId::generate();
        assert!(first < second);
    }
}
