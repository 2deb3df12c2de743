//! The one list of providers: the Authorize input each one takes, its rules,
//! and the configured adapters. Adding a provider is a folder beside this
//! file plus one line in each list here (see ARCHITECTURE.md).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::PaymentProvider;
use super::http::HttpSettings;
use super::instrumented::Instrumented;
use super::payjp::PayjpDetails;
use super::payjp::config::{self as payjp, PayjpSettings};
use super::paymentoptions::PaymentOptionsDetails;
use super::paymentoptions::config::{self as paymentoptions, PaymentOptionsSettings};
use super::smartpay::SmartpayDetails;
use super::smartpay::config::{self as smartpay, SmartpaySettings};
use crate::domain::{ProviderKind, ProviderRules};
use crate::env_vars::{ConfigError, Env, Mode};

/// Each provider's configuration block, read from `KESSAI_<PROVIDER>_*`.
#[derive(Debug, Clone, Default)]
pub struct ProviderSettings {
    pub payjp: Option<PayjpSettings>,
    pub smartpay: Option<SmartpaySettings>,
    pub paymentoptions: Option<PaymentOptionsSettings>,
    #[cfg(feature = "example-provider")]
    pub example: Option<super::example::config::ExampleSettings>,
}

impl ProviderSettings {
    /// Whether any provider credential is set: without one, kessai serves
    /// its sandbox unless told otherwise.
    pub fn any_credential(env: &Env<'_>) -> Result<bool, ConfigError> {
        let set = [
            payjp::credential_set(env)?,
            smartpay::credential_set(env)?,
            paymentoptions::credential_set(env)?,
            #[cfg(feature = "example-provider")]
            super::example::config::credential_set(env)?,
        ];
        Ok(set.contains(&true))
    }

    pub fn from_env(env: &Env<'_>, mode: Mode) -> Result<Self, ConfigError> {
        Ok(Self {
            payjp: payjp::from_env(env, mode)?,
            smartpay: smartpay::from_env(env, mode)?,
            paymentoptions: paymentoptions::from_env(env, mode)?,
            #[cfg(feature = "example-provider")]
            example: super::example::config::from_env(env, mode)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.configured().is_empty()
    }

    /// The providers with credentials.
    pub fn configured(&self) -> Vec<ProviderKind> {
        let configured = [
            (ProviderKind::Payjp, self.payjp.is_some()),
            (ProviderKind::Smartpay, self.smartpay.is_some()),
            (ProviderKind::PaymentOptions, self.paymentoptions.is_some()),
            #[cfg(feature = "example-provider")]
            (ProviderKind::Example, self.example.is_some()),
        ];
        configured
            .into_iter()
            .filter_map(|(kind, set)| set.then_some(kind))
            .collect()
    }

    /// The adapters of the configured providers. `webhook_base` is the
    /// listener's public URL, for providers told per request where to notify.
    pub fn registry(&self, http: &HttpSettings, webhook_base: Option<&str>) -> Registry {
        let mut registry = Registry::default();
        let adapters = [
            self.payjp.as_ref().map(|s| payjp::adapter(s, http)),
            self.smartpay.as_ref().map(|s| smartpay::adapter(s, http)),
            self.paymentoptions
                .as_ref()
                .map(|s| paymentoptions::adapter(s, http, webhook_base)),
            #[cfg(feature = "example-provider")]
            self.example
                .as_ref()
                .map(|s| super::example::config::adapter(s, http)),
        ];
        for adapter in adapters.into_iter().flatten() {
            registry.register(adapter);
        }
        registry
    }
}

/// Each provider's rules.
pub fn rules(provider: ProviderKind) -> &'static ProviderRules {
    match provider {
        ProviderKind::Payjp => &super::payjp::RULES,
        ProviderKind::Smartpay => &super::smartpay::RULES,
        ProviderKind::PaymentOptions => &super::paymentoptions::RULES,
        #[cfg(feature = "example-provider")]
        ProviderKind::Example => &super::example::RULES,
    }
}

/// An order's page in its provider's dashboard, where the provider has one
/// kessai knows of.
pub fn dashboard_url(provider: ProviderKind, provider_order_id: &str) -> Option<String> {
    let template = match provider {
        ProviderKind::Payjp => super::payjp::DASHBOARD,
        ProviderKind::Smartpay => super::smartpay::DASHBOARD,
        ProviderKind::PaymentOptions => super::paymentoptions::DASHBOARD,
        #[cfg(feature = "example-provider")]
        ProviderKind::Example => super::example::DASHBOARD,
    }?;
    let id: String = url::form_urlencoded::byte_serialize(provider_order_id.as_bytes()).collect();
    Some(template.replace("{id}", &id))
}

/// Provider-specific Authorize input, parsed from the contract's
/// `provider_details` oneof. The variant chooses the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderDetails {
    Payjp(PayjpDetails),
    Smartpay(SmartpayDetails),
    PaymentOptions(Box<PaymentOptionsDetails>),
    #[cfg(feature = "example-provider")]
    Example(super::example::ExampleDetails),
}

