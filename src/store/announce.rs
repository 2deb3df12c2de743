//! Telling every replica's event feed that events were committed.
//!
//! This process's feed is woken directly. On PostgreSQL other replicas'
//! feeds listen on [`ORDER_EVENTS_CHANNEL`], and kessai sends them one
//! notification after its commits, at most one per [`SPACING`], outside
//! the commits themselves. A notification sent inside a commit serializes
//! that commit with every other one that notifies: PostgreSQL takes one
//! cluster-wide lock from queueing the notification until the commit is
//! durable (`PreCommit_Notify`), so each commit waits for the previous
//! one's WAL flush and none share one. On this project's 2-core test
//! machine, `pgbench -c 64` made about 3,200 commits a second with a
//! `pg_notify` in each, against 14,000–16,000 without (an insert per
//! transaction; BENCHMARKS.md). Events written by anything else (an
//! operator's repair) reach the feeds by their poll.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kessai_migrations::ORDER_EVENTS_CHANNEL;
use sea_orm::sqlx::PgPool;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The least time between two notifications from this process: what a
/// watcher on another replica may wait beyond its feed's read, under load.
pub(super) const SPACING: Duration = Duration::from_millis(20);

/// Where a transaction that appended events announces them once committed.
#[derive(Clone)]
pub(super) struct Announce {
    /// This process's feed.
    local: Arc<Notify>,
    /// PostgreSQL: the other replicas' feeds.
    others: Option<Arc<Announcer>>,
}

impl Announce {
    pub(super) fn new(local: Arc<Notify>, others: Option<PgPool>) -> Self {
        Self {
            local,
            others: others.map(|pool| {
                Arc::new(Announcer {
                    pool,
                    due: AtomicBool::new(false),
                    running: AtomicBool::new(false),
                    last_sent: Mutex::new(None),
                })
            }),
        }
    }

    /// Called after a commit that appended events.
    pub(super) fn committed(&self) {
        self.local.notify_one();
        if let Some(others) = &self.others {
            others.schedule();
        }
    }
}

pub(super) struct Announcer {
    pool: PgPool,
    /// A commit since the last notification was queued.
    due: AtomicBool,
    /// A task is sending notifications: at most one, so that a pool short
    /// of connections holds at most one of them for this.
    running: AtomicBool,
    last_sent: Mutex<Option<Instant>>,
}

impl Announcer {
    fn schedule(self: &Arc<Self>) {
        self.due.store(true, Ordering::SeqCst);
        if self.running.swap(true, Ordering::SeqCst) {
            return;
        }
        let this = self.clone();
        // A task only while notifications are due: a store that writes
        // nothing holds none, and none keeps its pool open.
        tokio::spawn(async move { this.run().await });
    }

    async fn run(&self) {
        loop {
            let last = *self
                .last_sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(last) = last {
                tokio::time::sleep_until(last + SPACING).await;
            }
            // Cleared before sending: a commit after this sets it again and
            // is covered by the next round.
            self.due.store(false, Ordering::SeqCst);
            *self
                .last_sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
            self.send().await;
            if self.due.load(Ordering::SeqCst) {
                continue;
            }
            self.running.store(false, Ordering::SeqCst);
            // A commit between the check above and the store saw this task
            // still running and started none: take the turn back.
            if !self.due.load(Ordering::SeqCst) || self.running.swap(true, Ordering::SeqCst) {
                return;
            }
        }
    }

    async fn send(&self) {
        super::statements::count(super::statements::StatementKind::Select);
        let sent = sea_orm::sqlx::query("SELECT pg_notify($1, '')")
            .bind(ORDER_EVENTS_CHANNEL)
            .execute(&self.pool)
            .await;
        if let Err(error) = sent
            && !self.pool.is_closed()
        {
            tracing::warn!(
                %error,
                "announcing new order events failed; other replicas see them by their poll"
            );
        }
    }
}
