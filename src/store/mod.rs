//! Persistence: sea-orm entities and the queries that keep the invariants.
//!
//! Every write that moves money runs in a [`Tx`] that first takes the order's
//! row lock, so the decision made from the locked row and the write that
//! follows cannot interleave with another caller's. The money invariants are
//! also CHECK constraints, so a write that would break one fails in the
//! database itself.
//!
//! SQLite gets one writer connection (writes queue in the pool rather than in
//! SQLite's busy handler), IMMEDIATE transactions (safe across processes) and
//! a pool of readers in WAL mode; PostgreSQL gets one pool for both.

mod announce;
mod attached;
mod batch;
mod convert;
mod diagnose;
pub mod entities;
mod error;
mod events;
mod feed;
mod group_commit;
mod horizon;
mod observe;
mod page_read;
mod reads;
mod reconcile;
pub mod records;
mod reset;
mod row_models;
mod search;
mod sqlite_process;
mod sqlite_reads;
mod statements;
mod step_writes;
mod totals;
mod tx;
mod view_cache;
mod webhooks;
mod written;

use std::str::FromStr;
use std::time::Duration;

use kessai_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{DatabaseBackend, DatabaseConnection, SqlxPostgresConnector, SqlxSqliteConnector};

pub use error::StoreError;
pub use events::{EventBatch, EventFilter, StreamedEvent};
pub use feed::EventSubscription;
pub use horizon::{Horizon, Running};
pub use observe::{Backlog, MoneyMoved, MoneyObserver, PoolStats};
pub use reads::{ListOrder, OrderFilter};
pub use records::*;
pub use statements::{StatementKind, statement_counts};
pub use totals::{Attention, DailyTotal, shop_offset};
pub use tx::Tx;
pub use view_cache::DEFAULT_VIEW_CACHE_ENTRIES;
pub use webhooks::Receipt;

/// Events kept for slow streams unless configured.
pub const DEFAULT_EVENT_FEED_BUFFER: usize = 4096;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Create a missing SQLite file (off for tools that only read or
    /// repair an existing database).
    pub create_if_missing: bool,
    /// New events the feed keeps for streams that are slow to take them;
    /// one that falls further behind catches up from the database.
    pub event_feed_buffer: usize,
    /// SQLite: answer an order and its records, and a ListOrders page, on
    /// the calling thread (`sqlite_reads.rs`); off, every read goes through
    /// the driver.
    pub reads_on_calling_thread: bool,
    /// Views of orders kept to answer reads that find the same versions
    /// (`view_cache.rs`); 0 keeps none.
    pub order_view_cache: usize,
}

/// How PostgreSQL's share of `KESSAI_DATABASE_MAX_CONNECTIONS` splits.
///
/// A step's connection mostly waits for its commit to be durable, so steps
/// want more connections than the database has cores; a read is one short
/// statement, and with more connections than cores the reads wait for the
/// cores in the kernel's order instead of in the pool's, which lengthens
/// their tail (BENCHMARKS.md, "A pool for reads"). So reads have a pool of
/// their own, twice kessai's cores and at most half the total, and steps
/// the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresPools {
    pub reads: u32,
    pub writes: u32,
}

impl PostgresPools {
    pub fn of(max_connections: u32) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        Self::with_cores(max_connections, cores)
    }

    fn with_cores(max_connections: u32, cores: u32) -> Self {
        let reads = (2 * cores).min(max_connections / 2).max(1);
        Self {
            reads,
            writes: max_connections.saturating_sub(reads).max(1),
        }
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            create_if_missing: true,
            event_feed_buffer: DEFAULT_EVENT_FEED_BUFFER,
            reads_on_calling_thread: true,
            order_view_cache: DEFAULT_VIEW_CACHE_ENTRIES,
        }
    }
}

#[derive(Clone)]
pub struct Store {
    read: DatabaseConnection,
    write: DatabaseConnection,
    money_observer: Option<MoneyObserver>,
    /// Event reads in flight at once: they outlive the watcher that asked
    /// (see [`Store::events_after`]), so without a cap watchers that keep
    /// giving up would queue reads ahead of every other caller.
    event_reads: std::sync::Arc<tokio::sync::Semaphore>,
    event_reads_total: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The one reader of new events that every stream listens to.
    feed: std::sync::Arc<feed::Feed>,
    /// Where a commit's new events are announced: `feed`, and on
    /// PostgreSQL other replicas' feeds.
    announce: announce::Announce,
    /// Whether SQLite's search table exists, once known (`search.rs`).
    search_index: std::sync::Arc<tokio::sync::OnceCell<bool>>,
    /// SQLite's writer, which commits many callers' steps at once.
    group: Option<std::sync::Arc<group_commit::GroupCommit>>,
    /// SQLite: reads on the calling thread (`sqlite_reads.rs`).
    direct: Option<std::sync::Arc<sqlite_reads::DirectReads>>,
    /// Views read before, answered again while their versions hold.
    views: Option<std::sync::Arc<view_cache::ViewCache>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish()
    }
}

