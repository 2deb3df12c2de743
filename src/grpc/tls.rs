//! TLS on the gRPC port, accepted here rather than by tonic (whose accept
//! drops a failed handshake without a word): a client with a wrong or no
//! certificate under mutual TLS, or a plaintext client on the TLS port,
//! would otherwise just see its connection closed while kessai's log says
//! nothing. A failed handshake is logged at WARN with the peer and the
//! reason, once per peer address (its host, whatever the source port) per
//! [`PEER_QUIET`], and at most [`LINES_PER_MINUTE`] such lines a minute in
//! all, so a flood of bad handshakes cannot flood the log. A peer that goes
//! before saying anything (a port scan, a TCP probe) is no handshake.
//!
//! The handshakes run beside each other, each within the handshake timeout,
//! on connections already within the connection discipline
//! (`connections.rs`: the cap, the first bytes' deadline, the idle close).
//! The TLS stream is tokio-rustls', for which tonic gives calls the
//! client's certificates (`TlsConnectInfo`), as before.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{AlertDescription, CertificateError, RootCertStore, ServerConfig};
use secrecy::ExposeSecret;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;

use super::connections::Admitted;
use crate::config::TlsSettings;

/// How long a peer's further failures are only counted.
pub const PEER_QUIET: Duration = Duration::from_secs(600);
/// Failure lines a minute, all peers together.
pub const LINES_PER_MINUTE: usize = 60;
/// Peers remembered; the oldest are forgotten first.
const PEERS_KEPT: usize = 4096;
/// Handshakes in progress at once.
const HANDSHAKES_AT_ONCE: usize = 1024;

/// The server's TLS configuration: its certificate, and with a client CA
/// the client certificates it requires.
pub fn server_config(tls: &TlsSettings) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_slice_iter(tls.certificate_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("KESSAI_TLS_CERT_FILE: not a PEM certificate chain: {e}"))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "KESSAI_TLS_CERT_FILE holds no PEM certificate"
    );
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.expose_secret().as_bytes())
        .map_err(|e| anyhow::anyhow!("KESSAI_TLS_KEY_FILE: not a PEM private key: {e}"))?;
    let builder = ServerConfig::builder();
    let builder = match &tls.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                let cert = cert.map_err(|e| {
                    anyhow::anyhow!("KESSAI_TLS_CLIENT_CA_FILE: not a PEM certificate: {e}")
                })?;
                roots.add(cert).map_err(|e| {
                    anyhow::anyhow!("KESSAI_TLS_CLIENT_CA_FILE: not a CA certificate: {e}")
                })?;
            }
            let verifier = WebPkiClientVerifier::builder(roots.into())
                .build()
                .map_err(|e| anyhow::anyhow!("KESSAI_TLS_CLIENT_CA_FILE: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| anyhow::anyhow!("KESSAI_TLS_CERT_FILE and KESSAI_TLS_KEY_FILE: {e}"))?;
    config.alpn_protocols.push(b"h2".to_vec());
    Ok(Arc::new(config))
}

/// The connections of `admitted` once their TLS handshake succeeds; the
/// failures are told (see the module's comment) and left out.
pub fn incoming(
    admitted: impl Stream<Item = io::Result<Admitted>>,
    config: Arc<ServerConfig>,
    timeout: Duration,
) -> impl Stream<Item = io::Result<TlsStream<Admitted>>> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let failures = Arc::new(Failures::default());
    admitted
        .map(move |connection| {
            let acceptor = acceptor.clone();
            let failures = failures.clone();
            async move {
                let connection = match connection {
                    Ok(connection) => connection,
                    Err(error) => return Some(Err(error)),
                };
                let peer = connection.peer().remote_addr;
                let accepted = tokio::time::timeout(timeout, acceptor.accept(connection)).await;
                let error = match accepted {
                    Ok(Ok(stream)) => return Some(Ok(stream)),
                    Ok(Err(error)) => error,
                    Err(_) => io::Error::new(io::ErrorKind::TimedOut, "handshake timeout"),
                };
                match reason(&error) {
                    Some(reason) => {
                        failures.tell(peer, &reason, Instant::now());
                    }
                    None => {
                        tracing::debug!(%peer, %error, "connection closed before a TLS handshake")
                    }
                }
                None
            }
        })
        .buffer_unordered(HANDSHAKES_AT_ONCE)
        .filter_map(futures::future::ready)
}

