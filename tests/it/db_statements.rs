//! `kessai_db_statements_total` counts what the driver's statement log
//! shows (the count `round_trips.rs` budgets), so that a benchmark or a
//! dashboard can read a call's statements from `/metrics` without DEBUG
//! logs. One Authorize on its own process, counted both ways.

use std::collections::HashMap;
use std::time::Duration;

use kessai::proto::v1;
use prometheus_parse::Scrape;

use crate::helpers::{Backend, payjp_authorize, unique_key};
use crate::metrics::{parse, serving_metrics, value};
use crate::process::KessaiProcess;
use crate::round_trips::{RoundTrips, classify};

const COUNTER: &str = "kessai_db_statements_total";

fn counted(scrape: &Scrape, kinds: &[&str]) -> usize {
    kinds
        .iter()
        .map(|kind| value(scrape, COUNTER, &[("kind", kind)]) as usize)
        .sum()
}

/// The summaries of the statements the driver logged so far.
fn logged(kessai: &KessaiProcess) -> Vec<String> {
    kessai
        .logs()
        .into_iter()
        .filter(|l| l["target"] == "sqlx::query")
        .map(|l| l["summary"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Lets the log reader catch up with what the process wrote.
async fn settled(kessai: &KessaiProcess) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    logged(kessai)
}

async fn one_authorize_counted_both_ways(backend: Backend) {
    let log = HashMap::from([(
        "KESSAI_LOG".to_owned(),
        "warn,kessai::startup=info,sqlx::query=debug".to_owned(),
    )]);
    let (sandbox, kessai) = serving_metrics(backend, log).await;
    let mut client = kessai.client().await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A scrape's own reads (the backlog) are counted in that scrape, so
    // the window from one scrape to the next holds the Authorize and the
    // second scrape's reads, in the log and in the counter alike.
    let before = parse(&kessai.scrape().await);
    let log_before = settled(&kessai).await.len();
    let order = client
        .authorize(payjp_authorize(
            &unique_key("stmts"),
            10_000,
            "pm_test_approve",
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.status(), v1::OrderStatus::Authorized);
    let after = parse(&kessai.scrape().await);
    let window = settled(&kessai).await;
    let log: RoundTrips = classify(&window[log_before..]);
    for summary in &window[log_before..] {
        println!("    {summary}");
    }

    let delta = |kinds: &[&str]| counted(&after, kinds) - counted(&before, kinds);
    let writes = delta(&["insert", "update", "delete"]);
    let statements = writes + delta(&["select", "other"]);
    let begun = delta(&["begin"]);
    println!(
        "{backend:?}: counter {statements} statements ({writes} writes), {begun} transactions; log {log:?}"
    );
    assert_eq!(
        statements,
        log.statements + log.announcements,
        "statements, with the notification of the new events"
    );
    assert_eq!(writes, log.writes, "writes");
    assert!(writes >= 1, "Authorize records the order");
    // The scrape's reads are not Authorize's: an idle window holds only
    // them, and Authorize adds more.
    let idle = parse(&kessai.scrape().await);
    let scrape_only = counted(&idle, &["select", "other", "insert", "update", "delete"])
        - counted(&after, &["select", "other", "insert", "update", "delete"]);
    assert!(statements > scrape_only, "{statements} ≤ {scrape_only}");
    match backend {
        // Each of Authorize's two steps is one statement that commits
        // itself: no BEGIN, no COMMIT (the driver would log the COMMIT).
        Backend::Postgres => assert_eq!((begun, log.commits), (0, 0), "no transaction"),
        // SQLite's driver logs neither, but its commit hook counts each.
        Backend::Sqlite => {
            assert!(begun >= 1, "Authorize writes in a transaction");
            assert_eq!(delta(&["commit"]), begun, "one commit per BEGIN");
        }
    }
    kessai.terminate();
    sandbox.stop().await;
}

/// SQLite, then PostgreSQL where the suite has one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_authorize_moves_the_counter_by_the_logged_statements() {
    one_authorize_counted_both_ways(Backend::Sqlite).await;
    if std::env::var("KESSAI_TEST_DATABASE_URL").is_ok() {
        one_authorize_counted_both_ways(Backend::Postgres).await;
    }
}
