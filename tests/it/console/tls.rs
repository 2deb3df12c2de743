//! With `KESSAI_TLS_*` the console speaks HTTPS with the gRPC port's
//! certificate (no client certificate asked for) and its session cookie is
//! `Secure`; plain HTTP gets no page.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::{Certificate, ClientTlsConfig};

use super::{OPS, console_env};
use crate::helpers::TestApp;
use crate::security::{Pki, pki, tls_env};

/// One HTTP/1.1 request over TLS, trusting the test CA; the whole answer.
async fn https(addr: SocketAddr, pki: &Pki, request: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("a TLS handshake with the console");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_tls_the_console_speaks_https_and_its_cookie_is_secure() {
    kessai::startup::install_crypto_provider();
    let pki = pki();
    let mut env = tls_env(&pki, false);
    env.extend(console_env());
    let trust = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost");
    let app = TestApp::spawn_with_tls(env, Some(trust)).await;
    let console = app.console_addr.expect("the console is on");

    let page = https(
        console,
        &pki,
        "GET /sign-in HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let body = format!("token={OPS}");
    let signed_in = https(
        console,
        &pki,
        &format!(
            "POST /sign-in HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(signed_in.starts_with("HTTP/1.1 303"), "{signed_in}");
    let cookie = signed_in
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: kessai_console=")
        })
        .expect("a session cookie");
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    // Plain HTTP on the TLS port gets no page.
    let mut plain = TcpStream::connect(console).await.unwrap();
    plain
        .write_all(b"GET /sign-in HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        plain.read_to_end(&mut answer),
    )
    .await;
    assert!(!String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"));
}
