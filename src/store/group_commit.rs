//! SQLite's group commit: the steps of many callers made durable by one
//! COMMIT.
//!
//! SQLite has one writer, and with `synchronous=FULL` every commit waits for
//! the disk to sync the WAL, so committing each step alone makes the disk's
//! sync rate the ceiling of every call that moves money. Here a step runs in
//! a savepoint of a transaction that stays open across steps (an epoch): the
//! step's savepoint is released when it succeeds, or rolled back alone when
//! it fails (a CHECK that refuses an over-capture fails that step only), and
//! its caller then waits for the epoch's COMMIT before it learns the step is
//! durable, and before it calls a provider on the strength of it.
//!
//! One committer task commits an epoch when woken after a step. The writer's
//! turn is a FIFO lock, so the committer's turn comes after every step that
//! was already waiting: the steps that queued during one commit's sync all go
//! under the next. A lone caller waits for one commit, as before. A failed
//! COMMIT fails every step of its epoch, none of which is then durable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionOptions, TransactionTrait};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard, watch};

use super::error::StoreError;
use super::statements::{self, StatementKind};

/// The writer connection's open epoch, behind the FIFO lock that gives the
/// writer's turns.
#[derive(Default)]
struct Writer {
    open: Option<Epoch>,
}

struct Epoch {
    txn: DatabaseTransaction,
    /// Steps released into it: with none (every step failed), it is rolled
    /// back instead of committed.
    members: usize,
    /// How the epoch ended, once it has: `None` until then.
    done: watch::Sender<Option<Result<(), String>>>,
}

/// The writer of one SQLite database.
pub(super) struct GroupCommit {
    writer: Arc<Mutex<Writer>>,
    wake: Arc<Notify>,
    closed: Arc<AtomicBool>,
    /// Epochs committed so far.
    commits: Arc<AtomicU64>,
    /// How long a step waits for its turn before the database counts as
    /// unavailable (as long as the pool's own wait for its connection).
    turn_timeout: Duration,
}

/// A step's turn at the writer: held from its savepoint to its release.
/// Dropped unfinished, it wakes the committer, which closes an epoch whose
/// steps all failed.
pub(super) struct Turn {
    writer: OwnedMutexGuard<Writer>,
    wake: Arc<Notify>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

impl Turn {
    /// Counts the step, whose savepoint the caller has released, into its
    /// epoch, gives up the turn and waits for the epoch's COMMIT.
    pub(super) async fn durable(mut self) -> Result<(), StoreError> {
        let epoch = self.writer.open.as_mut().ok_or_else(|| {
            StoreError::Database("a step's epoch ended before the step was counted".into())
        })?;
        epoch.members += 1;
        let done = epoch.done.subscribe();
        drop(self);
        match end_of(done).await? {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(StoreError::Database(format!("the commit failed: {e}"))),
            None => Err(StoreError::Database("the commit did not end".into())),
        }
    }

    /// Gives up the turn of a step rolled back, and waits until its epoch
    /// has ended all the same: the step may have read what earlier steps of
    /// the epoch wrote (an order already settled, say) and its caller acts
    /// on that, which must not happen before it is durable.
    pub(super) async fn settled(self) -> Result<(), StoreError> {
        let Some(epoch) = self.writer.open.as_ref() else {
            return Ok(());
        };
        let done = epoch.done.subscribe();
        drop(self);
        match end_of(done).await? {
            Some(Ok(())) | None => Ok(()),
            Some(Err(e)) => Err(StoreError::Database(format!(
                "the commit of what this step read failed: {e}"
            ))),
        }
    }
}

/// How an epoch ended, once it has (waited for with the turn given up).
async fn end_of(
    mut done: watch::Receiver<Option<Result<(), String>>>,
) -> Result<Option<Result<(), String>>, StoreError> {
    let ended = done
        .wait_for(Option::is_some)
        .await
        .map_err(|_| StoreError::Database("the committer stopped before the commit".into()))?;
    Ok(ended.clone())
}

impl GroupCommit {
    /// The writer of the database behind `write` (a pool of one connection),
    /// with its committer task.
    pub(super) fn start(turn_timeout: Duration) -> Self {
        let group = Self {
            writer: Arc::default(),
            wake: Arc::default(),
            closed: Arc::default(),
            commits: Arc::default(),
            turn_timeout,
        };
        tokio::spawn(commit_epochs(
            group.writer.clone(),
            group.wake.clone(),
            group.closed.clone(),
            group.commits.clone(),
        ));
        group
    }

    /// A step's turn and its savepoint, in the open epoch or a new one
    /// (`BEGIN IMMEDIATE`, which takes the database's write lock).
    pub(super) async fn step(
        &self,
        write: &DatabaseConnection,
    ) -> Result<(DatabaseTransaction, Turn), StoreError> {
        let writer = tokio::time::timeout(self.turn_timeout, self.writer.clone().lock_owned())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "no turn at the SQLite writer within {} s",
                    self.turn_timeout.as_secs()
                ))
            })?;
        let mut turn = Turn {
            writer,
            wake: self.wake.clone(),
        };
        if turn.writer.open.is_none() {
            let options = TransactionOptions {
                sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                ..Default::default()
            };
            let txn = write.begin_with_options(options).await?;
            statements::count(StatementKind::Begin);
            turn.writer.open = Some(Epoch {
                txn,
                members: 0,
                done: watch::Sender::new(None),
            });
        }
        let epoch =
            turn.writer.open.as_ref().ok_or_else(|| {
                StoreError::Database("the epoch begun for this step is gone".into())
            })?;
        let savepoint = epoch.txn.begin().await?;
        Ok((savepoint, turn))
    }

    /// Commits what is open and stops the committer.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// The committer: each time a step gives up its turn, takes the next turn
