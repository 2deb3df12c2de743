//! The README's grpcurl examples, run as written against the `kessai` binary
//! in sandbox mode: every ```sh block that calls grpcurl, in order, twice,
//! kessai stopped and started again in between.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kessai::proto::v1;
use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use tonic::transport::Channel;

use crate::pip;

/// The address the README's examples use.
const README_ADDR: &str = "127.0.0.1:50051";
/// The section whose example must be refused.
const REFUSED_SECTION: &str = "A refused request";
/// The section whose examples run against a server that requires callers,
/// configured as the section says.
const AUTH_SECTION: &str = "Callers, scopes and TLS";
/// The token the README's caller configuration is made for.
const DEMO_TOKEN: &str = "demo-checkout-token";
/// The section whose stream grpcurl cuts off after a few seconds.
const WATCH_SECTION: &str = "Watching order events";
/// The section that finds orders by their customer.
const SEARCH_SECTION: &str = "Searching orders";
/// The section whose shopper fails 3-D Secure.
const THREE_DS_SECTION: &str = "PAY.JP: 3-D Secure the shopper fails";
/// Variables the blocks set and later blocks use (`ORDER` in the refused
/// capture), as they would stay set in the reader's terminal.
const SHELL_STATE: &[&str] = &["ORDER", "SMARTPAY", "SP_ORDER", "CHECKOUT"];

struct Block {
    /// The heading the block sits under.
    section: String,
    script: String,
}

/// Every ```sh block of the README that calls grpcurl, with its section.
fn grpcurl_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut section = String::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match current.as_mut() {
            Some(script) if line.trim_end() == "```" => {
                if script.contains("grpcurl") {
                    blocks.push(Block {
                        section: section.clone(),
                        script: std::mem::take(script),
                    });
                }
                current = None;
            }
            Some(script) => {
                script.push_str(line);
                script.push('\n');
            }
            None if line.trim_end() == "```sh" => current = Some(String::new()),
            None => {
                if let Some(heading) = line.strip_prefix('#') {
                    section = heading.trim_start_matches('#').trim().to_owned();
                }
            }
        }
    }
    assert!(current.is_none(), "an unclosed code block in README.md");
    blocks
}

