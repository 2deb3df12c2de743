//! The client examples (`examples/<language>/`), each run as its README says
//! — the README's one command block, as written — against a sandbox kessai
//! the test serves: Authorize → Capture → Refund → GetOrder, then a refused
//! capture read by its `google.rpc.ErrorInfo` reason. What each prints must
//! be what its README shows, and the order it made must be in kessai's
//! books as printed.

use std::time::{Duration, Instant};

use kessai::proto::v1;
use tokio::process::Command;

use crate::docs::{Block, blocks, repo, show};
use crate::helpers::{Backend, TestApp};
use crate::tools;

/// One example: its directory under `examples/`, the tool `install.sh`
/// gives it, and the programs (with the argument that makes each say its
/// version) it then needs.
struct Example {
    dir: &'static str,
    tool: &'static str,
    programs: &'static [(&'static str, &'static str)],
}

const EXAMPLES: &[Example] = &[
    Example {
        dir: "python",
        tool: "python-example",
        programs: &[("python3", "--version")],
    },
    Example {
        dir: "node",
        tool: "node",
        programs: &[("node", "--version"), ("npm", "--version")],
    },
    Example {
        dir: "go",
        tool: "go-grpc",
        programs: &[
            ("go", "version"),
            ("protoc", "--version"),
            ("protoc-gen-go", "--version"),
            ("protoc-gen-go-grpc", "--version"),
        ],
    },
];

/// The address the examples' READMEs use.
const DOC_ADDR: &str = "127.0.0.1:50051";

fn readme(language: &str) -> String {
    format!("examples/{language}/README.md")
}

/// Whether this test runs `block`: the one command block of an example's
/// README.
pub fn runs(block: &Block) -> bool {
    EXAMPLES.iter().any(|e| block.file == readme(e.dir)) && block.is_commands()
}

/// Whether `line` is what the README shows, `…` standing for any text
/// (an order id).
fn matches(shown: &str, line: &str) -> bool {
    let mut parts = shown.split('…');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part) && rest.len() >= part.len();
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

async fn run_example(language: &'static str) {
    let Example { tool, programs, .. } = EXAMPLES
        .iter()
        .find(|e| e.dir == language)
        .expect("a known example");
    tokio::task::spawn_blocking(move || tools::ensure(tool))
        .await
        .expect("install");
    for (program, version) in programs.iter() {
        tools::require(
            program,
            version,
            &format!("`bash tests/tools/install.sh {tool}`"),
        );
    }

    let file = readme(language);
    let all = blocks(&file);
    let commands: Vec<&Block> = all.iter().filter(|b| b.is_commands()).collect();
    let [command] = commands[..] else {
        panic!("{file} shows one command block: {commands:?}");
    };
    let shown = all
        .iter()
        .find(|b| b.lang == "text" && b.line > command.line)
        .expect("the README shows what the example prints, after the command");

    let app = TestApp::spawn(Backend::Sqlite).await;
    let script = command.script.replace(DOC_ADDR, &app.addr.to_string());
    let started = Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs(600),
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(repo())
            // Straight to 127.0.0.1, whatever proxy the environment names.
            .env("no_proxy", "127.0.0.1,localhost")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{file}'s command did not finish in 600 s"))
    .expect("bash runs");
    assert!(output.status.success(), "{file}:\n{}", show(&output));
    eprintln!("{file}: ran in {:.1} s", started.elapsed().as_secs_f64());

    let stdout = String::from_utf8_lossy(&output.stdout);
    // Installers print their own lines first: the program's are the last.
    let lines: Vec<&str> = stdout.lines().collect();
    let expected: Vec<&str> = shown.script.lines().collect();
    let printed = &lines[lines.len().saturating_sub(expected.len())..];
    assert_eq!(printed.len(), expected.len(), "{file}:\n{}", show(&output));
    for (line, shown) in printed.iter().zip(&expected) {
        assert!(
            matches(shown, line),
            "{file}: printed {line:?}, the README shows {shown:?}\n{}",
            show(&output)
        );
    }

    // The order it printed, as kessai keeps it.
    let order_id = printed[0]
        .split_whitespace()
        .nth(1)
        .and_then(|id| id.strip_suffix(':'))
        .expect("the order id on the first line");
    let order = app
        .get_order(order_id, false)
        .await
        .expect("the example's order");
    assert_eq!(order.provider(), v1::Provider::Payjp, "{order:?}");
    assert_eq!(
        order.status(),
        v1::OrderStatus::PartiallyCaptured,
        "{order:?}"
    );
    assert_eq!(
        (
            order.amount_authorized,
            order.amount_captured,
            order.amount_refunded,
            order.amount_capturable
        ),
        (10_000, 3_000, 1_000, 7_000),
        "the refused capture moved nothing: {order:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_example_pays_refunds_and_reads_error_info() {
    run_example("python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_example_pays_refunds_and_reads_error_info() {
    run_example("node").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_example_pays_refunds_and_reads_error_info() {
    run_example("go").await;
}

#[test]
fn every_example_is_run() {
    let dirs: Vec<String> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for dir in &dirs {
        assert!(
            EXAMPLES.iter().any(|e| e.dir == dir),
            "examples/{dir} is run by no test"
        );
    }
}

#[test]
fn the_readme_pattern_matches_only_what_it_shows() {
    assert!(matches("authorized ord_…: X", "authorized ord_01ABC: X"));
    assert!(!matches("authorized ord_…: X", "authorized ord_01ABC: Y"));
    assert!(matches("captured 3000: X", "captured 3000: X"));
    assert!(!matches("captured 3000: X", "captured 3000: XY"));
    assert!(matches("order ord_…: S, a", "order ord_1: S, a"));
}
