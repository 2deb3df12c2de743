use std::collections::BTreeMap;
use std::sync::Arc;

use super::PaymentProvider;
use super::instrumented::Instrumented;
use crate::domain::ProviderKind;

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
