//! After the chaos: wait until every order is settled or flagged for a
//! person, hold kessai's books against each simulator's ledger, and look
//! for what an abandoned call must never leave behind (a pooled connection
//! inside a transaction, an ERROR line).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use kessai::proto::v1;
use kessai::sandbox::Sandbox;

use crate::calls;
use crate::load::Client;
use crate::postgres::stuck_in_transaction;
use crate::server::Server;

/// One provider's orders as the audit found them.
#[derive(Debug, Default)]
pub struct Books {
    pub orders: u64,
    pub settled: u64,
    pub review: u64,
    /// Neither settled nor flagged when the audit gave up waiting.
    pub open: u64,
    pub two_charges: u64,
    /// Settled orders whose captured and refunded amounts are not the
    /// provider's.
    pub differ: u64,
    /// Charges the provider holds for no order kessai knows.
    pub orphans: u64,
    pub first_difference: Option<String>,
}

#[derive(Debug, Default)]
pub struct LogScan {
    pub lines: u64,
    /// ERROR lines, and lines that are not kessai's JSON (a panic).
    pub errors: u64,
    /// The first few: message, detail and span, or the line.
    pub first_errors: Vec<String>,
    pub warnings: HashMap<String, u64>,
    /// Of the ERROR lines, kessai's record of a failed answer ("response
    /// failed"), by its classification ("Code: 14"): a provider's outage
    /// is logged this way, once for each answer that tells of it.
    pub failed_answers: BTreeMap<String, u64>,
}

pub struct Audit {
    /// From clearing the faults to nothing left open; none past the bound.
    pub settled_after: Option<Duration>,
    pub books: BTreeMap<&'static str, Books>,
    /// PostgreSQL only.
    pub stuck: Option<i64>,
    pub log: LogScan,
}

pub async fn audit(
    client: &Client,
    sandbox: &Sandbox,
    server: &Server,
    postgres_url: Option<&str>,
    within: Duration,
) -> anyhow::Result<Audit> {
    let (orders, held, settled_after) = settle(client, sandbox, within).await?;
    let stuck = match postgres_url {
        Some(url) => {
            // Long enough for a connection handed back mid-transaction at
            // the very end to count.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            Some(stuck_in_transaction(url).await?)
        }
        None => None,
    };
    Ok(Audit {
        settled_after,
        books: compare(&orders, held),
        stuck,
        log: scan_log(&server.log)?,
    })
}

/// Pending itself, or a capture or refund still pending, and nobody asked
/// to look.
fn is_open(order: &v1::Order) -> bool {
    let pending = order.status() == v1::OrderStatus::Pending
        || order
            .captures
            .iter()
            .any(|c| c.status() == v1::CaptureStatus::Pending)
        || order
            .refunds
            .iter()
            .any(|r| r.status() == v1::RefundStatus::Pending);
    pending && !order.needs_review
}

async fn every_order(client: &Client) -> anyhow::Result<Vec<v1::Order>> {
    let mut orders = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = v1::ListOrdersRequest {
            page_size: 200,
            page_token,
            ..Default::default()
        };
        let page = client
            .clone()
            .list_orders(request)
            .await
            .map_err(|s| anyhow::anyhow!("listing the orders: {}", calls::failed(s)))?
            .into_inner();
        orders.extend(page.orders);
        if page.next_page_token.is_empty() {
            return Ok(orders);
        }
        page_token = page.next_page_token;
    }
}

/// (captured, refunded) of each charge the providers hold, by provider and
/// the kessai order id the charge carries (empty: it carries none).
type Held = HashMap<(v1::Provider, String), Vec<(i64, i64)>>;

fn held(sandbox: &Sandbox) -> Held {
    let mut held = Held::new();
    let mut hold = |provider, order: Option<&str>, amounts| {
        let key = (provider, order.unwrap_or_default().to_owned());
        held.entry(key).or_default().push(amounts);
    };
    for flow in sandbox.payjp.ledger().flows {
        let order = flow
            .metadata
            .get("kessai_order_id")
            .and_then(|v| v.as_str());
        hold(v1::Provider::Payjp, order, (flow.captured, flow.refunded));
    }
    for order in sandbox.smartpay.ledger().orders {
        let amounts = (order.captured, order.refunded);
        hold(v1::Provider::Smartpay, order.reference.as_deref(), amounts);
    }
    for sale in sandbox.paymentoptions.ledger().authorizations {
        let amounts = (sale.captured, sale.refunded);
        hold(
            v1::Provider::Paymentoptions,
            Some(&sale.merchant_txn_ref),
            amounts,
        );
    }
    held
}

