//! Sending provider requests: timeouts, bounded retries, an honest account
//! of whether a failed request may have reached the provider, and the W3C
//! trace context of the call on every attempt.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;

/// Timeouts and retries for one provider.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// For the whole exchange of one attempt.
    pub request_timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    pub backoff: Duration,
}

/// The longest pause between two attempts, whatever the provider asks.
const MAX_PAUSE: Duration = Duration::from_secs(5);

impl HttpSettings {
    /// The longest one call can take, its retries and pauses included: a
    /// key held for less could be taken over while its call is still live.
    pub fn longest_call(&self) -> Duration {
        let attempts = self.max_attempts.max(1);
        // The request timeout bounds a whole attempt, connecting included.
        self.request_timeout * attempts + MAX_PAUSE * (attempts - 1)
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(15),
            max_attempts: 3,
            backoff: Duration::from_millis(200),
        }
    }
}

#[cfg(test)]
mod longest_call_tests {
    use super::*;

    #[test]
    fn the_longest_call_counts_every_attempt_and_pause() {
        let settings = HttpSettings::default();
        assert_eq!(settings.longest_call(), Duration::from_secs(15 * 3 + 5 * 2));
        let once = HttpSettings {
            max_attempts: 1,
            ..HttpSettings::default()
        };
        assert_eq!(once.longest_call(), Duration::from_secs(15));
    }
}

impl HttpSettings {
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .user_agent(concat!("kessai/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    }
}

/// A complete answer from the provider.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: StatusCode,
    pub body: Bytes,
    pub retry_after: Option<Duration>,
}

/// No complete answer arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// No attempt can have reached the provider (the connection was never
    /// made), so nothing moved.
    NotSent(String),
    /// An attempt may have been acted on (timeout, connection dropped
    /// mid-exchange).
    Unknown(String),
}

/// Whether repeating a request is safe: a read, or a write the provider
/// deduplicates by its idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Safe,
    Unsafe,
}

async fn send_once(request: reqwest::RequestBuilder) -> Result<RawResponse, SendFailure> {
    let response = request.send().await.map_err(classify)?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // The provider answered, but the body may still be cut off: if so it may
    // have acted, and we cannot know what it said.
    let body = response
        .bytes()
        .await
        .map_err(|e| SendFailure::Unknown(format!("response body lost: {}", describe(e))))?;
    Ok(RawResponse {
        status,
        body,
        retry_after,
    })
}

fn classify(error: reqwest::Error) -> SendFailure {
    if error.is_connect() {
        SendFailure::NotSent(describe(error))
    } else {
        SendFailure::Unknown(describe(error))
    }
}

/// The error chain without the URL (which may carry ids but never secrets;
/// kept short for logs).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// Sends with bounded retries. A 429 or a connection that was never made is
/// retried always (nothing moved); a 5xx or a lost answer only when the
/// request is safe to repeat. Once any attempt may have reached the provider,
/// a later "not sent" no longer means nothing moved.
pub async fn send<F>(
    settings: &HttpSettings,
    repeat: Repeat,
    mut make: F,
) -> Result<RawResponse, SendFailure>
where
    F: FnMut() -> reqwest::RequestBuilder,
{
    let attempts = settings.max_attempts.max(1);
    // The provider sees the trace this call belongs to.
    let trace = crate::observability::trace_context::headers_of(&tracing::Span::current());
    let mut maybe_acted = false;
    let mut last: Result<RawResponse, SendFailure> =
        Err(SendFailure::NotSent("no attempt made".into()));
    for attempt in 1..=attempts {
        let result = send_once(make().headers(trace.clone())).await;
        let retry = match &result {
            Ok(response) if retryable_status(response.status) => {
                if response.status != StatusCode::TOO_MANY_REQUESTS {
                    maybe_acted = true;
                }
                response.status == StatusCode::TOO_MANY_REQUESTS || repeat == Repeat::Safe
            }
            Ok(_) => false,
            Err(SendFailure::NotSent(_)) => true,
            Err(SendFailure::Unknown(_)) => {
                maybe_acted = true;
                repeat == Repeat::Safe
            }
        };
        let wait = match &result {
            Ok(response) => response.retry_after,
            Err(_) => None,
        };
        last = result;
        if !retry || attempt == attempts {
            break;
        }
        let backoff = settings.backoff * 2u32.saturating_pow(attempt - 1);
        tokio::time::sleep(wait.unwrap_or(backoff).min(MAX_PAUSE)).await;
    }
    match last {
        Err(SendFailure::NotSent(detail)) if maybe_acted => Err(SendFailure::Unknown(format!(
            "an earlier attempt may have reached the provider; last attempt: {detail}"
        ))),
        Ok(response) if maybe_acted && response.status == StatusCode::TOO_MANY_REQUESTS => {
            Err(SendFailure::Unknown(
                "an earlier attempt may have reached the provider; the last was rate limited"
                    .into(),
            ))
        }
        other => other,
    }
}
