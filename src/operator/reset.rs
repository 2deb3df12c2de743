//! `kessai sandbox reset`: forgets everything sandbox mode did, so a
//! walkthrough starts over with kessai and its simulators agreeing: the
//! simulators' state file and kessai's orders.
//!
//! What keeps it from ever touching real money: it runs only in sandbox
//! mode (a configuration with provider credentials is refused before any
//! database is opened), never empties a database holding a live order, and
//! on PostgreSQL, a database others may use, deletes only with `--yes`.
//! Everything is checked before anything is removed.

use std::io;
use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;

use super::{OperatorError, connect_existing};
use crate::config::{Config, SandboxState, SqliteDatabase, sqlite_database};
use crate::store::Store;

/// Resets what `config`'s sandbox remembers; `state` is the simulators'
/// state file to remove (by default, the one `serve` uses).
pub async fn reset(
    config: &Config,
    state: Option<&str>,
    confirmed: bool,
) -> Result<(), OperatorError> {
    if !config.sandbox() {
        return Err(OperatorError::Invalid(
            "not in sandbox mode (provider credentials are configured, or KESSAI_SANDBOX=false): \
             `kessai sandbox reset` never touches a database that may hold real orders"
                .into(),
        ));
    }
    let state = state.map_or_else(|| config.sandbox_state.clone(), SandboxState::parse);
    let url = config.database_url.expose_secret();
    let mut removed = Vec::new();
    match sqlite_database(url) {
        Some(SqliteDatabase::InMemory) => {}
        Some(SqliteDatabase::File(path)) => {
            if path.exists() {
                let store = connect_existing(config).await?;
                let checked = refuse_live_orders(&store).await;
                // Closed before its files go.
                store.close().await;
                checked?;
                for file in sqlite_files(&path) {
                    if remove(&file)? {
                        removed.push(format!("removed {} (kessai's orders)", file.display()));
                    }
                }
            }
        }
        None => {
            if !confirmed {
                return Err(OperatorError::Invalid(
                    "this deletes every order in the PostgreSQL database KESSAI_DATABASE_URL names; \
                     run `kessai sandbox reset --yes` to do so"
                        .into(),
                ));
            }
            let store = connect_existing(config).await?;
            let deleted = match refuse_live_orders(&store).await {
                Ok(()) => store
                    .delete_every_order()
                    .await
                    .map_err(|e| OperatorError::Database(e.to_string())),
                Err(refused) => Err(refused),
            };
            store.close().await;
            removed.push(format!(
                "deleted {} order(s), with their captures, refunds, events and keys, from the \
                 PostgreSQL database",
                deleted?
            ));
        }
    }
    if let Some(path) = state.path()
        && remove(path)?
    {
        removed.push(format!(
            "removed {} (the simulators' books)",
            path.display()
        ));
    }
    if removed.is_empty() {
        println!("nothing to remove");
    }
    for line in removed {
        println!("{line}");
    }
    Ok(())
}

async fn refuse_live_orders(store: &Store) -> Result<(), OperatorError> {
    match store.live_orders().await {
        Ok(0) => Ok(()),
        Ok(live) => Err(OperatorError::Invalid(format!(
            "the database holds {live} live order(s), taken with real providers: it is not a \
             sandbox database, and nothing was removed"
        ))),
        Err(error) => Err(OperatorError::Database(format!(
            "{error}; it was left as it is, since it could not be told to hold no live order"
        ))),
    }
}

/// A SQLite database and the journal files beside it.
fn sqlite_files(database: &Path) -> [PathBuf; 3] {
    let with_suffix = |suffix: &str| {
        let mut name = database.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    [
        database.to_owned(),
        with_suffix("-wal"),
        with_suffix("-shm"),
    ]
}

/// Whether there was a file to remove.
fn remove(path: &Path) -> Result<bool, OperatorError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(OperatorError::Failed(format!(
            "cannot remove {}: {error}",
            path.display()
        ))),
    }
}
