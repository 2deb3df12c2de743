//! Every command block of the README and of `docs/`, run as written against
//! the `kessai` binary in sandbox mode: the README's `cargo run` serves, and
//! the blocks run in order — the README's, then each document's — in a
//! terminal of their own, twice, kessai stopped and started again in
//! between. A `[VAR=value …] cargo run` block starts a kessai of its own for
//! the rest of its section. The operator commands run beside the server, on
//! its database; `sandbox reset` runs last, once kessai is stopped.

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use kessai::proto::v1;
use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use tonic::transport::Channel;

use super::server::{Server, is_server_block, with_binary};
use super::{Block, blocks, show};
use crate::tools;

/// The documents whose command blocks run here, in this order (later ones
/// use what earlier ones made: `$ORDER`, the README walkthrough's order).
const FILES: &[&str] = &[
    "README.md",
    "docs/providers.md",
    "docs/errors-and-events.md",
    "docs/configuration.md",
    "docs/operations.md",
];

/// The address the documents' examples use.
const DOC_ADDR: &str = "127.0.0.1:50051";
/// Variables blocks set and later blocks use, as they would stay set in the
/// reader's terminal.
const SHELL_STATE: &[&str] = &["ORDER"];
/// The section whose blocks run once kessai is stopped.
const STOPPED_SECTION: &str = "Starting over";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    /// Starts a kessai that serves.
    Serves,
    Succeeds,
    Fails,
}

/// What one block must do: the block of `file` under `section` whose script
/// starts with `starts`.
struct Expect {
    file: &'static str,
    section: &'static str,
    starts: &'static str,
    outcome: Outcome,
    /// Printed (standard output and error) on every run.
    printed: &'static [&'static str],
    /// Printed on the first run only (the second replays the orders as
    /// they are by then).
    first_run: &'static [&'static str],
}

const fn expect(
    file: &'static str,
    section: &'static str,
    starts: &'static str,
    outcome: Outcome,
    printed: &'static [&'static str],
) -> Expect {
    Expect {
        file,
        section,
        starts,
        outcome,
        printed,
        first_run: &[],
    }
}

const CALLERS: &str = "Callers, scopes and TLS";

