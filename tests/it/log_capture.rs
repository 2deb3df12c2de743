//! What kessai logs while one future runs, at every level: the future and
//! the operations it starts log to a subscriber of its own (kessai's tasks
//! log to their caller's), so other tests' lines never mix in.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tracing::instrument::WithSubscriber;

/// The JSON lines written so far.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Runs `future`, its lines (DEBUG and above) captured here.
    pub async fn during<F: Future>(&self, future: F) -> F::Output {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        future.with_subscriber(subscriber).await
    }

    /// Every line at `level`.
    pub fn all(&self, level: &str) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON line"))
            .filter(|line| line["level"] == level)
            .collect()
    }

    /// The lines at `level` ("WARN", "DEBUG") whose `field` is `value`.
    pub fn lines(&self, level: &str, field: &str, value: &str) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON line"))
            .filter(|line| line["level"] == level && line[field] == value)
            .collect()
    }
}
