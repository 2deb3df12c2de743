use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "captures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub order_id: String,
    pub amount: i64,
    pub status: String,
    pub final_capture: bool,
    pub provider_capture_id: Option<String>,
    pub reference: String,
    pub description: String,
    pub amount_refunded: i64,
    pub pending_refund: i64,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub failure_provider_code: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
