//! The caller's idempotency key.

use super::error::{InvalidInput, Reason};

/// 1–255 characters of `[A-Za-z0-9_-]`: the same alphabet PAY.JP accepts, so
/// a key is safe in any header or log line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        let problem = if value.is_empty() {
            Some("is required".to_owned())
        } else if value.len() > Self::MAX_LEN {
            Some(format!(
                "must be at most {} characters, got {}",
                Self::MAX_LEN,
                value.len()
            ))
        } else if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Some("may contain only A-Z, a-z, 0-9, '_' and '-'".to_owned())
        } else {
            None
        };
        match problem {
            Some(description) => Err(InvalidInput::new(
                Reason::InvalidIdempotencyKey,
                "idempotency_key",
                description,
            )),
            None => Ok(Self(value.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet_up_to_255() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse("Order-1001_capture").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
    }

    #[test]
    fn refuses_missing_overlong_and_foreign_characters() {
        for bad in [
            String::new(),
            "k".repeat(256),
            "a b".into(),
            "キー".into(),
            "a/b".into(),
        ] {
            let e = IdempotencyKey::parse(&bad).unwrap_err();
            assert_eq!(e.reason, Reason::InvalidIdempotencyKey);
            assert_eq!(e.violations[0].field, "idempotency_key");
        }
    }
}
