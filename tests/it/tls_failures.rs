//! A client whose TLS handshake fails — plaintext on the TLS port, no
//! client certificate or one from another CA under mutual TLS — is logged
//! once per peer address at WARN with the reason, however often it tries.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::process::KessaiProcess;
use crate::security::{Pki, pki, write_pem};

/// Attempts per client: one line is told for all of them.
const ATTEMPTS: usize = 8;

/// `kessai serve` in sandbox mode requiring client certificates.
pub(crate) fn mutual_tls_env(pki: &Pki) -> HashMap<String, String> {
    [
        ("KESSAI_DATABASE_URL", crate::helpers::fresh_sqlite()),
        ("KESSAI_SANDBOX_STATE", "memory".into()),
        (
            "KESSAI_TLS_CERT_FILE",
            write_pem("server.pem", &pki.server_cert),
        ),
        (
            "KESSAI_TLS_KEY_FILE",
            write_pem("server.key", &pki.server_key),
        ),
        (
            "KESSAI_TLS_CLIENT_CA_FILE",
            write_pem("ca.pem", &pki.ca_pem),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A connection to `to` from the loopback address `from`.
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from.parse().unwrap(), 0))
        .unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads until the server closes (or a moment passes).
async fn until_closed(mut stream: impl AsyncReadExt + Unpin) {
    let mut buf = [0u8; 1024];
    let deadline = Duration::from_secs(5);
    let _ = tokio::time::timeout(deadline, async {
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

async fn plaintext(from: &str, to: SocketAddr) {
    let mut stream = connect_from(from, to).await;
    // What a gRPC client without TLS sends first.
    let _ = stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await;
    until_closed(stream).await;
}

async fn tls(from: &str, to: SocketAddr, pki: &Pki, identity: Option<(&str, &str)>) {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = connect_from(from, to).await;
    let name = ServerName::try_from("localhost").unwrap();
    // Under TLS 1.3 the client finishes first; the server's refusal comes
    // after, as an alert.
    if let Ok(mut stream) = connector.connect(name, stream).await {
        let _ = stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
        until_closed(stream).await;
    }
}

/// The handshake failures told, by peer address (without the port).
fn told(kessai: &KessaiProcess) -> Vec<(String, String)> {
    kessai
        .logs_starting("TLS handshake failed")
        .into_iter()
        .map(|l| {
            assert_eq!(l["level"], "WARN", "{l}");
            let peer: SocketAddr = l["peer"].as_str().unwrap().parse().unwrap();
            (
                peer.ip().to_string(),
                l["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_failed_handshake_is_told_once_per_peer_with_the_reason() {
    kessai::startup::install_crypto_provider();
    let pki = pki();
    let kessai = KessaiProcess::start(&mutual_tls_env(&pki));
    let addr = kessai.addr;
    for _ in 0..ATTEMPTS {
        plaintext("127.0.0.2", addr).await;
        tls("127.0.0.3", addr, &pki, None).await;
        let stranger = (pki.stranger_cert.as_str(), pki.stranger_key.as_str());
        tls("127.0.0.4", addr, &pki, Some(stranger)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while told(&kessai).len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A line written late would be seen by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut lines = told(&kessai);
    lines.sort();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let expected = [
        ("127.0.0.2", "the client does not speak TLS"),
        ("127.0.0.3", "the client presented no certificate"),
        (
            "127.0.0.4",
            "the client's certificate is not signed by the CA in KESSAI_TLS_CLIENT_CA_FILE",
        ),
    ];
    for ((ip, reason), (want_ip, want_reason)) in lines.iter().zip(expected) {
        assert_eq!(ip, want_ip, "{lines:#?}");
        assert!(reason.starts_with(want_reason), "{ip}: {reason}");
    }

    // A client with the right certificate is still served.
    let client = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost")
        .identity(tonic::transport::Identity::from_pem(
            &pki.client_cert,
            &pki.client_key,
        ));
    let channel = tonic::transport::Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(client)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
}
