//! PostgreSQL: `kessai_apply(ops jsonb)` applies a transaction's writes in
//! one statement, so a durable step costs one round trip for its writes
//! instead of one per row. Every value travels inside the one bound JSON
//! parameter; table and column names come from kessai, quoted with
//! `quote_ident`. Each write is an ordinary INSERT, UPDATE or DELETE, so the
//! CHECK constraints, the row locks and the event trigger apply as before.
//!
//! `ops` is an array of
//! - `{"insert": table, "row": {column: value, …}}`,
//! - `{"update": table, "set": {…}, "where": {…}, "guard": bool}`: with
//!   `guard`, anything but exactly one row updated fails with SQLSTATE
//!   `KS409` (the row changed under a write that expected another version),
//! - `{"delete": table, "where": {…}}`.
//!
//! SQLite runs kessai's statements in process, where a round trip costs no
//! network: nothing to install there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The SQLSTATE a guarded update that found no row raises.
pub const CONFLICT_SQLSTATE: &str = "KS409";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(&format!(
                r#"CREATE FUNCTION kessai_apply(ops jsonb) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    op jsonb;
    tbl text;
    cols text;
    keys text;
    n bigint;
BEGIN
    FOR op IN SELECT value FROM jsonb_array_elements(ops) LOOP
        IF op ? 'insert' THEN
            tbl := op->>'insert';
            SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(op->'row') AS k;
            EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM jsonb_populate_record(NULL::%I, $1)',
                           tbl, cols, cols, tbl)
                USING op->'row';
        ELSIF op ? 'update' THEN
            tbl := op->>'update';
            SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(op->'set') AS k;
            SELECT string_agg(quote_ident(k), ', ') INTO keys FROM jsonb_object_keys(op->'where') AS k;
            EXECUTE format('UPDATE %I SET (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%I, $1)) '
                           'WHERE (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%I, $2))',
                           tbl, cols, cols, tbl, keys, keys, tbl)
                USING op->'set', op->'where';
            GET DIAGNOSTICS n = ROW_COUNT;
            IF coalesce((op->>'guard')::boolean, false) AND n <> 1 THEN
                RAISE EXCEPTION 'the row changed under a write that expected another version'
                    USING ERRCODE = '{CONFLICT_SQLSTATE}';
            END IF;
        ELSIF op ? 'delete' THEN
            tbl := op->>'delete';
            SELECT string_agg(quote_ident(k), ', ') INTO keys FROM jsonb_object_keys(op->'where') AS k;
            EXECUTE format('DELETE FROM %I WHERE (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%I, $1))',
                           tbl, keys, keys, tbl)
                USING op->'where';
        ELSE
            RAISE EXCEPTION 'kessai_apply: unknown operation %', op;
        END IF;
    END LOOP;
END
$fn$"#
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP FUNCTION kessai_apply(jsonb)")
            .await?;
        Ok(())
    }
}
