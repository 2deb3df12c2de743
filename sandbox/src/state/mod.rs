//! The simulators' books kept in a file, so a sandbox started again on the
//! same file still knows every payment it took: a client that stopped and
//! started with it is never left holding orders its providers forgot.
//!
//! One JSON file for the three simulators, `{"format": 1, "payjp": …,
//! "smartpay": …, "paymentoptions": …}`: each simulator's books whole
//! (payments, captures, refunds, checkout sessions, and the answers kept for
//! `Idempotency-Key` replays), but not what is empty between requests (the
//! notification outboxes) nor what belongs to one run: fault plans, where
//! webhooks go (kessai says so at every start), the record of exchanges.
//! Card numbers are kept masked (first six, last four): after a restart the
//! PaymentOptions simulator echoes that in place of the whole number.
//!
//! A background task writes the file at most every [`SAVE_EVERY`] after
//! something may have changed, and once more when the sandbox stops, so the
//! simulators never wait on the disk and `kill -9` loses at most the last
//! moment. Each write goes to a temporary file in the same directory, is
//! synced, then renamed over the old one: a crash leaves the old file or the
//! new one, never half of one.
//!
//! A file that cannot be read, is not such a file, was written in another
//! [`FORMAT`] (bump it whenever the books change shape) or whose books do not
//! hold together is reported in a WARN naming its path, and the simulators
//! start empty; the file is replaced at the first change.

#[cfg(test)]
mod tests;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::payjp::PayjpSimulator;
use crate::paymentoptions::PaymentOptionsSimulator;
use crate::pipeline::Api;
use crate::smartpay::SmartpaySimulator;

/// The version of the file's shape.
pub(crate) const FORMAT: u64 = 1;
/// How long a change may wait before it is written.
const SAVE_EVERY: Duration = Duration::from_millis(200);

/// How a sandbox keeps its books.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxOptions {
    /// The state file; `None`: in memory only, gone when the process ends.
    pub state: Option<PathBuf>,
}

/// Books that can be kept in the state file.
pub(crate) trait Saved: Serialize + DeserializeOwned {
    /// Whether books read back can be served: nothing in them points at
    /// what is not there.
    fn consistent(&self) -> bool {
        true
    }

    /// Rebuilds what is not saved (indexes by key) from what is.
    fn loaded(&mut self) {}
}

