//! The access log: one line per call, when its status is known, saying
//! what was asked and how it ended — method, caller, gRPC code, `ErrorInfo`
//! reason, order, provider, latency, request and trace ids. It names, never
//! carries: no request field is copied, so no card number, shopper detail,
//! token or key can reach it.
//!
//! The line's level says whose fault an answer is: a caller's bad input or
//! a refused capture is INFO like a success; only kessai's own faults
//! (`INTERNAL`, `UNKNOWN`, `DATA_LOSS`) are ERROR, and a database it cannot
//! reach (`UNAVAILABLE` `DATABASE_UNAVAILABLE`) is WARN. Those are logged
//! even with the access log off.
//!
//! The fields come from the layers a call passes through and its handler:
//! each writes into the call's [`AccessRecord`], found in the request's
//! extensions while layers are called, and in a task-local while the
//! handler runs (which has only the request's message by then).

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::futures::TaskLocalFuture;
use tracing::Level;

#[derive(Debug, Default)]
struct Fields {
    caller: Option<String>,
    order_id: Option<String>,
    provider: Option<&'static str>,
    request_id: Option<String>,
    trace_id: Option<String>,
}

/// What is known of one call so far.
#[derive(Debug, Clone, Default)]
pub struct AccessRecord(Arc<Mutex<Fields>>);

tokio::task_local! {
    static CURRENT: AccessRecord;
}

impl AccessRecord {
    fn with(&self, write: impl FnOnce(&mut Fields)) {
        write(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub fn set_caller(&self, name: &str) {
        self.with(|f| f.caller = Some(name.to_owned()));
    }

    pub fn set_ids(&self, request_id: &str, trace_id: Option<String>) {
        self.with(|f| {
            f.request_id = Some(request_id.to_owned());
            f.trace_id = trace_id;
        });
    }

    /// Runs `call` with this record as the handler's.
    pub fn scope<F: Future>(self, call: F) -> TaskLocalFuture<AccessRecord, F> {
        CURRENT.scope(self, call)
    }
}

/// The order the current call is about (for its access line).
pub fn note_order(order_id: &str) {
    let _ = CURRENT.try_with(|r| r.with(|f| f.order_id = Some(order_id.to_owned())));
}

/// The provider the current call is about (for its access line).
pub fn note_provider(provider: &'static str) {
    let _ = CURRENT.try_with(|r| r.with(|f| f.provider = Some(provider)));
}

/// How a call ended.
pub struct Answer<'a> {
    pub service: &'a str,
    pub method: &'a str,
    pub code: &'a str,
    pub reason: Option<&'a str>,
    pub latency: Duration,
}

fn level(answer: &Answer<'_>) -> Level {
    match (answer.code, answer.reason) {
        ("INTERNAL" | "UNKNOWN" | "DATA_LOSS", _) => Level::ERROR,
        ("UNAVAILABLE", Some("DATABASE_UNAVAILABLE")) => Level::WARN,
        _ => Level::INFO,
    }
}

/// Logs `answer`'s line, unless it is routine and the access log is off
/// (or it answers a health probe, every few seconds).
pub fn log(enabled: bool, record: &AccessRecord, answer: &Answer<'_>) {
    let level = level(answer);
    let routine = level == Level::INFO;
    if routine && (!enabled || answer.service == super::health::HEALTH_SERVICE) {
        return;
    }
    let fields = record.0.lock().unwrap_or_else(PoisonError::into_inner);
    // Displayed, so text logs read `code=OK`, not `code="OK"`.
    macro_rules! line {
        ($level:expr) => {
            tracing::event!(
                target: "kessai::access",
                $level,
                method = %format_args!("{}/{}", answer.service, answer.method),
                caller = %fields.caller.as_deref().unwrap_or("anonymous"),
                code = %answer.code,
                reason = answer.reason.map(tracing::field::display),
                order_id = fields.order_id.as_deref().map(tracing::field::display),
                provider = fields.provider.map(tracing::field::display),
                latency_ms = answer.latency.as_millis() as u64,
                request_id = fields.request_id.as_deref().map(tracing::field::display),
                trace_id = fields.trace_id.as_deref().map(tracing::field::display),
                "access"
            )
        };
    }
    match level {
        Level::ERROR => line!(Level::ERROR),
        Level::WARN => line!(Level::WARN),
        _ => line!(Level::INFO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer<'a>(code: &'a str, reason: Option<&'a str>) -> Answer<'a> {
        Answer {
            service: "kessai.v1.PaymentService",
            method: "Capture",
            code,
            reason,
            latency: Duration::from_millis(3),
        }
    }

    #[test]
    fn only_kessais_own_faults_are_errors_or_warnings() {
        for (code, reason, expected) in [
            ("OK", None, Level::INFO),
            ("INVALID_ARGUMENT", Some("INVALID_AMOUNT"), Level::INFO),
            ("NOT_FOUND", Some("ORDER_NOT_FOUND"), Level::INFO),
            (
                "FAILED_PRECONDITION",
                Some("AMOUNT_EXCEEDS_CAPTURABLE"),
                Level::INFO,
            ),
            ("UNAVAILABLE", Some("PROVIDER_UNAVAILABLE"), Level::INFO),
            ("DEADLINE_EXCEEDED", Some("OUTCOME_UNKNOWN"), Level::INFO),
            ("UNAVAILABLE", Some("DATABASE_UNAVAILABLE"), Level::WARN),
            ("INTERNAL", None, Level::ERROR),
            ("UNKNOWN", None, Level::ERROR),
            ("DATA_LOSS", None, Level::ERROR),
        ] {
            assert_eq!(level(&answer(code, reason)), expected, "{code} {reason:?}");
        }
    }
}
