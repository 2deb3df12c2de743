//! PostgreSQL: `kessai_guard(n)` raises SQLSTATE `KG001` unless `n` is 1.
//!
//! A step made only of writes is sent as one statement (data-modifying
//! CTEs) whose main query counts the rows its guard changed: an idempotency
//! key claimed, or an order updated at the version read. When the guard
//! changed nothing, raising undoes the whole statement, so the other writes
//! of the step never land without it; the error's code tells kessai which
//! guard failed. A plain SQL function cannot raise; plpgsql can.
//!
//! SQLite sends its writes one by one inside a transaction and needs none.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE FUNCTION kessai_guard(changed bigint) RETURNS bigint \
                 LANGUAGE plpgsql VOLATILE AS $$ BEGIN \
                   IF changed IS DISTINCT FROM 1 THEN \
                     RAISE EXCEPTION 'a guarded write changed % rows, not 1', changed \
                       USING ERRCODE = 'KG001'; \
                   END IF; \
                   RETURN changed; \
                 END $$",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP FUNCTION kessai_guard(bigint)")
            .await?;
        Ok(())
    }
}
