//! Health checks when the gRPC port requires TLS: the plaintext health
//! listener (`KESSAI_HEALTH_ADDR`) answers what the gRPC port would, drain
//! included, and the README's grpcurl lines for TLS, mutual TLS and that
//! listener run as written.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::docs::{Block, blocks};
use crate::process::KessaiProcess;
use crate::security::{Pki, pki, write_pem};
use crate::tls_failures::mutual_tls_env;

const PAYMENT_SERVICE: &str = "kessai.v1.PaymentService";

/// The status `service` has on the plaintext address `addr`.
async fn status(addr: SocketAddr, service: &str) -> Result<ServingStatus, String> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(answer.into_inner().status())
}

/// Polls until `service` answers `want` on `addr`, for up to `within`.
async fn answers(addr: SocketAddr, service: &str, want: ServingStatus, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if status(addr, service).await == Ok(want) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The process (`""`) and the payment service answer `want` within `within`.
async fn both_answer(addr: SocketAddr, want: ServingStatus, within: Duration) {
    for service in ["", PAYMENT_SERVICE] {
        assert!(
            answers(addr, service, want, within).await,
            "{service:?} is not {want:?}: {:?}",
            status(addr, service).await
        );
    }
}

fn with_health_addr(mut env: HashMap<String, String>) -> HashMap<String, String> {
    env.insert("KESSAI_HEALTH_ADDR".into(), "127.0.0.1:0".into());
    env
}

#[tokio::test]
async fn health_is_served_in_plaintext_beside_a_mutual_tls_port_and_drains() {
    kessai::startup::install_crypto_provider();
    let pki = pki();
    let mut env = with_health_addr(mutual_tls_env(&pki));
    env.insert("KESSAI_DRAIN_DELAY_SECS".into(), "3".into());
    let kessai = KessaiProcess::start(&env);
    let health = kessai.health_addr.expect("the health listener is on");
    both_answer(health, ServingStatus::Serving, Duration::from_secs(10)).await;
    assert!(
        status(kessai.addr, "").await.is_err(),
        "the gRPC port itself takes no plaintext"
    );
    // Nothing but health (and its reflection) is served there.
    let refused = kessai::proto::v1::payment_service_client::PaymentServiceClient::connect(
        format!("http://{health}"),
    )
    .await
    .unwrap()
    .list_orders(kessai::proto::v1::ListOrdersRequest::default())
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unimplemented, "{refused:?}");

    kessai.sigterm();
    // The drain delay is 3 s.
    both_answer(health, ServingStatus::NotServing, Duration::from_secs(2)).await;
    kessai.wait_for_exit();
}

/// Runs `script` with bash in `dir`, with grpcurl on the path.
async fn run(script: &str, dir: &Path) -> std::process::Output {
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(grpcurl) = tokio::task::spawn_blocking(crate::tools::grpcurl_dir)
        .await
        .unwrap()
    {
        let mut dirs = vec![grpcurl];
        dirs.extend(std::env::split_paths(&path));
        path = std::env::join_paths(dirs).unwrap();
    }
    let command = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("no_proxy", "127.0.0.1,localhost")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), command)
        .await
        .expect("grpcurl hung")
        .unwrap()
}

/// The README's files: kessai's CA and a client certificate it trusts.
fn readme_files(pki: &Pki) -> std::path::PathBuf {
    let dir = Path::new(&write_pem("ca.pem", &pki.ca_pem))
        .parent()
        .unwrap()
        .to_owned();
    std::fs::write(dir.join("client.pem"), &pki.client_cert).unwrap();
    std::fs::write(dir.join("client-key.pem"), &pki.client_key).unwrap();
    dir
}

/// Where the health checks over TLS are documented, and their section.
const HEALTH_DOC: &str = "docs/operations.md";
const TLS_HEALTH_SECTION: &str = "Health checks with TLS";

/// Whether this test runs `block` (the docs' coverage check asks).
pub fn runs(block: &Block) -> bool {
    block.file == HEALTH_DOC && block.section == TLS_HEALTH_SECTION && block.is_commands()
}

#[tokio::test]
async fn the_documented_health_checks_over_tls_mutual_tls_and_the_health_address_run_as_written() {
    kessai::startup::install_crypto_provider();
    let pki = pki();
    let blocks: Vec<String> = blocks(HEALTH_DOC)
        .into_iter()
        .filter(runs)
        .map(|b| b.script)
        .collect();
    assert_eq!(
        blocks.len(),
        3,
        "TLS, mutual TLS, the health address: {blocks:?}"
    );

    let mut tls_only = mutual_tls_env(&pki);
    tls_only.remove("KESSAI_TLS_CLIENT_CA_FILE");
    let tls = KessaiProcess::start(&tls_only);
    let mutual = KessaiProcess::start(&with_health_addr(mutual_tls_env(&pki)));
    let health = mutual.health_addr.expect("the health listener is on");
    assert!(
        answers(
            health,
            PAYMENT_SERVICE,
            ServingStatus::Serving,
            Duration::from_secs(10)
        )
        .await
    );
    let dir = readme_files(&pki);
    for script in &blocks {
        let (target, what) = if script.contains("-plaintext") {
            (health.to_string(), "the health address")
        } else if script.contains("-cert ") {
            (format!("localhost:{}", mutual.addr.port()), "mutual TLS")
        } else {
            (format!("localhost:{}", tls.addr.port()), "TLS")
        };
        let script = script
            .replace("localhost:50051", &target)
            .replace("127.0.0.1:8086", &target);
        let output = run(&script, &dir).await;
        let printed = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{what}: {script}\n{printed}");
        assert!(
            printed.contains("\"status\": \"SERVING\""),
            "{what}: {printed}"
        );
    }
    // Without its certificate the mutual TLS line is refused.
    let mutual_line = blocks.iter().find(|s| s.contains("-cert ")).unwrap();
    let without = mutual_line
        .replace(" -cert client.pem -key client-key.pem", "")
        .replace(
            "localhost:50051",
            &format!("localhost:{}", mutual.addr.port()),
        );
    assert!(!run(&without, &dir).await.status.success(), "{without}");
}
