//! Logs and traces: `tracing` with an env filter, written as text or JSON
//! lines, and the same spans as OpenTelemetry spans.
//!
//! The OpenTelemetry layer is always installed, so that every call has a
//! trace id to pass on to the providers (`traceparent`), whether or not
//! spans leave the process. They are exported over OTLP only when the
//! standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set;
//! `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` selects gRPC, otherwise HTTP/protobuf
//! is used, and the other standard `OTEL_*` variables (headers, timeout,
//! service name, resource attributes, batch settings) apply. A collector
//! that cannot be reached is said once (`telemetry/export_failures.rs`).

use std::io::IsTerminal;
use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

mod export_failures;
mod span_fields;

use export_failures::ToldOnce;
use span_fields::AppendedJsonFields;

static TRACER_PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Where spans go, from the standard OpenTelemetry variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    /// Spans stay in the process (trace context is still propagated).
    None,
    Grpc,
    HttpProtobuf,
}

impl Export {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| lookup(name).is_some_and(|v| !v.trim().is_empty());
        let disabled = lookup("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true")
            || lookup("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim() == "none");
        if disabled
            || !(set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        {
            return Export::None;
        }
        let protocol = lookup("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| lookup("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .unwrap_or_default();
        if protocol.trim().eq_ignore_ascii_case("grpc") {
            Export::Grpc
        } else {
            Export::HttpProtobuf
        }
    }
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTo {
    /// The server's logs.
    Stdout,
    /// Commands whose standard output is their result.
    Stderr,
}

/// Installs the global subscriber, logging to standard output. Safe to call
/// more than once (later calls do nothing), so tests can share a process.
pub fn init(format: LogFormat, filter: &str) {
    init_to(format, filter, LogTo::Stdout);
}

/// As [`init`], logging to `to`.
pub fn init_to(format: LogFormat, filter: &str, to: LogTo) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let export = Export::from_lookup(|name| std::env::var(name).ok());
    let (provider, problem) = tracer_provider(&export);
    let tracer = provider.tracer("kessai");
    // Entering a span is on every poll of an instrumented future (a page
    // of rows polls it once a row): the busy/idle timings and the active
    // OpenTelemetry context cost two clock reads and a context switch per
    // poll, 4.5 % of kessai's CPU on ListOrders. Spans keep their start
    // and end; nothing in kessai reads the active context (trace headers
    // come from the span itself, `trace_context.rs`).
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        // Spans are traced at INFO whatever the log filter says: quiet logs
        // must not break the trace a caller started.
        .with_filter(Targets::new().with_target("kessai", Level::INFO));
    let (writer, terminal) = match to {
        LogTo::Stdout => (
            BoxMakeWriter::new(std::io::stdout),
            std::io::stdout().is_terminal(),
        ),
        LogTo::Stderr => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
    };
    let logs = match format {
        // Colour codes are noise in a file, `kubectl logs` or a test's
        // capture: only a person at a terminal gets them.
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(terminal && std::env::var_os("NO_COLOR").is_none())
            .with_target(true)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_target(true)
            .fmt_fields(AppendedJsonFields)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
    };
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(otel)
        .try_init()
        .is_ok();
    if !installed {
        return;
    }
    let _ = TRACER_PROVIDER.set(provider);
    match (problem, &export) {
        (Some(problem), _) => {
            tracing::warn!(%problem, "OTLP span export is off: the exporter could not be built");
        }
        (None, Export::None) => {}
        (None, export) => tracing::info!(?export, "exporting spans over OTLP"),
    }
}

fn tracer_provider(export: &Export) -> (SdkTracerProvider, Option<String>) {
    let mut resource = Resource::builder();
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    if !named {
        resource = resource.with_service_name("kessai");
    }
    let builder = SdkTracerProvider::builder().with_resource(resource.build());
    let exporter = match export {
        Export::None => return (builder.build(), None),
        // The blocking HTTP client uses rustls: its provider must exist first.
        Export::HttpProtobuf => {
            crate::tls_provider::install_crypto_provider();
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()
        }
        Export::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build(),
    };
    match exporter {
        Ok(exporter) => {
            let lookup = |name: &str| std::env::var(name).ok();
            let exporter = ToldOnce::new(exporter, lookup, *export == Export::Grpc);
            (builder.with_batch_exporter(exporter).build(), None)
        }
        Err(error) => (builder.build(), Some(error.to_string())),
    }
}

/// Installs the subscriber from `KESSAI_LOG` (or `RUST_LOG`) and
/// `KESSAI_LOG_FORMAT`, before the rest of the configuration is read, so
/// configuration errors are logged too. Without a filter, `to` standard
/// error (a command's diagnostics) logs only warnings.
pub fn init_from_env(to: LogTo) {
    let default = match to {
        LogTo::Stdout => "info",
        LogTo::Stderr => "warn",
    };
    let filter = std::env::var("KESSAI_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.into());
    let format = match std::env::var("KESSAI_LOG_FORMAT").as_deref() {
        Ok("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    init_to(format, &filter, to);
}

/// Sends the spans still buffered; call before the process exits.
pub fn shutdown() {
    if let Some(provider) = TRACER_PROVIDER.get()
        && let Err(error) = provider.shutdown()
    {
        eprintln!("kessai: flushing spans at exit failed: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(vars: &[(&str, &str)]) -> Export {
        Export::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn spans_leave_the_process_only_when_an_endpoint_is_set() {
        assert_eq!(export(&[]), Export::None);
        assert_eq!(
            export(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]),
            Export::HttpProtobuf
        );
        assert_eq!(
            export(&[
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://collector:4317"
                ),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ]),
            Export::Grpc
        );
        assert_eq!(
            export(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                ("OTEL_SDK_DISABLED", "true"),
            ]),
            Export::None
        );
    }
}
