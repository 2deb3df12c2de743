use sea_orm::{DbErr, RuntimeErr};

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had: the database is down or unreachable.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A CHECK constraint refused the write: a money invariant would break.
    #[error("the database refused a write that would break a money invariant: {0}")]
    InvariantViolated(String),
    /// The row changed under a write that expected another version.
    #[error("the order changed concurrently")]
    Conflict,
    /// An idempotency key claimed at commit was held by someone else:
    /// nothing was written (`Tx::claim_key_at_commit`).
    #[error("the idempotency key is held by another request")]
    KeyTaken,
    /// A stored value could not be read back.
    #[error("unreadable stored value: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

/// The driver's error under a statement's failure, if it had one.
fn sqlx_error(e: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) => {
            Some(inner.as_ref())
        }
        _ => None,
    }
}

/// The SQLSTATE of a statement's failure, if the database sent one.
pub(super) fn sqlstate(e: &DbErr) -> Option<String> {
    Some(sqlx_error(e)?.as_database_error()?.code()?.into_owned())
}

/// The database's message when a CHECK constraint refused the statement.
pub(super) fn check_failed(e: &DbErr) -> Option<String> {
    let db = sqlx_error(e)?.as_database_error()?;
    (db.kind() == sea_orm::sqlx::error::ErrorKind::CheckViolation).then(|| db.message().to_owned())
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        if let Some(inner) = sqlx_error(&e) {
            if let sea_orm::sqlx::Error::Database(db) = inner
                && let sea_orm::sqlx::error::ErrorKind::CheckViolation = db.kind()
            {
                return StoreError::InvariantViolated(db.message().to_owned());
            }
            if let sea_orm::sqlx::Error::PoolTimedOut
            | sea_orm::sqlx::Error::PoolClosed
            | sea_orm::sqlx::Error::Io(_)
            | sea_orm::sqlx::Error::Tls(_) = inner
            {
                return StoreError::Unavailable(inner.to_string());
            }
        }
        match e {
            DbErr::ConnectionAcquire(inner) => StoreError::Unavailable(inner.to_string()),
            DbErr::Conn(inner) => StoreError::Unavailable(inner.to_string()),
            other => StoreError::Database(other.to_string()),
        }
    }
}
