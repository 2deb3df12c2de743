use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub order_id: String,
    pub operation: String,
    pub target_id: Option<String>,
    pub provider_key: Option<String>,
    pub amount: Option<i64>,
    /// JSON of what a resumed call must send again (never secrets).
    pub request: String,
    pub state: String,
    pub error: Option<String>,
    pub checks: i32,
    pub next_check_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
