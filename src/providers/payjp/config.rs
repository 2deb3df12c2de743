//! PAY.JP's configuration block: `KESSAI_PAYJP_*`.

use std::sync::Arc;

use secrecy::SecretString;

use crate::env_vars::provider_keys::KeyShape;
use crate::env_vars::{ConfigError, Env, Mode};
use crate::providers::PaymentProvider;
use crate::providers::http::HttpSettings;

pub const BASE_URL: &str = "https://api.pay.jp/v2";
const SECRET_KEY: &str = "KESSAI_PAYJP_SECRET_KEY";

/// The SDK declares no pattern; the docs show `sk_test_`/`sk_live_` keys
/// (public ones `pk_…`), with hexadecimal after the prefix. `_` is let
/// through, as PAY.JP does not say it never uses one.
pub const KEY_SHAPE: KeyShape = KeyShape {
    provider: "PAY.JP",
    test: "sk_test_",
    live: "sk_live_",
    public: &["pk_test_", "pk_live_"],
    body: |b| b.is_ascii_alphanumeric() || b == b'_',
    body_says: "letters, digits and _",
};

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
/// mode, where the simulator stands in); a key of another shape or mode is
/// recorded on `env`.
pub fn from_env(env: &Env<'_>, mode: Mode) -> Result<Option<PayjpSettings>, ConfigError> {
    let key = (SECRET_KEY, &KEY_SHAPE);
    let settings = env.key_and_url(mode, key, "KESSAI_PAYJP_BASE_URL", BASE_URL)?;
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
