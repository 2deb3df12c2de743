//! Settings of the provider webhook listener.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use crate::env_vars::{ConfigError, Env};

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `KESSAI_WEBHOOK_ADDR`: where providers post notifications; unset, no
    /// listener.
    pub addr: Option<SocketAddr>,
    /// `KESSAI_WEBHOOK_PUBLIC_URL`: how providers reach that listener from
    /// outside (`https://host`), for providers told per request where to
    /// notify (PaymentOptions `return_url.webhook_url`).
    pub public_url: Option<String>,
    /// The signing secret Smartpay shows for the webhook endpoint (base62).
    pub smartpay_secret: Option<SecretString>,
    /// How far `Smartpay-Signature-Timestamp` may be from now.
    pub smartpay_tolerance: Duration,
    /// The token PAY.JP sends in `X-Payjp-Webhook-Token`.
    pub payjp_token: Option<SecretString>,
    /// Open connections to the listener; beyond it kessai stops accepting.
    pub max_connections: usize,
    /// How long a request's headers may take to arrive (slow senders).
    pub header_timeout: Duration,
    /// A connection with no request in progress for this long is closed.
    pub idle_timeout: Duration,
    /// Unsigned notifications (PaymentOptions): at most one provider lookup
    /// per order per interval, and so many per second from one address.
    pub hint_interval: Duration,
    pub hints_per_second: f64,
    /// Where PaymentOptions notifications may come from; empty: anywhere.
    pub paymentoptions_sources: Vec<crate::webhooks::sources::Network>,
}

pub(super) fn from_env(env: &Env<'_>) -> Result<WebhookSettings, ConfigError> {
    let public_url = env
        .get("KESSAI_WEBHOOK_PUBLIC_URL")
        .map(|url| url.trim().trim_end_matches('/').to_owned());
    if let Some(url) = &public_url {
        match url::Url::parse(url) {
            Err(e) => env.reject("KESSAI_WEBHOOK_PUBLIC_URL", e.to_string()),
            Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => env.reject(
                "KESSAI_WEBHOOK_PUBLIC_URL",
                "must be an http(s) URL, e.g. https://webhooks.example.com",
            ),
            Ok(_) => {}
        }
    }
    let smartpay_secret = env.secret("KESSAI_SMARTPAY_WEBHOOK_SECRET")?;
    if let Some(secret) = &smartpay_secret
        && crate::providers::smartpay::webhook::signing_key(secret).is_none()
    {
        env.reject(
            "KESSAI_SMARTPAY_WEBHOOK_SECRET",
            "must be the base62 signing secret Smartpay shows (letters and digits)",
        );
    }
    Ok(WebhookSettings {
        addr: env.parse("KESSAI_WEBHOOK_ADDR")?,
        public_url,
        smartpay_secret,
        smartpay_tolerance: Duration::from_secs(
            env.parse("KESSAI_SMARTPAY_WEBHOOK_TOLERANCE_SECS")?
                .unwrap_or(300),
        ),
        payjp_token: env.secret("KESSAI_PAYJP_WEBHOOK_TOKEN")?,
        max_connections: super::at_least_one(env, "KESSAI_WEBHOOK_MAX_CONNECTIONS", 256)?,
        header_timeout: Duration::from_secs(
            env.parse("KESSAI_WEBHOOK_HEADER_TIMEOUT_SECS")?
                .unwrap_or(10),
        ),
        idle_timeout: Duration::from_secs(
            env.parse("KESSAI_WEBHOOK_IDLE_TIMEOUT_SECS")?.unwrap_or(30),
        ),
        hint_interval: Duration::from_millis(
            env.parse("KESSAI_WEBHOOK_HINT_INTERVAL_MS")?
                .unwrap_or(10_000),
        ),
        hints_per_second: env
            .parse("KESSAI_WEBHOOK_HINTS_PER_SECOND")?
            .unwrap_or(10.0),
        paymentoptions_sources: match env.get("KESSAI_PAYMENTOPTIONS_WEBHOOK_SOURCES") {
            None => Vec::new(),
            Some(list) => crate::webhooks::sources::parse(&list).unwrap_or_else(|problem| {
                env.reject("KESSAI_PAYMENTOPTIONS_WEBHOOK_SOURCES", problem);
                Vec::new()
            }),
        },
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::super::tests::config_exactly as config;
    use super::*;

    #[test]
    fn no_listener_unless_an_address_is_set() {
        let c = config(&[]).unwrap().webhooks;
        assert!(c.addr.is_none() && c.smartpay_secret.is_none() && c.payjp_token.is_none());
        assert_eq!(c.smartpay_tolerance, Duration::from_secs(300));
        let c = config(&[
            ("KESSAI_WEBHOOK_ADDR", "0.0.0.0:8080"),
            ("KESSAI_SMARTPAY_WEBHOOK_TOLERANCE_SECS", "60"),
            ("KESSAI_WEBHOOK_PUBLIC_URL", "https://hooks.example.com/"),
        ])
        .unwrap()
        .webhooks;
        assert_eq!(c.addr.unwrap().port(), 8080);
        assert_eq!(c.smartpay_tolerance, Duration::from_secs(60));
        assert_eq!(c.public_url.as_deref(), Some("https://hooks.example.com"));
    }

    #[test]
    fn a_smartpay_secret_must_be_base62_and_a_public_url_http() {
        let e = config(&[("KESSAI_SMARTPAY_WEBHOOK_SECRET", "not base62!")]).unwrap_err();
        assert!(
            e.to_string().starts_with("KESSAI_SMARTPAY_WEBHOOK_SECRET"),
            "{e}"
        );
        assert!(
            !e.to_string().contains("not base62!"),
            "the value is not echoed: {e}"
        );
        let e = config(&[("KESSAI_WEBHOOK_PUBLIC_URL", "ftp://hooks.example.com")]).unwrap_err();
        assert!(
            e.to_string().starts_with("KESSAI_WEBHOOK_PUBLIC_URL"),
            "{e}"
        );
    }

    #[test]
    fn webhook_secrets_never_show_in_a_debug_dump() {
        let c = config(&[
            (
                "KESSAI_SMARTPAY_WEBHOOK_SECRET",
                "SmartpaySigningSecret0123",
            ),
            ("KESSAI_PAYJP_WEBHOOK_TOKEN", "whtok_payjp_secret_token"),
        ])
        .unwrap();
        let dump = format!("{c:?}");
        assert!(!dump.contains("SmartpaySigningSecret0123"), "{dump}");
        assert!(!dump.contains("whtok_payjp_secret_token"), "{dump}");
        assert_eq!(
            c.webhooks.payjp_token.unwrap().expose_secret(),
            "whtok_payjp_secret_token"
        );
    }
}
