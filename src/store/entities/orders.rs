use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub provider: String,
    pub provider_order_id: Option<String>,
    pub merchant_reference: String,
    pub description: String,
    pub currency: String,
    pub capture_method: String,
    pub payment_method: Option<String>,
    pub auth_state: String,
    pub release: Option<String>,
    pub status: String,
    pub amount: i64,
    pub amount_authorized: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub pending_capture: i64,
    pub pending_refund: i64,
    pub captures_succeeded: i32,
    pub captures_pending: i32,
    pub void_pending: bool,
    pub unsettled: i32,
    pub expires_at: Option<DateTimeUtc>,
    pub next_action_kind: Option<String>,
    pub next_action_value: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub failure_provider_code: Option<String>,
    pub livemode: bool,
    pub metadata: String,
    pub provider_data: Option<String>,
    pub card_bin: Option<String>,
    pub card_last4: Option<String>,
    pub card_brand: Option<String>,
    pub card_exp_month: Option<i32>,
    pub card_exp_year: Option<i32>,
    pub needs_review: bool,
    /// When reconciliation should next ask the provider about this order.
    pub next_sync_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub lock_version: i64,
    pub owner: String,
    /// The customer as given (trimmed).
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    /// What searches match (`domain::search::search_form`).
    pub customer_email_norm: Option<String>,
    pub customer_name_norm: Option<String>,
    /// The e-mail's local part reversed (`domain::email_local_reversed`),
    /// indexed on SQLite for searches by an address.
    pub customer_email_local_rev: Option<String>,
    /// Id, merchant reference, e-mail and name in search form, for a free
    /// `query` (`domain::search::search_text`).
    pub search_text: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
