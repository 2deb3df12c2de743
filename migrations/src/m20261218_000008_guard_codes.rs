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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Sqlite {
            let db = manager.get_connection();
            db.execute_unprepared(
                "CREATE TABLE kessai_guards ( \
                   code TEXT PRIMARY KEY NOT NULL, \
                   changed INTEGER NOT NULL, \
                   CONSTRAINT kessai_guard_kg001 CHECK (code <> 'KG001' OR changed = 1), \
                   CONSTRAINT kessai_guard_kg002 CHECK (code <> 'KG002' OR changed = 1) \
                 ) WITHOUT ROWID",
            )
            .await?;
            db.execute_unprepared("INSERT INTO kessai_guards VALUES ('KG001', 1), ('KG002', 1)")
                .await?;
            return Ok(());
        }
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE FUNCTION kessai_guard(changed bigint, code text) RETURNS bigint \
                 LANGUAGE plpgsql VOLATILE AS $$ BEGIN \
                   IF changed IS DISTINCT FROM 1 THEN \
                     RAISE EXCEPTION 'a guarded write changed % rows, not 1', changed \
                       USING ERRCODE = code; \
                   END IF; \
                   RETURN changed; \
                 END $$",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Sqlite {
            manager
                .get_connection()
                .execute_unprepared("DROP TABLE kessai_guards")
                .await?;
            return Ok(());
        }
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP FUNCTION kessai_guard(bigint, text)")
            .await?;
        Ok(())
    }
}
