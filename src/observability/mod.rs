//! What kessai tells the people who run it beyond its logs: Prometheus
//! metrics (names, labels and the recorder in [`metrics`], the `/metrics`
//! listener in [`metrics_server`]) and W3C trace context carried from callers
//! to providers ([`trace_context`]). Log and span set-up is `crate::telemetry`.

pub mod metrics;
pub mod metrics_server;
pub mod trace_context;
