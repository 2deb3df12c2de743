//! Bounded free text and metadata supplied by callers.

use std::collections::BTreeMap;

use super::error::{InvalidInput, Reason};

/// Checks an optional free-text field: at most `max` characters, no control
/// characters (they end up in provider requests and audit lines).
pub fn bounded_text(value: &str, field: &str, max: usize) -> Result<String, InvalidInput> {
    let chars = value.chars().count();
    if chars > max {
        return Err(InvalidInput::new(
            Reason::InvalidArgument,
            field,
            format!("must be at most {max} characters, got {chars}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            Reason::InvalidArgument,
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// Caller metadata kept with an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    pub const MAX_KEYS: usize = 50;
    pub const MAX_KEY_LEN: usize = 40;
    pub const MAX_VALUE_LEN: usize = 500;

    pub fn parse<'a>(
        entries: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Self, InvalidInput> {
        let mut map = BTreeMap::new();
        for (key, value) in entries {
            if key.is_empty() {
                return Err(InvalidInput::new(
                    Reason::InvalidArgument,
                    "metadata",
                    "keys must not be empty",
                ));
            }
            let field = format!("metadata[{key}]");
            let key = bounded_text(key, &field, Self::MAX_KEY_LEN)?;
            let value = bounded_text(value, &field, Self::MAX_VALUE_LEN)?;
            map.insert(key, value);
        }
        if map.len() > Self::MAX_KEYS {
            return Err(InvalidInput::new(
                Reason::InvalidArgument,
                "metadata",
                format!("at most {} keys, got {}", Self::MAX_KEYS, map.len()),
            ));
        }
        Ok(Self(map))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    pub fn into_inner(self) -> BTreeMap<String, String> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_bounded_in_characters_not_bytes() {
        assert!(bounded_text(&"決".repeat(255), "description", 255).is_ok());
        assert!(bounded_text(&"決".repeat(256), "description", 255).is_err());
        assert!(bounded_text("a\u{0}b", "description", 255).is_err());
    }

    #[test]
    fn metadata_limits_keys_and_sizes() {
        let ok: BTreeMap<String, String> = (0..50).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(Metadata::parse(&ok).is_ok());
        let many: BTreeMap<String, String> =
            (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(Metadata::parse(&many).is_err());
        let long_key: BTreeMap<String, String> = [("k".repeat(41), "v".into())].into();
        assert!(Metadata::parse(&long_key).is_err());
        let long_value: BTreeMap<String, String> = [("k".into(), "v".repeat(501))].into();
        assert_eq!(
            Metadata::parse(&long_value).unwrap_err().violations[0].field,
            "metadata[k]"
        );
    }
}
