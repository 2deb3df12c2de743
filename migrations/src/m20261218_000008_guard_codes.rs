//! Guards that say which of them failed.
//!
//! A step of writes may carry two guards: the idempotency key's claim and
//! the order's update at the version read (an intent decided on an unlocked
//! read). Each fails with its own code, so kessai tells a taken key
//! (`KG002`) from a moved order (`KG001`) without another round trip.
//!
//! PostgreSQL: `kessai_guard(n, code)` raises SQLSTATE `code` when `n` is
//! not 1. `kessai_guard(n)` is no longer called; it stays for a replica of
//! the previous release during a rolling upgrade.
//!
//! SQLite has no way for SQL to raise outside a trigger, but a CHECK can
//! refuse: right after a guarded write, an upsert of the guard's row in
//! `kessai_guards` stores the row count of that write (`changes()`), and the
//! guard's named constraint fails unless it is 1. The error stops the call
//! of several statements there, before the step's other writes, and the
//! step is rolled back. (The rows inserted here only save the first
//! upsert its insert.)

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite's table of guard checks, each guard's constraint named by its code.
const SQLITE_UP: &[&str] = &[
    "CREATE TABLE kessai_guards ( \
       code TEXT PRIMARY KEY NOT NULL, \
       changed INTEGER NOT NULL, \
       CONSTRAINT kessai_guard_kg001 CHECK (code <> 'KG001' OR changed = 1), \
       CONSTRAINT kessai_guard_kg002 CHECK (code <> 'KG002' OR changed = 1) \
     ) WITHOUT ROWID",
    "INSERT INTO kessai_guards VALUES ('KG001', 1), ('KG002', 1)",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE FUNCTION kessai_guard(changed bigint, code text) RETURNS bigint \
     LANGUAGE plpgsql VOLATILE AS $$ BEGIN \
       IF changed IS DISTINCT FROM 1 THEN \
         RAISE EXCEPTION 'a guarded write changed % rows, not 1', changed \
           USING ERRCODE = code; \
       END IF; \
       RETURN changed; \
     END $$",
];

/// Runs the statements meant for the manager's database, in order.
async fn run(manager: &SchemaManager<'_>, sqlite: &[&str], postgres: &[&str]) -> Result<(), DbErr> {
    let statements = match manager.get_database_backend() {
        DbBackend::Sqlite => sqlite,
        DbBackend::Postgres => postgres,
        _ => &[],
    };
    for statement in statements {
        manager
            .get_connection()
            .execute_unprepared(statement)
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            &["DROP TABLE kessai_guards"],
            &["DROP FUNCTION kessai_guard(bigint, text)"],
        )
        .await
    }
}
