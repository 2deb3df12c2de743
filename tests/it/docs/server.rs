//! `kessai` started the way a documented `cargo run` block starts it: the
//! block itself run by bash, with `cargo run` replaced by the test build's
//! binary, in a directory of its own (where the default SQLite database and
//! sandbox state land, as they would in a clone), on a free port.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary `cargo run` builds, as the tests have it.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_kessai")
}

/// A documented command with the ways the docs name the binary —
/// `cargo run --` and `target/debug/kessai` — pointing at the test build.
pub fn with_binary(script: &str) -> String {
    // `target/debug/kessai` first: the binary's own path ends with it.
    script
        .replace("target/debug/kessai", binary())
        .replace("cargo run --", binary())
}

/// A `[VAR=value …] cargo run` block: the documented way to start kessai
/// with some settings.
pub fn is_server_block(script: &str) -> bool {
    script.trim_end().ends_with("cargo run")
}

/// A running kessai; killed when dropped.
pub struct Server {
    child: Child,
    /// Its gRPC address.
    pub addr: String,
    /// Where it runs: its `kessai.sqlite` and `kessai.sandbox.json`.
    pub dir: PathBuf,
    script: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Runs the `cargo run` block `script` (its addresses already made
    /// free ones) in `dir`, and waits for kessai to serve.
    pub fn start(script: &str, dir: &Path) -> Self {
        let command = format!(
            "{} {}",
            script
                .trim_end()
                .strip_suffix("cargo run")
                .expect("a cargo run block"),
            format_args!("exec {}", binary())
        );
        std::fs::create_dir_all(dir).expect("the server's directory");
        let mut child = std::process::Command::new("bash")
            .args(["-c", &command])
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KESSAI_LISTEN_ADDR", "127.0.0.1:0")
            .env("KESSAI_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kessai");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut addr = None;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            logs.lock().unwrap().push(line.clone());
            let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if json["message"] == "kessai serving gRPC" {
                addr = json["addr"].as_str().map(str::to_owned);
                break;
            }
            if Instant::now() > deadline {
                break;
            }
        }
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "kessai, started as `{script}`, did not serve:\n{}",
                logs.lock().unwrap().join("\n")
            );
        };
        // Keep reading, so the pipe never fills; the lines help a failure.
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            addr,
            dir: dir.to_owned(),
            script: script.to_owned(),
            logs,
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// SIGTERM, and waits for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let stopped = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        assert!(stopped.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "{status}: {}", self.logs());
                return;
            }
            assert!(Instant::now() < deadline, "kessai did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stopped, and started again as before, in the same directory.
    pub fn restart(self) -> Self {
        let (script, dir) = (self.script.clone(), self.dir.clone());
        self.stop();
        Self::start(&script, &dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