impl Store {
    /// Connects to `sqlite://…` (the file is created if missing) or
    /// `postgres://…`.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Self::connect_sqlite(url, options).await
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Self::connect_postgres(url, options).await
        } else {
            Err(StoreError::Unavailable(
                "the database URL must start with sqlite:// or postgres://".into(),
            ))
        }
    }

    async fn connect_sqlite(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        sqlite_process::configure_once();
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(options.create_if_missing)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed capture survives a power cut, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        diagnose::probe_sqlite(&connect).await?;
        let direct = sqlite_reads::DirectReads::of(url, connect.get_filename())
            .filter(|_| options.reads_on_calling_thread);
        // How long a write waits for the one writer: its connection, and a
        // step its turn (`group_commit.rs`).
        let writer_wait = options.acquire_timeout.max(Duration::from_secs(30));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(writer_wait)
            .after_connect(|connection, _| Box::pin(statements::count_commits_of(connection)))
            .connect_with(connect.clone())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let read = SqlitePoolOptions::new()
            .max_connections(options.max_connections.clamp(1, 64))
            .test_before_acquire(false)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.read_only(true))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut read = SqlxSqliteConnector::from_sqlx_sqlite_pool(read);
        let mut write = SqlxSqliteConnector::from_sqlx_sqlite_pool(write);
        statements::count_statements_of(&mut read);
        statements::count_statements_of(&mut write);
        let feed = std::sync::Arc::new(feed::Feed::new(options.event_feed_buffer, None));
        Ok(Self {
            read,
            write,
            money_observer: None,
            event_reads: event_read_permits(options, options.max_connections),
            event_reads_total: Default::default(),
            announce: announce::Announce::new(feed.wake.clone(), None),
            feed,
            search_index: Default::default(),
            group: Some(std::sync::Arc::new(group_commit::GroupCommit::start(
                writer_wait,
            ))),
            direct: direct.map(std::sync::Arc::new),
            views: view_cache::ViewCache::new(options.order_view_cache).map(std::sync::Arc::new),
        })
    }

    async fn connect_postgres(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Unavailable(format!(
                "invalid PostgreSQL URL: {}",
                redact_url_error(&e.to_string())
            ))
        })?;
        // No ping before each use: it was a round trip for every statement
        // outside a transaction and every transaction. A connection the
        // server dropped fails its next statement instead, which is then
        // closed; what that statement was part of either never committed
        // (the caller's retry with its key resumes) or is an outcome the
        // reconciliation recovers from the provider.
        diagnose::probe_postgres(&connect).await?;
        let split = PostgresPools::of(options.max_connections);
        let pool_of = async |size: u32| {
            PgPoolOptions::new()
                .max_connections(size)
                .test_before_acquire(false)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect.clone())
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let pool = pool_of(split.writes).await?;
        let reads = pool_of(split.reads).await?;
        let mut write = SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone());
        let mut read = SqlxPostgresConnector::from_sqlx_postgres_pool(reads);
        let feed = std::sync::Arc::new(feed::Feed::new(options.event_feed_buffer, Some(connect)));
        statements::count_statements_of(&mut write);
        statements::count_statements_of(&mut read);
        Ok(Self {
            read,
            write,
            money_observer: None,
            event_reads: event_read_permits(options, split.reads),
            event_reads_total: Default::default(),
            announce: announce::Announce::new(feed.wake.clone(), Some(pool)),
            feed,
            search_index: Default::default(),
            group: None,
            direct: None,
            views: view_cache::ViewCache::new(options.order_view_cache).map(std::sync::Arc::new),
        })
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.write.get_database_backend()
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.write, None).await?;
        Ok(())
    }

    /// How many migrations the database still lacks.
    pub async fn pending_migrations(&self) -> Result<usize, StoreError> {
        Ok(Migrator::get_pending_migrations(&self.write).await?.len())
    }

    /// Whether the database answers, for readiness.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.write.ping().await?;
        Ok(())
    }

    /// Starts a write transaction: on SQLite a step in the writer's open
    /// epoch (`group_commit.rs`), durable once [`Tx::commit`] returns.
    ///
    /// Not to be awaited where a caller's cancellation can drop it: a
    /// `BEGIN` interrupted while waiting for its answer hands its connection
    /// back to the pool inside a transaction (sqlx counts a transaction only
    /// once `BEGIN` has answered). Every use case runs on a task of its own
    /// (`Payments::to_completion`), so none is.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let (txn, turn) = match &self.group {
            Some(group) => {
                let (txn, turn) = group.step(&self.write).await?;
                (Some(txn), Some(turn))
            }
            // Begun by the transaction's first statement that needs it.
            None => (None, None),
        };
        Ok(Tx::new(
            txn,
            turn,
            self.write.clone(),
            self.money_observer.clone(),
            self.announce.clone(),
        ))
    }

    pub async fn close(self) {
        if let Some(group) = &self.group {
            group.close();
        }
        self.feed.close().await;
        let _ = self.write.close().await;
        let _ = self.read.close().await;
    }
}

/// A quarter of the pool and at most half of the reads' pool, at least one:
/// the rest stays free for the calls that move money and for plain reads.
fn event_read_permits(
    options: &StoreOptions,
    reads: u32,
) -> std::sync::Arc<tokio::sync::Semaphore> {
    let permits = (options.max_connections / 4).min(reads / 2).max(1) as usize;
    std::sync::Arc::new(tokio::sync::Semaphore::new(permits))
}

/// sqlx echoes the URL in some parse errors; keep the password out of logs.
fn redact_url_error(message: &str) -> String {
    match (message.find("://"), message.find('@')) {
        (Some(start), Some(at)) if at > start => {
            format!("{}://***{}", &message[..start], &message[at..])
        }
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::PostgresPools;

    #[test]
    fn reads_get_twice_the_cores_and_at_most_half_the_pool() {
        let split = |max, cores| {
            let p = PostgresPools::with_cores(max, cores);
            (p.reads, p.writes)
        };
        assert_eq!(split(16, 2), (4, 12));
        assert_eq!(split(8, 2), (4, 4));
        assert_eq!(split(4, 2), (2, 2));
        assert_eq!(split(64, 8), (16, 48));
        assert_eq!(split(16, 32), (8, 8));
        // A pool of one or two still has a connection for each.
        assert_eq!(split(2, 2), (1, 1));
        assert_eq!(split(1, 2), (1, 1));
    }
}
