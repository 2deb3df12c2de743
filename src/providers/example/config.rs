//! The example provider's configuration block: `KESSAI_EXAMPLE_*`.

use std::sync::Arc;

use secrecy::SecretString;

use super::webhook::ExampleVerifier;
use crate::env_vars::provider_keys::KeyShape;
use crate::env_vars::{ConfigError, Env, Mode};
use crate::providers::PaymentProvider;
use crate::providers::http::HttpSettings;

pub const BASE_URL: &str = "https://api.example-provider.invalid";
const API_KEY: &str = "KESSAI_EXAMPLE_API_KEY";

/// `test_…` and `live_…` keys (the adapter's `livemode`).
const KEY_SHAPE: KeyShape = KeyShape {
    provider: "example provider",
    test: "test_",
    live: "live_",
    public: &[],
    body: |b| b.is_ascii_alphanumeric() || b == b'_',
    body_says: "letters, digits and _",
};

#[derive(Debug, Clone)]
pub struct ExampleSettings {
    pub api_key: SecretString,
    pub base_url: String,
    /// The notifications' shared secret; without it they are refused.
    pub webhook_secret: Option<SecretString>,
}

pub fn credential_set(env: &Env<'_>) -> Result<bool, ConfigError> {
    Ok(env.secret(API_KEY)?.is_some())
}

/// The settings, or `None` when the provider is not configured (or in
/// sandbox mode, where the simulator stands in).
pub fn from_env(env: &Env<'_>, mode: Mode) -> Result<Option<ExampleSettings>, ConfigError> {
    let key = (API_KEY, &KEY_SHAPE);
    let Some((api_key, base_url)) =
        env.key_and_url(mode, key, "KESSAI_EXAMPLE_BASE_URL", BASE_URL)?
    else {
        return Ok(None);
    };
    Ok(Some(ExampleSettings {
        api_key,
        base_url,
        webhook_secret: env.secret("KESSAI_EXAMPLE_WEBHOOK_SECRET")?,
    }))
}

pub fn adapter(settings: &ExampleSettings, http: &HttpSettings) -> Arc<dyn PaymentProvider> {
    Arc::new(super::Example {
        base_url: settings.base_url.trim_end_matches('/').to_owned(),
        api_key: settings.api_key.clone(),
        client: http.client(),
        http: http.clone(),
    })
}

/// Pointed at its simulator, with the simulator's key and secret (sandbox
/// mode and the tests).
pub fn sandbox(sandbox: &crate::sandbox::Sandbox) -> ExampleSettings {
    use crate::sandbox::example::{SANDBOX_API_KEY, SANDBOX_WEBHOOK_SECRET};
    ExampleSettings {
        api_key: SecretString::from(SANDBOX_API_KEY),
        base_url: sandbox.example.base_url(),
        webhook_secret: Some(SecretString::from(SANDBOX_WEBHOOK_SECRET)),
    }
}

/// What the webhook listener verifies with: the configured secret, or in
/// sandbox mode (no provider block is read then) the simulator's.
pub fn verifier(settings: Option<&ExampleSettings>, sandbox: bool) -> Option<ExampleVerifier> {
    let secret = match settings {
        Some(settings) => settings.webhook_secret.clone(),
        None => {
            sandbox.then(|| SecretString::from(crate::sandbox::example::SANDBOX_WEBHOOK_SECRET))
        }
    };
    secret.map(ExampleVerifier::new)
}
