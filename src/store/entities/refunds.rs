use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refunds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub order_id: String,
    pub amount: i64,
    pub status: String,
    pub reason: Option<String>,
    pub reference: String,
    pub description: String,
    /// JSON array of the refund's provider requests (`RefundPartRecord`).
    pub parts: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub failure_provider_code: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
