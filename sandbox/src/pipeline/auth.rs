//! Reading the credentials a request carries. Each simulator decides what
//! it accepts (PAY.JP: Bearer or HTTP Basic; Smartpay: the raw key after
//! `Basic`; PaymentOptions: the raw or base64 key after `Basic`, and
//! `x-api-key`); the reading is shared.

use axum::http::{HeaderMap, header};
use base64::Engine as _;

/// A header's value as text, trimmed; `None` when absent or not text.
pub(crate) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The `Authorization` header's scheme and (trimmed) credentials.
pub(crate) fn authorization(headers: &HeaderMap) -> Option<(&str, &str)> {
    let value = header_text(headers, header::AUTHORIZATION.as_str())?;
    let (scheme, credentials) = value.split_once(' ')?;
    Some((scheme, credentials.trim()))
}

/// The credentials after `Basic ` (any case), if that is the scheme.
pub(crate) fn basic(headers: &HeaderMap) -> Option<&str> {
    authorization(headers)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, credentials)| credentials)
}

/// Base64 text decoded, if it is base64 of UTF-8.
pub(crate) fn base64_text(encoded: &str) -> Option<String> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(decoded).ok()
}

/// The user part of HTTP Basic credentials (`base64(user:password)`).
pub(crate) fn basic_user(credentials: &str) -> Option<String> {
    let text = base64_text(credentials)?;
    let (user, _password) = text.split_once(':')?;
    Some(user.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(authorization).expect("a header value");
        headers.insert(header::AUTHORIZATION, value);
        headers
    }

    #[test]
    fn schemes_and_credentials_are_read_trimmed() {
        assert_eq!(
            authorization(&headers("  Bearer   sk_1 ")),
            Some(("Bearer", "sk_1"))
        );
        assert_eq!(basic(&headers("basic sk_1")), Some("sk_1"));
        assert_eq!(basic(&headers("Bearer sk_1")), None);
        assert_eq!(authorization(&headers("sk_1")), None);
        assert_eq!(authorization(&HeaderMap::new()), None);
    }

    #[test]
    fn basic_credentials_decode_to_their_user() {
        // base64("sk_1:")
        assert_eq!(basic_user("c2tfMTo="), Some("sk_1".to_owned()));
        assert_eq!(basic_user("sk_1"), None);
        assert_eq!(base64_text("c2tfMQ==").as_deref(), Some("sk_1"));
    }
}
