//! What a new user needs to hear when kessai cannot use its database: which
//! server, and which of the usual mistakes it is (nothing listening, a user
//! the server refuses, a database that does not exist, a file that cannot be
//! opened), never the password. A pool only says it timed out; one direct
//! connection first tells them apart.

use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::sqlx::{ConnectOptions, Error};

use super::error::StoreError;

/// How long the first connection may take before kessai says so.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One connection to PostgreSQL, closed again; the reason in words if none
/// can be had.
pub async fn probe_postgres(options: &PgConnectOptions) -> Result<(), StoreError> {
    let server = format!(
        "PostgreSQL at {}:{}",
        options.get_host(),
        options.get_port()
    );
    let database = options.get_database().unwrap_or(options.get_username());
    let attempt = tokio::time::timeout(PROBE_TIMEOUT, options.connect()).await;
    match attempt {
        Ok(Ok(mut connection)) => {
            warn_without_autovacuum(&mut connection, &server).await;
            let _ = sea_orm::sqlx::Connection::close(connection).await;
            Ok(())
        }
        Ok(Err(error)) => Err(StoreError::Unavailable(explain_postgres(
            &error,
            &server,
            options.get_username(),
            database,
        ))),
        Err(_) => Err(StoreError::Unavailable(format!(
            "{server} did not answer within {} s (a firewall, or the wrong host?)",
            PROBE_TIMEOUT.as_secs()
        ))),
    }
}

/// Autovacuum also keeps the planner's statistics: without it they are
/// never gathered, and as the tables grow the planner, guessing, reads
/// whole tables for one page of orders (measured: ListOrders p50 12.8 →
/// 73.7 ms over a 10-minute soak). Said once at start, where an operator
/// looks when listings slow.
async fn warn_without_autovacuum(connection: &mut sea_orm::sqlx::PgConnection, server: &str) {
    let setting: Result<String, _> = sea_orm::sqlx::query_scalar("SHOW autovacuum")
        .fetch_one(connection)
        .await;
    if matches!(setting.as_deref(), Ok("off")) {
        tracing::warn!(
            "autovacuum is off on {server}: nothing keeps the planner's statistics current, \
             and reads slow as the tables grow; turn it on, or run ANALYZE regularly"
        );
    }
}

fn explain_postgres(error: &Error, server: &str, user: &str, database: &str) -> String {
    match error {
        Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                format!("{server}: connection refused (is PostgreSQL running and listening there?)")
            }
            _ if io.to_string().contains("lookup address") => {
                format!("{server}: the host name cannot be resolved")
            }
            _ => format!("{server}: {io}"),
        },
        Error::Database(db) => match db.code().as_deref() {
            // invalid_password, invalid_authorization_specification
            Some("28P01" | "28000") => format!(
                "{server} refused user {user:?}: authentication failed ({})",
                db.message()
            ),
            // invalid_catalog_name
            Some("3D000") => format!(
                "{server}: database {database:?} does not exist (create it, e.g. `createdb {database}`)"
            ),
            _ => format!("{server}: {}", db.message()),
        },
        Error::Tls(tls) => format!("{server}: TLS failed ({tls})"),
        other => format!("{server}: {other}"),
    }
}

/// One connection to the SQLite file, closed again.
pub async fn probe_sqlite(options: &SqliteConnectOptions) -> Result<(), StoreError> {
    let file = options.get_filename().display().to_string();
    match options.connect().await {
        Ok(connection) => {
            let _ = sea_orm::sqlx::Connection::close(connection).await;
            Ok(())
        }
        Err(error) => Err(StoreError::Unavailable(explain_sqlite(&error, &file))),
    }
}

fn explain_sqlite(error: &Error, file: &str) -> String {
    let directory = std::path::Path::new(file)
        .parent()
        .filter(|d| !d.as_os_str().is_empty());
    match (error, directory) {
        (Error::Database(_), Some(directory)) if !directory.exists() => format!(
            "SQLite file {file}: its directory {} does not exist",
            directory.display()
        ),
        (Error::Database(db), _) => format!("SQLite file {file}: {}", db.message()),
        (other, _) => format!("SQLite file {file}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[tokio::test]
    async fn nothing_listening_is_named_with_the_server() {
        // A port nothing listens on: 1 is reserved and closed here.
        let options =
            PgConnectOptions::from_str("postgres://kessai:hunter2@127.0.0.1:1/shop").unwrap();
        let error = probe_postgres(&options).await.unwrap_err().to_string();
        assert!(
            error.contains("PostgreSQL at 127.0.0.1:1: connection refused"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[tokio::test]
    async fn a_missing_directory_is_named() {
        let options = SqliteConnectOptions::from_str("sqlite:///nonexistent-kessai-dir/k.db")
            .unwrap()
            .create_if_missing(true);
        let error = probe_sqlite(&options).await.unwrap_err().to_string();
        assert!(
            error.contains("its directory /nonexistent-kessai-dir does not exist"),
            "{error}"
        );
    }
}
