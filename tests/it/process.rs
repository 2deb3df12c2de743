//! The `kessai` binary as its own process, configured as in production
//! (real adapters) and pointed at provider simulators this test process
//! serves, so a test sees what the providers were sent. Process-wide state
//! (the metrics recorder, the tracer) is then the binary's alone.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use kessai::sandbox::Sandbox;
use tonic::transport::Channel;

/// The binary with an empty environment but `PATH`.
pub fn kessai() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kessai"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// The production configuration of every provider, pointed at `sandbox`.
pub fn provider_env(sandbox: &Sandbox) -> HashMap<String, String> {
    let root = format!("http://{}", sandbox.addr());
    [
        ("KESSAI_SANDBOX", "false"),
        // The simulators take the providers' test keys.
        ("KESSAI_PROVIDER_MODE", "test"),
        ("KESSAI_FINGERPRINT_KEY", "integration-test-fingerprint-key"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain(crate::conformance::provider_env(&root))
    .collect()
}

/// A serving `kessai` process; killed when dropped.
pub struct KessaiProcess {
    child: Child,
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    /// The plaintext health listener, when `KESSAI_HEALTH_ADDR` is set.
    pub health_addr: Option<SocketAddr>,
    /// Every JSON log line written so far.
    logs: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl KessaiProcess {
    /// Starts `kessai serve` with `env` (on top of JSON logs and free
    /// ports) and waits until it serves.
    pub fn start(env: &HashMap<String, String>) -> Self {
        // Tests run reconciliation themselves unless `env` says otherwise.
        let mut child = kessai()
            .env("KESSAI_AUTH", "false")
            .env("KESSAI_RECONCILE_INTERVAL_SECS", "0")
            .envs(env)
            .env("KESSAI_LISTEN_ADDR", "127.0.0.1:0")
            .env("KESSAI_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("kessai starts");
        let stdout = child.stdout.take().expect("stdout");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (serving_tx, serving_rx) = std::sync::mpsc::channel();
        std::thread::spawn({
            let logs = logs.clone();
            move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    let json: serde_json::Value = serde_json::from_str(&line)
                        .unwrap_or_else(|_| serde_json::json!({ "unparsed": line }));
                    if json["message"] == "kessai serving gRPC" {
                        let _ = serving_tx.send(json.clone());
                    }
                    logs.lock().unwrap().push(json);
                }
            }
        });
        let serving = match serving_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kessai did not serve: {:?}", logs.lock().unwrap());
            }
        };
        let addr = serving["addr"].as_str().unwrap().parse().unwrap();
        let metrics_addr = serving["metrics_addr"].as_str().map(|a| a.parse().unwrap());
        let health_addr = serving["health_addr"].as_str().map(|a| a.parse().unwrap());
        Self {
            child,
            addr,
            metrics_addr,
            health_addr,
            logs,
        }
    }

    pub async fn client(&self) -> PaymentServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to kessai");
        PaymentServiceClient::new(channel)
    }

    /// `GET /metrics`.
    pub async fn scrape(&self) -> String {
        let addr = self.metrics_addr.expect("KESSAI_METRICS_ADDR is set");
        kessai::startup::install_crypto_provider();
        let response = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("the metrics endpoint answers");
        assert!(response.status().is_success(), "{response:?}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        response.text().await.unwrap()
    }

    pub fn logs(&self) -> Vec<serde_json::Value> {
        self.logs.lock().unwrap().clone()
    }

    /// The log lines whose message starts with `prefix`.
    pub fn logs_starting(&self, prefix: &str) -> Vec<serde_json::Value> {
        self.logs()
            .into_iter()
            .filter(|l| l["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
            .collect()
    }

    /// SIGTERM, then waits for a clean exit (spans are flushed on the way
    /// out).
    pub fn terminate(self) {
        self.sigterm();
        self.wait_for_exit();
    }

    /// SIGTERM: kessai starts draining.
    pub fn sigterm(&self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    }

    /// Waits for a clean exit.
    pub fn wait_for_exit(mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "kessai exited with {status:?}");
                return;
            }
            assert!(Instant::now() < deadline, "kessai did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for KessaiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