static EXPECTED: &[Expect] = &[
    expect("README.md", "Run it", "cargo run", Outcome::Serves, &[]),
    Expect {
        first_run: &["ORDER_STATUS_PARTIALLY_CAPTURED"],
        ..expect(
            "README.md",
            "Five minutes with grpcurl",
            "grpcurl -plaintext 127.0.0.1:50051 list",
            Outcome::Succeeds,
            &[
                "kessai.v1.PaymentService",
                "\"status\": \"SERVING\"",
                "\"amountRefunded\": \"2500\"",
            ],
        )
    },
    expect(
        "README.md",
        "A refused request",
        "grpcurl",
        Outcome::Fails,
        // The reason from the ErrorInfo detail, not only the message.
        &[
            "FailedPrecondition",
            "google.rpc.ErrorInfo",
            "\"reason\":\"AMOUNT_EXCEEDS_CAPTURABLE\"",
            "\"domain\":\"kessai.v1\"",
        ],
    ),
    expect(
        "README.md",
        "The order's history",
        "cargo run -- orders get",
        Outcome::Succeeds,
        &[
            "authorization.requested",
            "capture.succeeded",
            "refund.settled",
            "order-1001",
        ],
    ),
    expect(
        "docs/providers.md",
        "PAY.JP: 3-D Secure the shopper fails",
        "THREE_DS=",
        Outcome::Succeeds,
        &[
            "ORDER_STATUS_DECLINED",
            "\"code\": \"AUTHENTICATION_FAILED\"",
        ],
    ),
    expect(
        "docs/providers.md",
        "Smartpay: a checkout the shopper approves",
        "SMARTPAY=",
        Outcome::Succeeds,
        &["ORDER_STATUS_CAPTURED"],
    ),
    expect(
        "docs/providers.md",
        "Smartpay: a token the shopper approved",
        "grpcurl",
        Outcome::Succeeds,
        &[
            "ORDER_STATUS_AUTHORIZED",
            "\"paymentMethod\": \"PAYMENT_METHOD_BNPL\"",
        ],
    ),
    expect(
        "docs/providers.md",
        "PaymentOptions: a card, server to server",
        "PO_ORDER=",
        Outcome::Succeeds,
        &[
            "ORDER_STATUS_CAPTURED",
            "\"bin\": \"520000\"",
            "\"last4\": \"1005\"",
            "CAPTURE_METHOD_AUTOMATIC",
        ],
    ),
    expect(
        "docs/errors-and-events.md",
        "Watching order events",
        "grpcurl",
        // grpcurl's -max-time cuts the stream: the whole history, then the cut.
        Outcome::Fails,
        &[
            "DeadlineExceeded",
            "\"eventType\": \"authorization.requested\"",
            "\"eventType\": \"refund.settled\"",
            "\"status\": \"ORDER_STATUS_CAPTURED\"",
            "\"cursor\"",
            "\"amountRefunded\": \"2500\"",
        ],
    ),
    expect(
        "docs/configuration.md",
        CALLERS,
        "TOKEN=$(openssl rand -hex 32)",
        Outcome::Succeeds,
        &[],
    ),
    expect(
        "docs/configuration.md",
        CALLERS,
        "KESSAI_AUTH=true",
        Outcome::Serves,
        &[],
    ),
    expect(
        "docs/configuration.md",
        CALLERS,
        "grpcurl -plaintext -H 'authorization: Bearer demo-checkout-token'",
        Outcome::Succeeds,
        &[],
    ),
    expect(
        "docs/configuration.md",
        CALLERS,
        "grpcurl -plaintext -d",
        Outcome::Fails,
        &["Unauthenticated", "MISSING_CREDENTIALS"],
    ),
    expect(
        "docs/operations.md",
        "Searching orders",
        "grpcurl",
        // Each search finds the order with the customer; the free query
        // also the walkthrough's (order-1001, order-1002).
        Outcome::Succeeds,
        &[
            "\"email\": \"Hanako.Sato@example.jp\"",
            "\"name\": \"佐藤 花子\"",
            "\"merchantReference\": \"order-1001\"",
            "\"merchantReference\": \"order-1002\"",
        ],
    ),
    expect(
        "docs/operations.md",
        "The kessai command",
        "cargo run -- orders get",
        Outcome::Succeeds,
        &[
            "authorization.succeeded",
            "refund.settled",
            "order-1001",
            "\"orders\": []",
        ],
    ),
    expect(
        "docs/operations.md",
        STOPPED_SECTION,
        "cargo run -- sandbox reset",
        Outcome::Succeeds,
        &["kessai.sqlite", "kessai.sandbox.json"],
    ),
    expect(
        "docs/operations.md",
        "Metrics",
        "KESSAI_METRICS_ADDR=",
        Outcome::Serves,
        &[],
    ),
    expect(
        "docs/operations.md",
        "Metrics",
        "curl -s http://127.0.0.1:9090/metrics",
        Outcome::Succeeds,
        &["kessai_db_pool_max_connections"],
    ),
    expect(
        "docs/operations.md",
        "Traces",
        "OTEL_EXPORTER_OTLP_ENDPOINT=",
        Outcome::Serves,
        &[],
    ),
];

fn expected(block: &Block) -> Option<&'static Expect> {
    EXPECTED.iter().find(|e| {
        e.file == block.file && e.section == block.section && block.script.starts_with(e.starts)
    })
}

/// Whether this test runs `block`.
pub fn runs(block: &Block) -> bool {
    FILES.contains(&block.file.as_str()) && expected(block).is_some()
}

