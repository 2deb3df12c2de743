//! What the OTLP exporter's failures are told as. The exporter itself is
//! silent (its own logs are compiled out), so a collector that cannot be
//! reached would lose every span without a word: this wrapper says so once,
//! at WARN, with the endpoint, when exports start failing, and once at INFO
//! when they work again — not once per batch, which at the default five
//! seconds would bury everything else. Neither line holds a header (they
//! may carry the collector's API key) nor the endpoint's user or query.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

#[derive(Debug)]
pub struct ToldOnce<E> {
    inner: E,
    /// Where spans go, without credentials.
    endpoint: String,
    /// What an error's text must not show (header values, the endpoint's
    /// user and query).
    hidden: Vec<String>,
    failing: AtomicBool,
}

impl<E> ToldOnce<E> {
    pub fn new(inner: E, lookup: impl Fn(&str) -> Option<String>, grpc: bool) -> Self {
        let (endpoint, mut hidden) = endpoint(&lookup, grpc);
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            let headers = lookup(name).unwrap_or_default();
            hidden.extend(
                headers
                    .split(',')
                    .filter_map(|pair| pair.split_once('=').map(|(_, v)| v.trim().to_owned())),
            );
        }
        hidden.retain(|h| !h.is_empty());
        Self {
            inner,
            endpoint,
            hidden,
            failing: AtomicBool::new(false),
        }
    }

    fn without_secrets(&self, text: &str) -> String {
        self.hidden
            .iter()
            .fold(text.to_owned(), |text, hidden| text.replace(hidden, "…"))
    }
}

/// The traces endpoint the exporter uses (the signal's own variable as it
/// is; the general one with `/v1/traces` for HTTP), shown without user,
/// password or query, and those parts, to hide elsewhere.
fn endpoint(lookup: &impl Fn(&str) -> Option<String>, grpc: bool) -> (String, Vec<String>) {
    let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let raw = match set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        Some(url) => url,
        None => {
            let base = set("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
            if grpc {
                base
            } else {
                format!("{}/v1/traces", base.trim_end_matches('/'))
            }
        }
    };
    let Ok(mut url) = url::Url::parse(raw.trim()) else {
        return (
            "(an endpoint that is no URL, not shown)".to_owned(),
            vec![raw],
        );
    };
    let hidden = [
        url.password().unwrap_or_default(),
        url.username(),
        url.query().unwrap_or_default(),
    ]
    .map(str::to_owned)
    .to_vec();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    (url.to_string(), hidden)
}

impl<E: SpanExporter> SpanExporter for ToldOnce<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(endpoint = %self.endpoint, "OTLP span export works again");
                }
            }
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        endpoint = %self.endpoint,
                        reason = %self.without_secrets(&error.to_string()),
                        dropped_spans = spans,
                        "OTLP span export failed: the collector cannot be reached or refused the \
                         spans; they are dropped until it takes them (said once; a line says when \
                         it works again)"
                    );
                }
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn told(vars: &[(&str, &str)], grpc: bool) -> ToldOnce<()> {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        ToldOnce::new((), lookup, grpc)
    }

    #[test]
    fn the_endpoint_is_shown_without_credentials_and_errors_without_headers() {
        let t = told(
            &[
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "https://kessai:hunter2@collector.example:4318/",
                ),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=sesame42,x-team=pay"),
            ],
            false,
        );
        assert_eq!(t.endpoint, "https://collector.example:4318/v1/traces");
        assert_eq!(
            t.without_secrets("refused sesame42 with kessai:hunter2 for pay"),
            "refused … with …:… for …"
        );
        let t = told(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://traces.example:4317?token=hush",
                ),
            ],
            true,
        );
        assert_eq!(t.endpoint, "http://traces.example:4317/");
        assert_eq!(t.without_secrets("at ?token=hush"), "at ?…");
    }
}
