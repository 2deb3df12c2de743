//! The contract works from another language: Python stubs generated from
//! `proto/kessai/v1/payment.proto` with grpcio-tools drive a payment and read
//! the `google.rpc.ErrorInfo` of a refusal (`tests/python/client.py`).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tokio::process::Command;

use crate::helpers::{Backend, TestApp};
use crate::pip;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn show(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn run(command: &mut Command, what: &str) -> Output {
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        command.kill_on_drop(true).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{what} did not finish in 120 s"))
    .unwrap_or_else(|e| panic!("{what} could not start: {e}"));
    assert!(output.status.success(), "{what} failed\n{}", show(&output));
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_from_the_proto_pays_refunds_and_reads_error_info() {
    tokio::task::spawn_blocking(pip::python_grpc)
        .await
        .expect("pip");

    let stubs: PathBuf = std::env::temp_dir()
        .join("kessai-it")
        .join(format!("python-stubs-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&stubs).expect("temp dir");
    run(
        Command::new("python3")
            .args(["-m", "grpc_tools.protoc", "-I"])
            .arg(repo().join("proto"))
            .arg("--python_out")
            .arg(&stubs)
            .arg("--grpc_python_out")
            .arg(&stubs)
            .arg("kessai/v1/payment.proto"),
        "grpc_tools.protoc",
    )
    .await;
    assert!(stubs.join("kessai/v1/payment_pb2_grpc.py").exists());

    let app = TestApp::spawn(Backend::Sqlite).await;
    let output = run(
        Command::new("python3")
            .arg(repo().join("tests/python/client.py"))
            .arg(app.addr.to_string())
            .arg("--stubs")
            .arg(&stubs)
            // Straight to 127.0.0.1, whatever proxy the environment names.
            .env("no_proxy", "127.0.0.1,localhost")
            .env("NO_PROXY", "127.0.0.1,localhost"),
        "tests/python/client.py",
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("python client: all checks passed"),
        "{}",
        show(&output)
    );
    let _ = std::fs::remove_dir_all(&stubs);
}