/// (after every step already waiting) and ends the open epoch.
async fn commit_epochs(
    writer: Arc<Mutex<Writer>>,
    wake: Arc<Notify>,
    closed: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
) {
    loop {
        wake.notified().await;
        let mut writer = writer.lock().await;
        if let Some(epoch) = writer.open.take() {
            let ended = if epoch.members == 0 {
                epoch.txn.rollback().await
            } else {
                let committed = epoch.txn.commit().await;
                commits.fetch_add(1, Ordering::Relaxed);
                committed
            };
            epoch
                .done
                .send_replace(Some(ended.map_err(|e| StoreError::from(e).to_string())));
        }
        drop(writer);
        if closed.load(Ordering::Acquire) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnectionTrait, Database, Statement};

    /// A scratch directory, removed with its database at the test's end.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn writer() -> (Scratch, DatabaseConnection, GroupCommit) {
        let dir = std::env::temp_dir().join(format!("kessai-group-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = Scratch(dir);
        let url = format!("sqlite://{}?mode=rwc", dir.0.join("g.sqlite").display());
        let db = Database::connect(url.as_str()).await.unwrap();
        db.execute_unprepared(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (n INTEGER CHECK (n < 100))",
        )
        .await
        .unwrap();
        (dir, db, GroupCommit::start(Duration::from_secs(5)))
    }

    async fn count(db: &impl ConnectionTrait) -> i64 {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT count(*) AS n FROM t",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }

    #[tokio::test]
    async fn a_failed_step_fails_alone_and_the_others_of_its_epoch_commit() {
        let (_dir, db, group) = writer().await;
        let group = Arc::new(group);
        let mut steps = Vec::new();
        for n in [1, 500, 2, 3] {
            let (group, db) = (group.clone(), db.clone());
            steps.push(tokio::spawn(async move {
                let (txn, turn) = group.step(&db).await?;
                txn.execute_unprepared(&format!("INSERT INTO t VALUES ({n})"))
                    .await?;
                txn.commit().await?;
                turn.durable().await
            }));
        }
        let mut refused = 0;
        for step in steps {
            if step.await.unwrap().is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, 1, "only the step the CHECK refused fails");
        assert_eq!(count(&db).await, 3);
    }

    #[tokio::test]
    async fn steps_that_wait_for_the_writer_share_one_commit() {
        let (_dir, db, group) = writer().await;
        let group = Arc::new(group);
        let (first, turn) = group.step(&db).await.unwrap();
        let mut waiting = Vec::new();
        for n in 20..25 {
            let (group, db) = (group.clone(), db.clone());
            waiting.push(tokio::spawn(async move {
                let (txn, turn) = group.step(&db).await?;
                txn.execute_unprepared(&format!("INSERT INTO t VALUES ({n})"))
                    .await?;
                txn.commit().await?;
                turn.durable().await
            }));
        }
        // Let all five queue behind the turn held here.
        tokio::time::sleep(Duration::from_millis(50)).await;
        first
            .execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        first.commit().await.unwrap();
        turn.durable().await.unwrap();
        for step in waiting {
            step.await.unwrap().unwrap();
        }
        assert_eq!(count(&db).await, 6);
        let commits = group.commits.load(Ordering::Relaxed);
        assert_eq!(commits, 1, "six steps that queued together, one commit");
    }

    #[tokio::test]
    async fn a_step_rolled_back_returns_once_what_it_read_is_durable() {
        let (dir, db, group) = writer().await;
        let group = Arc::new(group);
        let other =
            Database::connect(format!("sqlite://{}", dir.0.join("g.sqlite").display()).as_str())
                .await
                .unwrap();
        let (first, turn) = group.step(&db).await.unwrap();
        let writer = {
            let (group, db) = (group.clone(), db.clone());
            tokio::spawn(async move {
                let (txn, turn) = group.step(&db).await?;
                txn.execute_unprepared("INSERT INTO t VALUES (5)").await?;
                txn.commit().await?;
                turn.durable().await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let reader = {
            let (group, db) = (group.clone(), db.clone());
            tokio::spawn(async move {
                let (txn, turn) = group.step(&db).await.unwrap();
                let seen = count(&txn).await;
                txn.rollback().await.unwrap();
                turn.settled().await.unwrap();
                // What it saw, as any other connection now reads it.
                (seen, count(&other).await)
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        first.commit().await.unwrap();
        turn.durable().await.unwrap();
        assert_eq!(reader.await.unwrap(), (1, 1));
        writer.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_step_is_durable_only_once_its_epoch_commits() {
        let (_dir, db, group) = writer().await;
        let (txn, turn) = group.step(&db).await.unwrap();
        txn.execute_unprepared("INSERT INTO t VALUES (7)")
            .await
            .unwrap();
        txn.commit().await.unwrap();
        turn.durable().await.unwrap();
        // Another connection sees it: the epoch committed, not only the
        // savepoint released.
        let file = _dir.0.join("g.sqlite");
        let other = Database::connect(format!("sqlite://{}", file.display()).as_str())
            .await
            .unwrap();
        assert_eq!(count(&other).await, 1);
    }

    #[tokio::test]
    async fn a_step_dropped_unfinished_writes_nothing_and_frees_the_writer() {
        let (_dir, db, group) = writer().await;
        let (txn, turn) = group.step(&db).await.unwrap();
        txn.execute_unprepared("INSERT INTO t VALUES (9)")
            .await
            .unwrap();
        drop(txn);
        drop(turn);
        let (txn, turn) = group.step(&db).await.unwrap();
        txn.execute_unprepared("INSERT INTO t VALUES (10)")
            .await
            .unwrap();
        txn.commit().await.unwrap();
        turn.durable().await.unwrap();
        assert_eq!(count(&db).await, 1);
    }
}
