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

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        if let DbErr::Exec(RuntimeErr::SqlxError(inner))
        | DbErr::Query(RuntimeErr::SqlxError(inner)) = &e
        {
            if let sea_orm::sqlx::Error::Database(db) = inner.as_ref()
                && let sea_orm::sqlx::error::ErrorKind::CheckViolation = db.kind()
            {
                return StoreError::InvariantViolated(db.message().to_owned());
            }
            if let sea_orm::sqlx::Error::PoolTimedOut
            | sea_orm::sqlx::Error::PoolClosed
            | sea_orm::sqlx::Error::Io(_)
            | sea_orm::sqlx::Error::Tls(_) = inner.as_ref()
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
