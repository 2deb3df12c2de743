//! The servers under test, each a process of its own (this binary run as
//! `serve` or `serve-null`), so that its memory is its own and the load
//! generator's work is not counted in it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kessai::sandbox::{PAYJP_SANDBOX_SECRET_KEY, Sandbox};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::load::Client;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Kessai,
    Null,
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// Where kessai serves `/metrics` (`KESSAI_METRICS_ADDR`), if it does.
    pub metrics_addr: Option<SocketAddr>,
    /// Where the process writes its stdout and stderr (JSON log lines).
    pub log: PathBuf,
    /// From spawning the process to `kessai.v1.PaymentService` SERVING.
    pub ready_after: Duration,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub async fn start(kind: Kind, env: &HashMap<String, String>) -> anyhow::Result<Self> {
        Self::start_exe(&std::env::current_exe()?, kind, env).await
    }

    /// As [`Server::start`], served by another build of this binary (an
    /// earlier commit's, to compare).
    pub async fn start_exe(
        exe: &std::path::Path,
        kind: Kind,
        env: &HashMap<String, String>,
    ) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join("kessai-bench");
        std::fs::create_dir_all(&dir)?;
        let log = dir.join(format!("{}.log", ulid::Ulid::new()));
        let file = std::fs::File::create(&log)?;
        let began = Instant::now();
        let mut child = Command::new(exe)
            .arg(match kind {
                Kind::Kessai => "serve",
                Kind::Null => "serve-null",
            })
            .env("KESSAI_LOG_FORMAT", "json")
            .envs(env)
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .spawn()?;
        let message = match kind {
            Kind::Kessai => "kessai serving gRPC",
            Kind::Null => "null backend serving gRPC",
        };
        let (addr, metrics_addr) = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let serving = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|l| l["message"] == message);
            let address = |field: &str| {
                serving
                    .as_ref()
                    .and_then(|l| l[field].as_str().and_then(|a| a.parse().ok()))
            };
            if let Some(addr) = address("addr") {
                break (addr, address("metrics_addr"));
            }
            if let Some(status) = child.try_wait()? {
                bail!("the server exited ({status}) before serving:\n{text}");
            }
            if began.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                bail!("the server did not start within 60 s:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let mut server = Self {
            child,
            addr,
            metrics_addr,
            log,
            ready_after: Duration::ZERO,
        };
        server.wait_serving(began).await?;
        Ok(server)
    }

    async fn wait_serving(&mut self, began: Instant) -> anyhow::Result<()> {
        let channel = self.channel().await?;
        let mut health = HealthClient::new(channel);
        loop {
            let status = health
                .check(HealthCheckRequest {
                    service: "kessai.v1.PaymentService".into(),
                })
                .await
                .map(|r| r.into_inner().status());
            if matches!(status, Ok(ServingStatus::Serving)) {
                self.ready_after = began.elapsed();
                return Ok(());
            }
            if began.elapsed() > Duration::from_secs(60) {
                bail!("not SERVING within 60 s ({status:?})");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Endpoint::from_shared(format!("http://{}", self.addr))?
            .tcp_nodelay(true)
            .connect()
            .await
            .context("connecting to the server")
    }

    /// `n` clients, each on its own HTTP/2 connection.
    pub async fn clients(&self, n: usize) -> anyhow::Result<Vec<Client>> {
        let mut clients = Vec::with_capacity(n);
        for _ in 0..n.max(1) {
            clients.push(
                Client::new(self.channel().await?).max_decoding_message_size(16 * 1024 * 1024),
            );
        }
        Ok(clients)
    }

    /// Resident memory now, in MiB.
    pub fn rss_mib(&self) -> Option<f64> {
        rss_mib(self.pid())
    }

    /// Samples resident memory every 20 ms until the guard drops; the
    /// guard reads the largest sample.
    pub fn sample_rss(&self) -> RssSampler {
        let max = Arc::new(AtomicU64::new(0));
        let pid = self.pid();
        let task = tokio::spawn({
            let max = max.clone();
            async move {
                loop {
                    if let Some(kib) = rss_kib(pid) {
                        max.fetch_max(kib, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
        RssSampler { max, task }
    }
}

pub struct RssSampler {
    max: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub fn max_mib(self) -> f64 {
        self.task.abort();
        self.max.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

pub fn rss_mib(pid: u32) -> Option<f64> {
    rss_kib(pid).map(|kib| kib as f64 / 1024.0)
}

/// kessai's own default pool, as a deployment that does not set it runs.
pub fn default_db_connections() -> u32 {
    kessai::config::DEFAULT_DATABASE_MAX_CONNECTIONS
}

/// What the harness sets for every kessai it starts: production settings
/// except that nobody authenticates and nobody is rate limited (the
/// load comes from one anonymous caller).
pub fn kessai_env(
    db_connections: u32,
    database_url: &str,
    sandbox: &Sandbox,
) -> HashMap<String, String> {
    [
        (
            "KESSAI_DATABASE_MAX_CONNECTIONS",
            db_connections.to_string(),
        ),
        ("KESSAI_DATABASE_URL", database_url.to_owned()),
        ("KESSAI_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
        // Statements per call are read from kessai's counter.
        ("KESSAI_METRICS_ADDR", "127.0.0.1:0".to_owned()),
        ("KESSAI_SANDBOX", "false".to_owned()),
        // The simulators take the providers' test keys.
        ("KESSAI_PROVIDER_MODE", "test".to_owned()),
        ("KESSAI_AUTH", "false".to_owned()),
        ("KESSAI_RATE_LIMIT_PER_SECOND", "0".to_owned()),
        (
            "KESSAI_FINGERPRINT_KEY",
            "benchmark-fingerprint-key".to_owned(),
        ),
        (
            "KESSAI_PAYJP_SECRET_KEY",
            PAYJP_SANDBOX_SECRET_KEY.to_owned(),
        ),
        ("KESSAI_PAYJP_BASE_URL", sandbox.payjp_base_url()),
        ("KESSAI_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Raises kessai's caps on open WatchOrderEvents streams, per replica and
/// per caller, to `streams`: every stream of the harness is one caller's.
pub fn allow_streams(env: &mut HashMap<String, String>, streams: usize) {
    let cap = streams.to_string();
    env.insert("KESSAI_MAX_WATCHERS".into(), cap.clone());
    env.insert("KESSAI_MAX_WATCHERS_PER_CALLER".into(), cap);
}
