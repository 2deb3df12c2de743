//! kessai: a payment gateway. Internal services call one gRPC contract
//! (`kessai.v1.PaymentService`); kessai drives the providers and keeps the
//! record of every order. See ARCHITECTURE.md for the map.

mod allocator;
pub mod cli;
pub use kessai_clock as clock;
pub mod config;
pub mod console;
mod descriptors;
pub mod domain;
pub mod env_vars;
#[cfg(test)]
mod fuzz_support;
pub mod grpc;
pub mod observability;
pub mod operator;
pub mod payments;
pub mod proto;
pub mod providers;
#[cfg(feature = "sandbox")]
pub use kessai_sandbox as sandbox;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls_provider;
pub mod webhooks;