/// `kessai` as `cargo run` starts it (sandbox mode: no credentials), on a
/// free port; killed when dropped.
struct Server {
    child: Child,
    addr: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(database_url: &str, extra_env: &[(&str, &str)]) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kessai"))
            .env_clear()
            .envs(extra_env.iter().copied())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KESSAI_DATABASE_URL", database_url)
            .env("KESSAI_LISTEN_ADDR", "127.0.0.1:0")
            .env("KESSAI_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kessai");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let deadline = Instant::now() + Duration::from_secs(30);
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
                "kessai did not start serving:\n{}",
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
        Self { child, addr, logs }
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// SIGTERM, a clean exit, and a new server on the same database.
    fn restart(self, database_url: &str) -> Self {
        let pid = self.child.id().to_string();
        let stopped = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        assert!(stopped.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let mut child = self;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.child.try_wait().expect("wait") {
                assert!(status.success(), "{status}: {}", child.logs());
                break;
            }
            assert!(Instant::now() < deadline, "kessai did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self::start(database_url, &[])
    }
}

async fn connect(addr: &str) -> PaymentServiceClient<Channel> {
    PaymentServiceClient::new(
        Channel::from_shared(format!("http://{addr}"))
            .expect("address")
            .connect()
            .await
            .expect("connect to kessai"),
    )
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require(tool: &str, package: &str) {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is missing: the README's examples need it; install the Debian package `{package}` (apt-get install {package})"
    );
}

fn show(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs one block with `bash -euo pipefail`, after the variables earlier
/// blocks left in `state`, and saves them again after it.
async fn run_block(block: &Block, addr: &str, path: &str, state: &Path) -> Output {
    let script = format!(
        "if [ -f \"$README_STATE\" ]; then source \"$README_STATE\"; fi\n\
         {}\n\
         for v in {}; do if [ -n \"${{!v+x}}\" ]; then declare -p \"$v\"; fi; done > \"$README_STATE\"\n",
        block.script.replace(README_ADDR, addr),
        SHELL_STATE.join(" ")
    );
    let mut command = tokio::process::Command::new("bash");
    command
        .args(["-euo", "pipefail", "-c", &script])
        .env("PATH", path)
        .env("README_STATE", state)
        // curl and grpcurl go straight to 127.0.0.1, whatever proxy the
        // environment names.
        .env("no_proxy", "127.0.0.1,localhost")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("the block under {:?} hung", block.section))
        .expect("bash runs")
}

/// The `KESSAI_CALLERS` value the README configures, as written.
fn readme_callers(readme: &str) -> String {
    let start = readme
        .find("KESSAI_CALLERS='")
        .expect("the README configures KESSAI_CALLERS")
        + "KESSAI_CALLERS='".len();
    let length = readme[start..].find('\'').expect("a closing quote");
    readme[start..start + length].to_owned()
}

/// The one order with this merchant reference.
async fn order(client: &mut PaymentServiceClient<Channel>, reference: &str) -> v1::Order {
    let orders = client
        .list_orders(v1::ListOrdersRequest {
            merchant_reference: reference.into(),
            ..Default::default()
        })
        .await
        .expect("ListOrders")
        .into_inner()
        .orders;
    assert_eq!(
        orders.len(),
        1,
        "one order {reference}, however often the README runs: {orders:?}"
    );
    orders.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_grpcurl_examples_run_as_written_and_again() {
    require("jq", "jq");
    require("curl", "curl");
    let grpcurl_dir = tokio::task::spawn_blocking(pip::grpcurl_dir)
        .await
        .expect("pip");
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(dir) = grpcurl_dir {
        let mut dirs = vec![dir];
        dirs.extend(std::env::split_paths(&path));
        path = std::env::join_paths(dirs).expect("PATH");
    }
    let path = path.into_string().expect("a UTF-8 PATH");

    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let blocks = grpcurl_blocks(&readme);
    let sections: Vec<&str> = blocks.iter().map(|b| b.section.as_str()).collect();
    assert_eq!(
        sections,
        [
            "Walkthrough with grpcurl",
            "Smartpay: a checkout the shopper approves",
            THREE_DS_SECTION,
            REFUSED_SECTION,
            WATCH_SECTION,
            SEARCH_SECTION,
            AUTH_SECTION,
            AUTH_SECTION
        ],
        "the README's grpcurl examples this test knows"
    );

    let dir = std::env::temp_dir()
        .join("kessai-it")
        .join(format!("readme-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database_url = format!("sqlite://{}", dir.join("kessai.sqlite").display());
    let mut server = Server::start(&database_url, &[]);
    let callers = readme_callers(&readme);
    let demo: Vec<serde_json::Value> = serde_json::from_str(&callers).expect("callers JSON");
    assert_eq!(
        demo[0]["token_sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(DEMO_TOKEN)),
        "the README's first caller is made for {DEMO_TOKEN:?}"
    );
    let guarded = Server::start(
        &format!("sqlite://{}", dir.join("guarded.sqlite").display()),
        &[("KESSAI_AUTH", "true"), ("KESSAI_CALLERS", &callers)],
    );
    let mut client = connect(&server.addr).await;

    let mut first_order_id = None;
    for round in ["first run", "second run"] {
        if round == "second run" {
            // As a reader stops `cargo run` and runs it again: the sandbox
            // still knows every payment kessai holds.
            server = server.restart(&database_url);
            client = connect(&server.addr).await;
        }
        // A fresh terminal each time: nothing carried over but the server.
        let state = dir.join(format!("state-{}", round.replace(' ', "-")));
        for block in &blocks {
            let target = if block.section == AUTH_SECTION {
                &guarded
            } else {
                &server
            };
            let output = run_block(block, &target.addr, &path, &state).await;
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let context = || {
                format!(
                    "{round}, {:?}:\n{}\n--- kessai's log ---\n{}",
                    block.section,
                    show(&output),
                    target.logs()
                )
            };
            if block.section == AUTH_SECTION {
                if block.script.contains(&format!("Bearer {DEMO_TOKEN}")) {
                    assert!(output.status.success(), "{}", context());
                } else {
                    assert!(!output.status.success(), "must be refused: {}", context());
                    assert!(
                        printed.contains("Unauthenticated")
                            && printed.contains("MISSING_CREDENTIALS"),
                        "{}",
                        context()
                    );
                }
            } else if block.section == REFUSED_SECTION {
                assert!(!output.status.success(), "must be refused: {}", context());
                assert!(printed.contains("FailedPrecondition"), "{}", context());
                // The reason from the ErrorInfo detail, not only the message.
                assert!(
                    printed.contains("google.rpc.ErrorInfo")
                        && printed.contains("\"reason\":\"AMOUNT_EXCEEDS_CAPTURABLE\"")
                        && printed.contains("\"domain\":\"kessai.v1\""),
                    "{}",
                    context()
                );
            } else if block.section == WATCH_SECTION {
                // The Smartpay order's whole history, then the watch is cut.
                assert!(!output.status.success(), "{}", context());
                assert!(printed.contains("DeadlineExceeded"), "{}", context());
                for expected in [
                    "\"eventType\": \"authorization.requested\"",
                    "\"eventType\": \"void.succeeded\"",
                    "\"status\": \"ORDER_STATUS_CAPTURED\"",
                    "\"cursor\"",
                    "\"amountRefunded\": \"2500\"",
                ] {
                    assert!(printed.contains(expected), "{expected}: {}", context());
                }
            } else {
                assert!(output.status.success(), "{}", context());
            }
            if block.section == SEARCH_SECTION {
                // Each search finds the order with the customer; the free
                // query also the walkthrough's (order-1001, order-1002).
                for expected in [
                    "\"email\": \"Hanako.Sato@example.jp\"",
                    "\"name\": \"佐藤 花子\"",
                    "\"merchantReference\": \"order-1001\"",
                    "\"merchantReference\": \"order-1002\"",
                ] {
                    assert!(printed.contains(expected), "{expected}: {}", context());
                }
                assert_eq!(
                    printed
                        .matches("\"merchantReference\": \"order-1003\"")
                        .count(),
                    4,
                    "the Authorize answer and three searches: {}",
                    context()
                );
            }
            if block.section == THREE_DS_SECTION {
                for expected in [
                    "ORDER_STATUS_DECLINED",
                    "\"code\": \"AUTHENTICATION_FAILED\"",
                ] {
                    assert!(printed.contains(expected), "{expected}: {}", context());
                }
            }
            if block.section.starts_with("Walkthrough") {
                assert!(
                    printed.contains("kessai.v1.PaymentService"),
                    "{}",
                    context()
                );
                // The first capture's answer; a second run replays the order
                // as it is by then (captured).
                if round == "first run" {
                    assert!(
                        printed.contains("ORDER_STATUS_PARTIALLY_CAPTURED"),
                        "{}",
                        context()
                    );
                }
                assert!(printed.contains("\"status\": \"SERVING\""), "{}", context());
            }
        }

        let walkthrough = order(&mut client, "order-1001").await;
        assert_eq!(
            walkthrough.status(),
            v1::OrderStatus::Captured,
            "{round}: {walkthrough:?}"
        );
        assert_eq!(
            (
                walkthrough.amount_authorized,
                walkthrough.amount_captured,
                walkthrough.amount_refunded
            ),
            (10_000, 10_000, 2_500),
            "{round}: {walkthrough:?}"
        );
        assert!(!walkthrough.livemode);
        assert!(!walkthrough.needs_review, "{round}: {walkthrough:?}");
        let first = first_order_id.get_or_insert_with(|| walkthrough.id.clone());
        assert_eq!(*first, walkthrough.id, "the second run replays the first");

        let three_ds = order(&mut client, "order-1002").await;
        assert_eq!(
            three_ds.status(),
            v1::OrderStatus::Declined,
            "{round}: {three_ds:?}"
        );

        let smartpay = order(&mut client, "order-2001").await;
        assert_eq!(
            smartpay.status(),
            v1::OrderStatus::Captured,
            "{round}: {smartpay:?}"
        );
        assert_eq!(
            (smartpay.amount_captured, smartpay.amount_refunded),
            (3_000, 2_500),
            "{round}: {smartpay:?}"
        );
        assert_eq!(smartpay.refunds.len(), 1, "{round}: {smartpay:?}");
        let parts: Vec<i64> = smartpay.refunds[0].parts.iter().map(|p| p.amount).collect();
        assert_eq!(parts, [2_000, 500], "{round}: {smartpay:?}");
    }

    drop(server);
    drop(guarded);
    let _ = std::fs::remove_dir_all(&dir);
}