/// Waits until no order is open, then reads the ledgers and lists the
/// orders once more: settled only if that second listing is the same
/// size and still has nothing open, so no call still running in kessai
/// can touch a ledger behind the audit's back.
async fn settle(
    client: &Client,
    sandbox: &Sandbox,
    within: Duration,
) -> anyhow::Result<(Vec<v1::Order>, Held, Option<Duration>)> {
    let began = Instant::now();
    loop {
        let first = every_order(client).await?;
        let past = began.elapsed() > within;
        if past || !first.iter().any(is_open) {
            let ledgers = held(sandbox);
            let second = every_order(client).await?;
            let settled = second.len() == first.len() && !second.iter().any(is_open);
            if settled || past {
                return Ok((second, ledgers, settled.then(|| began.elapsed())));
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn provider_name(provider: v1::Provider) -> &'static str {
    match provider {
        v1::Provider::Payjp => "PAY.JP",
        v1::Provider::Smartpay => "Smartpay",
        v1::Provider::Paymentoptions => "PaymentOptions",
        _ => "unknown",
    }
}

fn compare(orders: &[v1::Order], mut held: Held) -> BTreeMap<&'static str, Books> {
    let mut books: BTreeMap<&'static str, Books> = BTreeMap::new();
    for order in orders {
        let charges = held
            .remove(&(order.provider(), order.id.clone()))
            .unwrap_or_default();
        let at = books.entry(provider_name(order.provider())).or_default();
        at.orders += 1;
        at.two_charges += u64::from(charges.len() > 1);
        if order.needs_review {
            at.review += 1;
            continue;
        }
        if is_open(order) {
            at.open += 1;
            continue;
        }
        at.settled += 1;
        // No charge at all is a charge of nothing captured or refunded.
        let theirs = charges.first().copied().unwrap_or_default();
        let ours = (order.amount_captured, order.amount_refunded);
        if charges.len() <= 1 && ours != theirs {
            at.differ += 1;
            at.first_difference.get_or_insert_with(|| {
                format!(
                    "{} ({:?}): kessai (captured, refunded) {ours:?}, the provider {theirs:?}",
                    order.id,
                    order.status()
                )
            });
        }
    }
    for ((provider, _), charges) in held {
        books.entry(provider_name(provider)).or_default().orphans += charges.len() as u64;
    }
    books
}

fn scan_log(path: &Path) -> anyhow::Result<LogScan> {
    let mut scan = LogScan::default();
    for line in BufReader::new(std::fs::File::open(path)?).split(b'\n') {
        let line = String::from_utf8_lossy(&line?).into_owned();
        scan.lines += 1;
        let json = serde_json::from_str::<serde_json::Value>(&line).ok();
        if let Some(j) = json
            .as_ref()
            .filter(|j| j["level"] == "ERROR" && j["message"] == "response failed")
        {
            let classification = j["classification"].as_str().unwrap_or_default();
            *scan
                .failed_answers
                .entry(classification.to_owned())
                .or_default() += 1;
        }
        match json
            .as_ref()
            .map(|j| j["level"].as_str().unwrap_or_default())
        {
            Some("WARN") => {
                let message = json.as_ref().map(|j| j["message"].to_string());
                *scan
                    .warnings
                    .entry(message.unwrap_or_default())
                    .or_default() += 1;
            }
            Some("ERROR") | None if scan.first_errors.len() < 3 => {
                scan.errors += 1;
                scan.first_errors.push(match &json {
                    Some(j) => format!(
                        "{} ({}) in {}",
                        j["message"], j["detail"], j["span"]["name"]
                    ),
                    None => line.chars().take(300).collect(),
                });
            }
            Some("ERROR") | None => scan.errors += 1,
            Some(_) => {}
        }
    }
    Ok(scan)
}
