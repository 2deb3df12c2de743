//! Smartpay's configuration block: `KESSAI_SMARTPAY_*`.

use std::sync::Arc;

use secrecy::SecretString;

use crate::env_vars::provider_keys::KeyShape;
use crate::env_vars::{ConfigError, Env, Mode};
use crate::providers::PaymentProvider;
use crate::providers::http::HttpSettings;

pub const BASE_URL: &str = "https://api.smartpay.co/v1";
const SECRET_KEY: &str = "KESSAI_SMARTPAY_SECRET_KEY";

/// The SDKs' own check (`^sk_(test|live)_[0-9a-zA-Z]+$`, and `pk_…` for
/// the public keys a browser uses).
pub const KEY_SHAPE: KeyShape = KeyShape {
    provider: "Smartpay",
    test: "sk_test_",
    live: "sk_live_",
    public: &["pk_test_", "pk_live_"],
    body: |b| b.is_ascii_alphanumeric(),
    body_says: "letters and digits",
};

#[derive(Debug, Clone)]
pub struct SmartpaySettings {
    pub secret_key: SecretString,
    pub base_url: String,
}

/// Whether any Smartpay credential is set (outside sandbox mode it must be).
pub fn credential_set(env: &Env<'_>) -> Result<bool, ConfigError> {
    Ok(env.secret(SECRET_KEY)?.is_some())
}

/// The settings, or `None` when Smartpay is not configured (or in sandbox
/// mode, where the simulator stands in); a key of another shape or mode is
/// recorded on `env`.
pub fn from_env(env: &Env<'_>, mode: Mode) -> Result<Option<SmartpaySettings>, ConfigError> {
    let key = (SECRET_KEY, &KEY_SHAPE);
    let settings = env.key_and_url(mode, key, "KESSAI_SMARTPAY_BASE_URL", BASE_URL)?;
    Ok(settings.map(|(secret_key, base_url)| SmartpaySettings {
        secret_key,
        base_url,
    }))
}

/// The adapter these settings describe.
pub fn adapter(settings: &SmartpaySettings, http: &HttpSettings) -> Arc<dyn PaymentProvider> {
    Arc::new(super::Smartpay::new(super::SmartpayConfig {
        base_url: settings.base_url.clone(),
        secret_key: settings.secret_key.clone(),
        http: http.clone(),
    }))
}
