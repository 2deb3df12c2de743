//! PAY.JP's configuration block: `KESSAI_PAYJP_*`.

use std::sync::Arc;

use secrecy::SecretString;

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
    let settings = env.key_and_url(sandbox, SECRET_KEY, "KESSAI_PAYJP_BASE_URL", BASE_URL)?;
    Ok(settings.map(|(secret_key, base_url)| PayjpSettings {
        secret_key,
        base_url,
    }))
}

/// The adapter these settings describe.
pub fn adapter(settings: &PayjpSettings, http: &HttpSettings) -> Arc<dyn PaymentProvider> {
    Arc::new(super::Payjp::new(super::PayjpConfig {
        base_url: settings.base_url.clone(),
        secret_key: settings.secret_key.clone(),
        http: http.clone(),
    }))
}
