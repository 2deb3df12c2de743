//! Who may see an order: its owner, the caller (or the group of callers
//! configured to share one) that authorized it. Orders written before this
//! migration are given the actor of their first event, which is the caller
//! that created them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    Id,
    Owner,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(ColumnDef::new(Orders::Owner).text().not_null().default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE orders SET owner = COALESCE((SELECT e.actor FROM order_events e \
                 WHERE e.order_id = orders.id ORDER BY e.id LIMIT 1), '')",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_orders_owner_id")
                    .table(Orders::Table)
                    .col(Orders::Owner)
                    .col(Orders::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_orders_owner_id").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .drop_column(Orders::Owner)
                    .to_owned(),
            )
            .await
    }
}
