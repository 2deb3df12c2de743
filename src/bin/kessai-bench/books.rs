//! `kessai-bench books`: what one request to the PAY.JP simulator costs as
//! its books grow. The books are filled over its own HTTP API (authorized
//! payment flows, each created under an idempotency key as kessai sends
//! them), then one caller times each operation at every size: a request's
//! time must not grow with the number of payments stored.

use std::time::Instant;

use clap::Args;
use futures::StreamExt;
use kessai::clock::SystemClock;
use kessai::sandbox::{PAYJP_SANDBOX_SECRET_KEY, Sandbox};
use serde_json::{Value, json};

#[derive(Debug, Clone, Args)]
pub struct BooksArgs {
    /// Stored payment flows to measure at, in increasing order.
    #[arg(long, value_delimiter = ',', default_value = "1000,200000")]
    sizes: Vec<usize>,
    /// Timed requests of each operation at each size.
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    /// A running simulator's PAY.JP base URL (`http://…/payjp/v2`, e.g. a
    /// `kessai sandbox` of another build) instead of one in this process.
    #[arg(long)]
    payjp: Option<String>,
    /// Also write the report (markdown) here.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
}

/// The operations timed, as a caller makes them.
const OPERATIONS: [&str; 5] = [
    "create + confirm (POST /payment_flows, keyed)",
    "GET /payment_flows/{id} (random stored flow)",
    "POST /payment_flows/{id}/capture",
    "POST /payment_refunds",
    "GET /payment_flows?limit=10&customer_id=…",
];

pub async fn run(args: BooksArgs) -> anyhow::Result<()> {
    let in_process = match &args.payjp {
        Some(_) => None,
        None => {
            Some(Sandbox::start("127.0.0.1:0".parse()?, std::sync::Arc::new(SystemClock)).await?)
        }
    };
    let base = match (&args.payjp, &in_process) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        (None, Some(sandbox)) => sandbox.payjp_base_url(),
        (None, None) => unreachable!("one of the two is set"),
    };
    let payjp = Payjp {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?,
        base,
    };
    let mut stored: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for &size in &args.sizes {
        eprintln!("filling the books to {size} payment flows");
        let began = Instant::now();
        let missing = size.saturating_sub(stored.len());
        let made: Vec<anyhow::Result<String>> = futures::stream::iter(0..missing)
            .map(|_| payjp.authorized())
            .buffer_unordered(32)
            .collect()
            .await;
        for id in made {
            stored.push(id?);
        }
        eprintln!("  filled in {:.1} s", began.elapsed().as_secs_f64());
        let timings = payjp.time_operations(&stored, args.requests).await?;
        for (operation, micros) in OPERATIONS.iter().zip(timings) {
            eprintln!(
                "  {size} flows, {operation}: p50 {} µs, mean {:.0} µs",
                quantile(&micros, 0.5),
                mean(&micros)
            );
            rows.push((size, *operation, micros));
        }
        // The flows the timing made stay in the books too (they are not
        // in `stored`): the next size is reached on top of them.
    }
    let markdown = markdown(&args, &rows);
    println!("{markdown}");
    if let Some(path) = &args.report {
        std::fs::write(path, &markdown)?;
    }
    if let Some(sandbox) = in_process {
        sandbox.stop().await;
    }
    Ok(())
}

struct Payjp {
    http: reqwest::Client,
    base: String,
}

impl Payjp {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(PAYJP_SANDBOX_SECRET_KEY);
        if let Some(body) = body {
            request = request
                .header("Idempotency-Key", ulid::Ulid::new().to_string())
                .json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        if !status.is_success() {
            anyhow::bail!("{method} {path}: {status} {answer}");
        }
        Ok(answer)
    }

    /// A new manual-capture flow, authorized; its id.
    async fn authorized(&self) -> anyhow::Result<String> {
        let flow = self
            .send(
                reqwest::Method::POST,
                "/payment_flows",
                Some(json!({
                    "amount": 1_000,
                    "capture_method": "manual",
                    "customer_id": kessai::sandbox::payjp::SANDBOX_CUSTOMER_ID,
                    "payment_method_id": "pm_test_approve",
                    "confirm": true,
                })),
            )
            .await?;
        flow["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no id in {flow}"))
    }

    /// `requests` of each operation, one at a time; microseconds each, in
    /// the order of [`OPERATIONS`].
    async fn time_operations(
        &self,
        stored: &[String],
        requests: usize,
    ) -> anyhow::Result<Vec<Vec<u64>>> {
        let mut timings = vec![Vec::with_capacity(requests); OPERATIONS.len()];
        let customer = kessai::sandbox::payjp::SANDBOX_CUSTOMER_ID;
        for n in 0..requests {
            let began = Instant::now();
            let id = self.authorized().await?;
            timings[0].push(micros_since(began));
            let other = &stored[spread(n as u64, stored.len())];
            timed(
                &mut timings[1],
                self.send(
                    reqwest::Method::GET,
                    &format!("/payment_flows/{other}"),
                    None,
                ),
            )
            .await?;
            timed(
                &mut timings[2],
                self.send(
                    reqwest::Method::POST,
                    &format!("/payment_flows/{id}/capture"),
                    Some(json!({})),
                ),
            )
            .await?;
            timed(
                &mut timings[3],
                self.send(
                    reqwest::Method::POST,
                    "/payment_refunds",
                    Some(json!({"payment_flow_id": id, "amount": 100})),
                ),
            )
            .await?;
            timed(
                &mut timings[4],
                self.send(
                    reqwest::Method::GET,
                    &format!("/payment_flows?limit=10&customer_id={customer}"),
                    None,
                ),
            )
            .await?;
        }
        for t in &mut timings {
            t.sort_unstable();
        }
        Ok(timings)
    }
}

/// One timed request.
async fn timed(
    timings: &mut Vec<u64>,
    call: impl std::future::Future<Output = anyhow::Result<Value>>,
) -> anyhow::Result<Value> {
    let began = Instant::now();
    let answer = call.await?;
    timings.push(micros_since(began));
    Ok(answer)
}

fn micros_since(began: Instant) -> u64 {
    u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// A stored flow's index from a request's number, spread over the books.
fn spread(n: u64, len: usize) -> usize {
    (crate::spread(n, len as u64)) as usize
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn mean(values: &[u64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<u64>() as f64 / values.len() as f64
}

fn markdown(args: &BooksArgs, rows: &[(usize, &str, Vec<u64>)]) -> String {
    let mut out = format!(
        "PAY.JP simulator {}, one caller, {} requests of each operation per size (µs):\n\n\
         | stored flows | operation | p50 | mean | p99 |\n|---:|---|---:|---:|---:|\n",
        match &args.payjp {
            Some(url) => format!("at {url}"),
            None => "in the harness's process".to_owned(),
        },
        args.requests
    );
    for (size, operation, micros) in rows {
        out.push_str(&format!(
            "| {size} | {operation} | {} | {:.0} | {} |\n",
            quantile(micros, 0.5),
            mean(micros),
            quantile(micros, 0.99)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_means_of_sorted_timings() {
        let micros: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&micros, 0.5), 50);
        assert_eq!(quantile(&micros, 0.99), 99);
        assert_eq!(mean(&micros), 50.5);
        assert_eq!(quantile(&[], 0.5), 0);
        assert!(spread(7, 10) < 10);
    }
}
