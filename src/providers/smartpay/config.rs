//! Smartpay's configuration block: `KESSAI_SMARTPAY_*`.

use secrecy::SecretString;

use std::sync::Arc;

use crate::env_vars::{ConfigError, Env};
use crate::providers::PaymentProvider;
use crate::providers::http::HttpSettings;

pub const BASE_URL: &str = "https://api.smartpay.co/v1";
const SECRET_KEY: &str = "KESSAI_SMARTPAY_SECRET_KEY";

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
/// mode, where the simulator stands in).
pub fn from_env(env: &Env<'_>, sandbox: bool) -> Result<Option<SmartpaySettings>, ConfigError> {
    match (sandbox, env.secret(SECRET_KEY)?) {
        (true, _) | (false, None) => Ok(None),
        (false, Some(secret_key)) => Ok(Some(SmartpaySettings {
            secret_key,
            base_url: env
                .get("KESSAI_SMARTPAY_BASE_URL")
                .unwrap_or_else(|| BASE_URL.into()),
        })),
    }
}

/// The adapter these settings describe.
pub fn adapter(settings: &SmartpaySettings, http: &HttpSettings) -> Arc<dyn PaymentProvider> {
    Arc::new(super::Smartpay::new(super::SmartpayConfig {
        base_url: settings.base_url.clone(),
        secret_key: settings.secret_key.clone(),
        http: http.clone(),
    }))
}
