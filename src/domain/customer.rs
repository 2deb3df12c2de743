//! The shopper as the shop knows them, the same for every provider: kept
//! with the order, shown in `Order`, found by ListOrders. Personal data: it
//! prints as redacted, and no refusal quotes it.

use super::error::{InvalidInput, Reason};
use super::text::bounded_text;

/// E-mail, name and phone as given, trimmed; `None` where not given.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Customer {
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// Whether a field is there, never what it says: a `{:?}` of an order (a
/// test's failed assertion, a future log line) must not carry the shopper.
impl std::fmt::Debug for Customer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |value: &Option<String>| if value.is_some() { "<redacted>" } else { "-" };
        f.debug_struct("Customer")
            .field("email", &shown(&self.email))
            .field("name", &shown(&self.name))
            .field("phone", &shown(&self.phone))
            .finish()
    }
}

impl Customer {
    /// RFC 5321's longest forward path, less its angle brackets.
    pub const MAX_EMAIL: usize = 254;
    pub const MAX_NAME: usize = 255;
    /// E.164 numbers are at most 15 digits; the rest is room for a prefix
    /// and separators as people write them.
    pub const MAX_PHONE: usize = 32;

    /// The customer of an Authorize request, its fields named under
    /// `field`; `None` when every field is empty. Every problem is named,
    /// none quotes the value.
    pub fn parse(
        email: &str,
        name: &str,
        phone: &str,
        field: &str,
    ) -> Result<Option<Self>, InvalidInput> {
        let mut problems: Vec<InvalidInput> = Vec::new();
        let mut take = |result: Result<Option<String>, InvalidInput>| {
            result.unwrap_or_else(|e| {
                problems.push(e);
                None
            })
        };
        let email = take(
            given(email, &format!("{field}.email"), Self::MAX_EMAIL).and_then(
                |email| match email {
                    Some(e) if !is_email(&e) => Err(InvalidInput::new(
                        Reason::InvalidArgument,
                        format!("{field}.email"),
                        "must be an e-mail address (one @ with text on both sides, no spaces)",
                    )),
                    other => Ok(other),
                },
            ),
        );
        let name = take(given(name, &format!("{field}.name"), Self::MAX_NAME));
        let phone = take(
            given(phone, &format!("{field}.phone"), Self::MAX_PHONE).and_then(
                |phone| match phone {
                    Some(p) if !is_phone(&p) => Err(InvalidInput::new(
                        Reason::InvalidArgument,
                        format!("{field}.phone"),
                        "must hold at least one digit and only digits, spaces and + - ( ) .",
                    )),
                    other => Ok(other),
                },
            ),
        );
        let mut problems = problems.into_iter();
        if let Some(mut first) = problems.next() {
            first.violations.extend(problems.flat_map(|p| p.violations));
            return Err(first);
        }
        let customer = Self { email, name, phone };
        Ok((customer != Self::default()).then_some(customer))
    }
}

/// A field trimmed, bounded and free of control characters; `None` when
/// empty.
fn given(value: &str, field: &str, max: usize) -> Result<Option<String>, InvalidInput> {
    let value = bounded_text(value.trim(), field, max)?;
    Ok((!value.is_empty()).then_some(value))
}

/// As much of an address as is worth checking without sending mail: one
/// `@` with something on both sides, and nothing a mail system splits on.
fn is_email(value: &str) -> bool {
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !value.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn is_phone(value: &str) -> bool {
    value.chars().any(|c| c.is_ascii_digit())
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_trimmed_and_an_empty_customer_is_none() {
        let customer = Customer::parse(" Taro@Example.JP ", " 山田 太郎 ", "+81 90-1234-5678", "c")
            .unwrap()
            .unwrap();
        assert_eq!(customer.email.as_deref(), Some("Taro@Example.JP"));
        assert_eq!(customer.name.as_deref(), Some("山田 太郎"));
        assert_eq!(customer.phone.as_deref(), Some("+81 90-1234-5678"));
        assert_eq!(Customer::parse("", "  ", "", "c").unwrap(), None);
        let name_only = Customer::parse("", "Hanako", "", "c").unwrap().unwrap();
        assert_eq!((name_only.email, name_only.phone), (None, None));
    }

    #[test]
    fn every_bad_field_is_named_and_none_is_quoted() {
        let secret = "not-an-address";
        let error = Customer::parse(secret, &"名".repeat(256), "call me", "customer").unwrap_err();
        let fields: Vec<&str> = error.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields.len(), 3, "{error:?}");
        for field in ["customer.email", "customer.name", "customer.phone"] {
            assert!(fields.contains(&field), "{field} in {fields:?}");
        }
        let text = format!("{error} {error:?}");
        assert!(
            !text.contains(secret) && !text.contains("call me"),
            "{text}"
        );
        for bad in ["a@", "@b", "a b@c", "a@b@c", "a\u{0}@b"] {
            assert!(Customer::parse(bad, "", "", "c").is_err(), "{bad}");
        }
        assert!(Customer::parse("", "", "+-()", "c").is_err());
        assert!(Customer::parse("", "", &"1".repeat(33), "c").is_err());
    }

    #[test]
    fn debug_says_which_fields_are_there_but_not_what_they_say() {
        let customer = Customer::parse("hanako@example.jp", "佐藤 花子", "", "c")
            .unwrap()
            .unwrap();
        let shown = format!("{customer:?}");
        assert!(
            !shown.contains("hanako") && !shown.contains("佐藤"),
            "{shown}"
        );
        assert!(
            shown.contains("<redacted>") && shown.contains("phone: \"-\""),
            "{shown}"
        );
    }
}