/// What one provider's Authorize input says about itself.
pub trait AuthorizeDetails: Sized {
    const PROVIDER: ProviderKind;
    /// The request field naming what the shopper pays with: what a
    /// provider that does not know it was given refers to.
    const PAYMENT_METHOD_FIELD: &'static str;

    fn kind(&self) -> ProviderKind {
        Self::PROVIDER
    }

    fn payment_method_field(&self) -> &'static str {
        Self::PAYMENT_METHOD_FIELD
    }

    /// Whether the caller asked for the longer card authorization window.
    fn extended_authorization(&self) -> bool {
        false
    }

    /// What makes two requests' details different, for idempotency; secrets
    /// go in only through `keyed`.
    fn fingerprint(&self, keyed: &dyn Fn(&str) -> String) -> serde_json::Value;

    /// What reconciliation needs to send the authorization again after its
    /// answer was lost; `None` where it is never resent.
    fn replay(&self) -> Option<serde_json::Value>;

    fn from_replay(value: serde_json::Value) -> Option<Self>;
}

/// `$body` with `$d` bound to the details of whichever provider it is.
macro_rules! each {
    ($details:expr, $d:ident => $body:expr) => {
        match $details {
            ProviderDetails::Payjp($d) => $body,
            ProviderDetails::Smartpay($d) => $body,
            ProviderDetails::PaymentOptions($d) => $body,
            #[cfg(feature = "example-provider")]
            ProviderDetails::Example($d) => $body,
        }
    };
}

impl ProviderDetails {
    pub fn provider(&self) -> ProviderKind {
        each!(self, d => d.kind())
    }

    pub fn payment_method_field(&self) -> &'static str {
        each!(self, d => d.payment_method_field())
    }

    pub fn extended_authorization(&self) -> bool {
        each!(self, d => d.extended_authorization())
    }

    /// Keyed by the provider's name, so two providers' inputs never match.
    pub fn fingerprint(&self, keyed: &dyn Fn(&str) -> String) -> serde_json::Value {
        serde_json::json!({ self.provider().as_str(): each!(self, d => d.fingerprint(keyed)) })
    }

    /// The input to keep for a resend, under the provider's name.
    pub fn replay(&self) -> Option<(&'static str, serde_json::Value)> {
        let value = each!(self, d => d.replay())?;
        Some((self.provider().as_str(), value))
    }

    /// The input kept by [`ProviderDetails::replay`].
    pub fn from_replay(provider: ProviderKind, value: serde_json::Value) -> Option<Self> {
        match provider {
            ProviderKind::Payjp => PayjpDetails::from_replay(value).map(Self::Payjp),
            ProviderKind::Smartpay => SmartpayDetails::from_replay(value).map(Self::Smartpay),
            ProviderKind::PaymentOptions => {
                PaymentOptionsDetails::from_replay(value).map(|d| Self::PaymentOptions(Box::new(d)))
            }
            #[cfg(feature = "example-provider")]
            ProviderKind::Example => {
                super::example::ExampleDetails::from_replay(value).map(Self::Example)
            }
        }
    }
}

/// The configured providers. A provider absent here answers
/// PROVIDER_NOT_CONFIGURED.
#[derive(Clone, Default)]
pub struct Registry {
    providers: BTreeMap<ProviderKind, Arc<dyn PaymentProvider>>,
}

impl Registry {
    /// Adds a provider; its calls are traced and measured.
    pub fn register(&mut self, provider: Arc<dyn PaymentProvider>) {
        self.providers
            .insert(provider.kind(), Arc::new(Instrumented::new(provider)));
    }

    pub fn get(&self, kind: ProviderKind) -> Option<&Arc<dyn PaymentProvider>> {
        self.providers.get(&kind)
    }

    pub fn kinds(&self) -> impl Iterator<Item = ProviderKind> + '_ {
        self.providers.keys().copied()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.providers.keys()).finish()
    }
}
