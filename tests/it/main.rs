//! kessai's integration tests: one binary (linking this stack once per file
//! would cost minutes), the real gRPC server, the provider simulators.

mod helpers;
mod log_capture;
mod process;
mod requests;
mod tools;

mod admission;
mod answers;
mod bad_input;
mod cancel_safety;
mod capture_discrepancy;
mod chaos;
mod cli;
mod concurrency;
mod conformance;
mod connections;
mod console;
mod contract_payjp;
mod contract_smartpay;
mod crash;
mod customer_search;
mod db_statements;
mod docs;
#[cfg(feature = "example-provider")]
mod example;
mod examples;
mod first_hour;
mod health_addr;
mod idempotency;
mod kept_views;
mod metrics;
mod order_reads;
mod otlp_unreachable;
mod owners;
mod payjp_rules;
mod paymentoptions_rules;
mod pci;
mod provider_keys;
mod provider_not_found;
mod query_plans;
mod raw_bytes;
mod reconciliation;
mod round_trips;
mod sandbox_state;
mod secrets;
mod security;
mod server;
mod smartpay_rules;
mod store_invariants;
mod tls_failures;
mod traces;
mod watch;
mod watch_feed;
mod webhook_hints;
mod webhooks;
