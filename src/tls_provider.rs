//! The process-wide TLS crypto provider. A leaf: it imports no other kessai
//! module, so anything (the server, the operator commands, telemetry) can
//! install the provider before its first TLS client.

/// Installs the one TLS crypto provider (ring) that reqwest and sqlx share.
/// Installing it again is harmless: the "already installed" answer is
/// ignored.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
