//! PaymentOptions' configuration block: `KESSAI_PAYMENTOPTIONS_*`.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::env_vars::provider_keys::{check_base_url, check_header_value};
use crate::env_vars::{ConfigError, Env, Mode};
use crate::providers::PaymentProvider;
use crate::providers::http::HttpSettings;

pub const BASE_URL: &str = "https://api.paymentoptions.com";
/// The hosts of the test and the live environment (providers.md): the
/// environment is the host's, as the API key has no telling shape.
const HOSTS: (&str, &str) = ("api-dev.paymentoptions.com", "api.paymentoptions.com");
const API_KEY: &str = "KESSAI_PAYMENTOPTIONS_API_KEY";
const MERCHANT_ID: &str = "KESSAI_PAYMENTOPTIONS_MERCHANT_ID";
const BASE_URL_VAR: &str = "KESSAI_PAYMENTOPTIONS_BASE_URL";

#[derive(Debug, Clone)]
pub struct PaymentOptionsSettings {
    pub api_key: SecretString,
    pub merchant_id: String,
    pub base_url: String,
    pub path_prefix: String,
    /// `Authorization: Basic <key>` raw (the seed) or base64 (the manual).
    pub auth_base64: bool,
}

/// Whether any PaymentOptions credential is set (outside sandbox mode it
/// must be, and whole).
pub fn credential_set(env: &Env<'_>) -> Result<bool, ConfigError> {
    Ok(env.secret(API_KEY)?.is_some() || env.get(MERCHANT_ID).is_some())
}

/// The settings, or `None` when PaymentOptions is not configured (or in
/// sandbox mode, where the simulator stands in). Both credentials must be
/// set (an empty value is unset), fit in a header, and the host must be the
/// mode's; each problem is recorded on `env`.
pub fn from_env(env: &Env<'_>, mode: Mode) -> Result<Option<PaymentOptionsSettings>, ConfigError> {
    let api_key = env.secret(API_KEY)?;
    let merchant_id = env.get(MERCHANT_ID);
    if let Some(key) = &api_key {
        check_header_value(env, API_KEY, key.expose_secret(), "the API key");
    }
    if let Some(id) = &merchant_id {
        check_header_value(env, MERCHANT_ID, id.trim(), "the merchant id");
    }
    match (mode.is_sandbox(), api_key, merchant_id) {
        (true, _, _) | (false, None, None) => Ok(None),
        (false, Some(api_key), Some(merchant_id)) => {
            let merchant_id = merchant_id.trim().to_owned();
            if merchant_id.len() > 128 {
                env.reject(MERCHANT_ID, "must be at most 128 characters");
            }
            let base_url = env.get(BASE_URL_VAR).unwrap_or_else(|| BASE_URL.into());
            check_base_url(env, BASE_URL_VAR, &base_url, HOSTS, mode);
            Ok(Some(PaymentOptionsSettings {
                api_key,
                merchant_id,
                base_url,
                path_prefix: env
                    .get("KESSAI_PAYMENTOPTIONS_PATH_PREFIX")
                    .unwrap_or_else(|| super::DEFAULT_PATH_PREFIX.into()),
                auth_base64: match env.get("KESSAI_PAYMENTOPTIONS_AUTH").as_deref() {
                    None | Some("raw") => false,
                    Some("base64") => true,
                    Some(other) => {
                        env.reject(
                            "KESSAI_PAYMENTOPTIONS_AUTH",
                            format!("must be raw or base64, got {other:?}"),
                        );
                        false
                    }
                },
            }))
        }
        (false, Some(_), None) | (false, None, Some(_)) => Err(ConfigError::Inconsistent(format!(
            "PaymentOptions needs both {API_KEY} and {MERCHANT_ID}; only one is set"
        ))),
    }
}

/// The adapter these settings describe. PaymentOptions is told per request
/// where to notify: the listener's public URL, when there is one.
pub fn adapter(
    settings: &PaymentOptionsSettings,
    http: &HttpSettings,
    webhook_base: Option<&str>,
) -> Arc<dyn PaymentProvider> {
    Arc::new(super::PaymentOptions::new(super::PaymentOptionsConfig {
        base_url: settings.base_url.clone(),
        path_prefix: settings.path_prefix.clone(),
        api_key: settings.api_key.clone(),
        merchant_id: settings.merchant_id.clone(),
        auth: if settings.auth_base64 {
            super::AuthScheme::Base64
        } else {
            super::AuthScheme::Raw
        },
        http: http.clone(),
        webhook_url: webhook_base.map(|base| format!("{base}/webhooks/paymentoptions")),
    }))
}
