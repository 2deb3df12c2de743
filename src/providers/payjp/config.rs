//! PAY.JP's configuration block: `KESSAI_PAYJP_*`.

use secrecy::SecretString;

use std::sync::Arc;

use crate::env_vars::{ConfigError, Env};
use crate::providers::PaymentProvider;
use crate::providers::http::HttpSettings;

pub const BASE_URL: &str = "https://api.pay.jp/v2";
const SECRET_KEY: &str = "KESSAI_PAYJP_SECRET_KEY";

#[derive(Debug, Clone)]
pub struct PayjpSettings {
    pub secret_key: SecretString,
    pub base_url: String,
}

/// Whether any PAY.JP credential is set (outside sandbox mode it must be).
pub fn credential_set(env: &Env<'_>) -> Result<bool, ConfigError> {
    Ok(env.secret(SECRET_KEY)?.is_some())
}

/// The settings, or `None` when PAY.JP is not configured (or in sandbox
/// mode, where the simulator stands in).
pub fn from_env(env: &Env<'_>, sandbox: bool) -> Result<Option<PayjpSettings>, ConfigError> {
    match (sandbox, env.secret(SECRET_KEY)?) {
        (true, _) | (false, None) => Ok(None),
        (false, Some(secret_key)) => Ok(Some(PayjpSettings {
            secret_key,
            base_url: env
                .get("KESSAI_PAYJP_BASE_URL")
                .unwrap_or_else(|| BASE_URL.into()),
        })),
    }
}

/// The adapter these settings describe.
pub fn adapter(settings: &PayjpSettings, http: &HttpSettings) -> Arc<dyn PaymentProvider> {
    Arc::new(super::Payjp::new(super::PayjpConfig {
        base_url: settings.base_url.clone(),
        secret_key: settings.secret_key.clone(),
        http: http.clone(),
    }))
}