/// A port of the documented address, e.g. `9090` of `127.0.0.1:9090`.
fn loopback_ports(script: &str) -> Vec<String> {
    script
        .match_indices("127.0.0.1:")
        .map(|(at, prefix)| {
            script[at + prefix.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .filter(|port| !port.is_empty())
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A section's own kessai, and the documented addresses it stands for.
struct SectionServer {
    server: Server,
    addresses: Vec<(String, String)>,
}

fn substitute(script: &str, addresses: &[(String, String)]) -> String {
    addresses
        .iter()
        .fold(with_binary(script), |s, (documented, real)| {
            s.replace(documented, real)
        })
}

/// Runs one block with `bash -euo pipefail` in `dir`, after the variables
/// earlier blocks left in `state`, and saves them again after it.
async fn run_block(script: &str, dir: &Path, path: &str, state: &Path) -> Output {
    let script = format!(
        "if [ -f \"$DOCS_STATE\" ]; then source \"$DOCS_STATE\"; fi\n\
         {script}\n\
         for v in {}; do if [ -n \"${{!v+x}}\" ]; then declare -p \"$v\"; fi; done > \"$DOCS_STATE\"\n",
        SHELL_STATE.join(" ")
    );
    let mut command = tokio::process::Command::new("bash");
    command
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir)
        .env("PATH", path)
        .env("DOCS_STATE", state)
        // curl and grpcurl go straight to 127.0.0.1, whatever proxy the
        // environment names.
        .env("no_proxy", "127.0.0.1,localhost")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .kill_on_drop(true);
    // A reader's terminal sets no kessai settings: the operator commands
    // read the defaults, as beside `cargo run`.
    for (name, _) in std::env::vars() {
        if name.starts_with("KESSAI_") || name.starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("this block hung:\n{script}"))
        .expect("bash runs")
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
        "one order {reference}, however often the docs run: {orders:?}"
    );
    orders.into_iter().next().unwrap()
}

/// `PATH` with grpcurl on it, after making sure of every tool the blocks
/// call.
async fn tools_path() -> String {
    tokio::task::spawn_blocking(|| tools::ensure("commands"))
        .await
        .expect("install");
    tools::require("jq", "--version", "the Debian package jq");
    tools::require("curl", "--version", "the Debian package curl");
    tools::require("openssl", "version", "the Debian package openssl");
    let grpcurl_dir = tokio::task::spawn_blocking(tools::grpcurl_dir)
        .await
        .expect("pip");
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(dir) = grpcurl_dir {
        let mut dirs = vec![dir];
        dirs.extend(std::env::split_paths(&path));
        path = std::env::join_paths(dirs).expect("PATH");
    }
    path.into_string().expect("a UTF-8 PATH")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_readme_and_docs_runs_as_written_and_again() {
    let path = tools_path().await;
    let all: Vec<Block> = FILES
        .iter()
        .flat_map(|file| blocks(file))
        .filter(|b| b.is_commands() && runs(b))
        .collect();
    for e in EXPECTED {
        assert!(
            all.iter()
                .any(|b| expected(b).is_some_and(|found| std::ptr::eq(found, e))),
            "no block of {} under {:?} starts with {:?}",
            e.file,
            e.section,
            e.starts
        );
    }
    let (primary, blocks): (Vec<&Block>, Vec<&Block>) = all
        .iter()
        .partition(|b| b.file == "README.md" && b.script.trim() == "cargo run");
    let [primary] = primary[..] else {
        panic!("the README starts kessai with one `cargo run`: {primary:?}");
    };

    let dir = std::env::temp_dir()
        .join("kessai-it")
        .join(format!("docs-{}", ulid::Ulid::new()));
    let mut server = Server::start(&primary.script, &dir.join("repository"));
    let mut client = connect(&server.addr).await;
    let mut sections: HashMap<(String, String), SectionServer> = HashMap::new();

    let mut first_order_id = None;
    for round in ["first run", "second run"] {
        if round == "second run" {
            // As a reader stops `cargo run` and runs it again: the sandbox
            // still knows every payment kessai holds.
            server = server.restart();
            client = connect(&server.addr).await;
        }
        // A fresh terminal each time: nothing carried over but the servers.
        let state = dir.join(format!("state-{}", round.replace(' ', "-")));
        for block in blocks.iter().filter(|b| b.section != STOPPED_SECTION) {
            let expect = expected(block).expect("a known block");
            let key = (block.file.clone(), block.section.clone());
            if is_server_block(&block.script) {
                assert_eq!(expect.outcome, Outcome::Serves, "{}", block.place());
                if !sections.contains_key(&key) {
                    let addresses: Vec<(String, String)> = loopback_ports(&block.script)
                        .into_iter()
                        .map(|port| {
                            (
                                format!("127.0.0.1:{port}"),
                                format!("127.0.0.1:{}", free_port()),
                            )
                        })
                        .collect();
                    let started = Server::start(
                        &substitute(&block.script, &addresses),
                        &dir.join(format!("section-{}", sections.len())),
                    );
                    sections.insert(
                        key,
                        SectionServer {
                            server: started,
                            addresses,
                        },
                    );
                }
                continue;
            }
            let (target, addresses) = match sections.get(&key) {
                Some(section) => (&section.server, section.addresses.clone()),
                None => (&server, Vec::new()),
            };
            let mut addresses = addresses;
            addresses.push((DOC_ADDR.to_owned(), target.addr.clone()));
            let script = substitute(&block.script, &addresses);
            let output = run_block(&script, &server.dir, &path, &state).await;
            check(block, expect, round, &output, target);
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

        let token = order(&mut client, "order-2002").await;
        assert_eq!(
            token.status(),
            v1::OrderStatus::Authorized,
            "{round}: {token:?}"
        );
        assert!(token.next_action.is_none(), "no checkout: {token:?}");

        let pre_auth = order(&mut client, "order-3001").await;
        assert_eq!(
            pre_auth.status(),
            v1::OrderStatus::Captured,
            "{round}: {pre_auth:?}"
        );
        assert_eq!(
            pre_auth.capture_method(),
            v1::CaptureMethod::Manual,
            "the default: {pre_auth:?}"
        );
        assert_eq!(
            (pre_auth.amount_authorized, pre_auth.amount_captured),
            (8_000, 6_000),
            "{pre_auth:?}"
        );
        let sale = order(&mut client, "order-3002").await;
        assert_eq!(
            sale.status(),
            v1::OrderStatus::Captured,
            "{round}: {sale:?}"
        );
        assert_eq!(sale.amount_captured, 2_000, "{sale:?}");
    }

    drop(sections);
    let repository = server.dir.clone();
    server.stop();
    let state = dir.join("state-stopped");
    for block in blocks.iter().filter(|b| b.section == STOPPED_SECTION) {
        let expect = expected(block).expect("a known block");
        let output = run_block(&with_binary(&block.script), &repository, &path, &state).await;
        assert!(
            output.status.success(),
            "{}:\n{}",
            block.place(),
            show(&output)
        );
        let printed = String::from_utf8_lossy(&output.stdout);
        for expected in expect.printed {
            assert!(printed.contains(expected), "{expected}: {}", show(&output));
        }
    }
    for gone in ["kessai.sqlite", "kessai.sandbox.json"] {
        assert!(
            !repository.join(gone).exists(),
            "sandbox reset leaves {gone}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn check(block: &Block, expect: &Expect, round: &str, output: &Output, target: &Server) {
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let context = || {
        format!(
            "{round}, {}:\n{}\n--- kessai's log ---\n{}",
            block.place(),
            show(output),
            target.logs()
        )
    };
    match expect.outcome {
        Outcome::Succeeds => assert!(output.status.success(), "{}", context()),
        Outcome::Fails => assert!(!output.status.success(), "must fail: {}", context()),
        Outcome::Serves => unreachable!("started above"),
    }
    let first = if round == "first run" {
        expect.first_run
    } else {
        &[]
    };
    for expected in expect.printed.iter().chain(first) {
        assert!(printed.contains(expected), "{expected}: {}", context());
    }
}