/// Why a handshake failed, in the operator's terms; `None` when the peer
/// went away before saying anything.
fn reason(error: &io::Error) -> Option<String> {
    if let Some(tls) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        return Some(match tls {
            rustls::Error::InvalidMessage(detail) => format!(
                "the client does not speak TLS (a plaintext client on the TLS port? use TLS, or \
                 grpcurl without -plaintext): {detail:?}"
            ),
            rustls::Error::NoCertificatesPresented => "the client presented no certificate, and \
                 mutual TLS requires one signed by the CA in KESSAI_TLS_CLIENT_CA_FILE"
                .to_owned(),
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                "the client's certificate is not signed by the CA in KESSAI_TLS_CLIENT_CA_FILE"
                    .to_owned()
            }
            rustls::Error::InvalidCertificate(problem) => {
                format!("the client's certificate was refused: {problem:?}")
            }
            rustls::Error::AlertReceived(
                alert @ (AlertDescription::UnknownCA
                | AlertDescription::BadCertificate
                | AlertDescription::CertificateUnknown),
            ) => format!(
                "the client refused kessai's certificate ({alert:?}): it does not trust the CA \
                 that signed KESSAI_TLS_CERT_FILE, or the name it dialled is not in it"
            ),
            rustls::Error::NoApplicationProtocol => {
                "the client does not offer HTTP/2 (ALPN h2), which gRPC needs".to_owned()
            }
            other => format!("{other}"),
        });
    }
    match error.kind() {
        io::ErrorKind::TimedOut => Some(
            "no TLS handshake within KESSAI_HANDSHAKE_TIMEOUT_SECS (a client that connects and \
             waits, or a plaintext client waiting for the server to speak)"
                .to_owned(),
        ),
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => None,
        _ => Some(error.to_string()),
    }
}

/// Failures told, per peer and per minute.
#[derive(Default)]
struct Failures(Mutex<Told>);

#[derive(Default)]
struct Told {
    /// Each peer's last line, and its failures since.
    peers: HashMap<IpAddr, (Instant, u64)>,
    minute: Option<Instant>,
    lines: usize,
    /// Failures not told this minute, the budget spent.
    untold: u64,
}

impl Failures {
    fn tell(&self, peer: SocketAddr, reason: &str, now: Instant) -> bool {
        let mut told = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if told
            .minute
            .is_none_or(|start| now - start >= Duration::from_secs(60))
        {
            if told.untold > 0 {
                tracing::warn!(
                    failures = told.untold,
                    "more TLS handshakes failed in the last minute than are logged"
                );
            }
            told.minute = Some(now);
            told.lines = 0;
            told.untold = 0;
        }
        let ip = peer.ip();
        let since = match told.peers.get_mut(&ip) {
            Some((at, count)) if now - *at < PEER_QUIET => {
                *count += 1;
                return false;
            }
            Some((_, count)) => *count,
            None => 0,
        };
        if told.lines >= LINES_PER_MINUTE {
            told.untold += 1;
            return false;
        }
        told.lines += 1;
        if told.peers.len() >= PEERS_KEPT {
            let oldest = told.peers.iter().min_by_key(|(_, (at, _))| *at);
            if let Some(oldest) = oldest.map(|(ip, _)| *ip) {
                told.peers.remove(&oldest);
            }
        }
        told.peers.insert(ip, (now, 0));
        tracing::warn!(
            %peer,
            %reason,
            failures_since_last_line = since,
            "TLS handshake failed; further failures from this address are logged again after \
             10 minutes"
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), port)
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_is_told_once_per_quiet_period_and_all_within_a_budget() {
        let failures = Failures::default();
        let start = Instant::now();
        assert!(failures.tell(addr("10.0.0.1", 1000), "x", start));
        for port in 1001..1100 {
            assert!(
                !failures.tell(addr("10.0.0.1", port), "x", start),
                "a flood from one host"
            );
        }
        assert!(failures.tell(addr("10.0.0.1", 2000), "x", start + PEER_QUIET));
        let told = (0..200u8)
            .filter(|i| failures.tell(addr(&format!("10.0.1.{i}"), 1), "x", start + PEER_QUIET))
            .count();
        assert_eq!(told, LINES_PER_MINUTE - 1, "the minute's budget");
        let later = start + PEER_QUIET + Duration::from_secs(60);
        assert!(
            failures.tell(addr("10.0.2.1", 1), "x", later),
            "a new minute"
        );
    }
}