/// Why a state file was not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    #[error("cannot read it: {0}")]
    Read(#[source] io::Error),
    #[error("it is not a sandbox state file: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("it was written in format {found:?} and this sandbox reads format {FORMAT}")]
    Format { found: Option<u64> },
    #[error("its {0} books do not hold together")]
    Inconsistent(&'static str),
}

/// The three simulators, as the state file holds them.
#[derive(Clone)]
pub(crate) struct Simulators {
    pub payjp: PayjpSimulator,
    pub smartpay: SmartpaySimulator,
    pub paymentoptions: PaymentOptionsSimulator,
}

fn books_of<A: Api>(simulator: &A) -> Result<Value, serde_json::Error>
where
    A::Books: Saved,
{
    simulator.core().read(|books| serde_json::to_value(books))
}

fn parse<A: Api>(file: &mut Value, name: &'static str) -> Result<A::Books, StateError>
where
    A::Books: Saved,
{
    let mut books: A::Books = serde_json::from_value(file[name].take())?;
    books.loaded();
    if !books.consistent() {
        return Err(StateError::Inconsistent(name));
    }
    Ok(books)
}

impl Simulators {
    /// How many times any of the books may have changed.
    fn changes(&self) -> u64 {
        self.payjp.core().changes()
            + self.smartpay.core().changes()
            + self.paymentoptions.core().changes()
    }

    /// The file's bytes, each simulator read under its own lock.
    pub(crate) fn snapshot(&self) -> Result<Vec<u8>, serde_json::Error> {
        let file = json!({
            "format": FORMAT,
            "payjp": books_of(&self.payjp)?,
            "smartpay": books_of(&self.smartpay)?,
            "paymentoptions": books_of(&self.paymentoptions)?,
        });
        serde_json::to_vec(&file)
    }

    /// Puts the books `bytes` hold in place, all three or none.
    pub(crate) fn restore(&self, bytes: &[u8]) -> Result<(), StateError> {
        let mut file: Value = serde_json::from_slice(bytes)?;
        let found = file.get("format").and_then(Value::as_u64);
        if found != Some(FORMAT) {
            return Err(StateError::Format { found });
        }
        let payjp = parse::<PayjpSimulator>(&mut file, "payjp")?;
        let smartpay = parse::<SmartpaySimulator>(&mut file, "smartpay")?;
        let paymentoptions = parse::<PaymentOptionsSimulator>(&mut file, "paymentoptions")?;
        self.payjp.core().replace(payjp);
        self.smartpay.core().replace(smartpay);
        self.paymentoptions.core().replace(paymentoptions);
        Ok(())
    }

    /// Loads the books kept at `path`, if any; never fails (see the module).
    /// Read once, before the simulators serve, so blocking is harmless.
    pub(crate) fn load(&self, path: &Path) {
        let shown = path.display();
        let result = match fs::read(path) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                tracing::info!(path = %shown, "no sandbox state saved yet: the simulators start empty");
                return;
            }
            Err(error) => Err(StateError::Read(error)),
            Ok(bytes) => self.restore(&bytes),
        };
        match result {
            Ok(()) => tracing::info!(path = %shown, "sandbox state loaded"),
            Err(error) => tracing::warn!(
                path = %shown,
                %error,
                "the sandbox state file is unusable: the simulators start empty, and the file is replaced at the first change"
            ),
        }
    }
}

/// The background task writing the state file.
pub(crate) struct Saver {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Saver {
    pub(crate) fn spawn(path: PathBuf, simulators: Simulators) -> Self {
        let (stop, stopped) = oneshot::channel();
        // Counted now: a change made before the task first runs is saved.
        let loaded = simulators.changes();
        let task = tokio::spawn(save_until_stopped(path, simulators, loaded, stopped));
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Writes what changed since the last write, then stops.
    pub(crate) async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn save_until_stopped(
    path: PathBuf,
    simulators: Simulators,
    mut saved_changes: u64,
    mut stopped: oneshot::Receiver<()>,
) {
    // Locks that only read count as changes too: an unchanged file is not
    // written again.
    let mut saved_bytes = Vec::new();
    let mut failing = false;
    loop {
        let stopping = tokio::select! {
            _ = &mut stopped => true,
            () = tokio::time::sleep(SAVE_EVERY) => false,
        };
        let changes = simulators.changes();
        if changes != saved_changes {
            match save(&path, &simulators, &mut saved_bytes).await {
                Ok(()) => {
                    if failing {
                        tracing::info!(path = %path.display(), "sandbox state saved again");
                    }
                    failing = false;
                    saved_changes = changes;
                }
                // Said once per run of failures; retried at every tick.
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(path = %path.display(), %error, "cannot save the sandbox state");
                }
                Err(_) => {}
            }
        }
        if stopping {
            return;
        }
    }
}

async fn save(path: &Path, simulators: &Simulators, saved: &mut Vec<u8>) -> io::Result<()> {
    let bytes = simulators.snapshot().map_err(io::Error::other)?;
    if bytes == *saved {
        return Ok(());
    }
    let target = path.to_owned();
    let written =
        tokio::task::spawn_blocking(move || write_atomically(&target, &bytes).map(|()| bytes))
            .await
            .map_err(io::Error::other)??;
    *saved = written;
    Ok(())
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves the
/// old file or the new one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the state path names no file")
    })?;
    // Beside the target, so the rename never crosses file systems.
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = write_synced(&temp, bytes).and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    // The rename itself is durable only once the directory is.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // Test data, but shoppers' names and addresses as a client sent them.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
