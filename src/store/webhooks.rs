//! Provider events kessai has accepted, and finding the order an event is
//! about from the provider's own ids.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Store;
use super::entities::{captures, orders, provider_attempts, webhook_events};
use super::error::StoreError;
use super::records::AttemptState;
use crate::domain::{OrderId, ProviderKind};

/// What kessai already knew of a provider event when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// First delivery: now recorded.
    New,
    /// Delivered before, but its effect was never confirmed applied (the
    /// provider could not be asked then): apply it now.
    Unprocessed,
    /// Delivered and applied before: nothing to do.
    Processed,
}

impl Store {
    /// Records a provider event by its id (durably, before any effect), or
    /// tells how far an earlier delivery of it got.
    pub async fn receive_webhook_event(
        &self,
        provider: ProviderKind,
        event_id: &str,
        event_type: &str,
        order_id: Option<&OrderId>,
        now: DateTime<Utc>,
    ) -> Result<Receipt, StoreError> {
        let inserted = webhook_events::Entity::insert(webhook_events::ActiveModel {
            provider: Set(provider.as_str().to_owned()),
            event_id: Set(event_id.to_owned()),
            event_type: Set(event_type.to_owned()),
            order_id: Set(order_id.map(ToString::to_string)),
            received_at: Set(now),
            processed_at: Set(None),
        })
        .on_conflict(
            OnConflict::columns([
                webhook_events::Column::Provider,
                webhook_events::Column::EventId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&self.write)
        .await;
        match inserted {
            Ok(1) => return Ok(Receipt::New),
            Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => {}
            Err(e) => return Err(e.into()),
        }
        let existing =
            webhook_events::Entity::find_by_id((provider.as_str().to_owned(), event_id.to_owned()))
                .one(&self.write)
                .await?
                .ok_or_else(|| {
                    StoreError::Database("webhook event vanished after a conflict".into())
                })?;
        Ok(match existing.processed_at {
            Some(_) => Receipt::Processed,
            None => Receipt::Unprocessed,
        })
    }

    /// How far an earlier delivery of this event got, if there was one (a
    /// read: nothing is written).
    pub async fn webhook_event_seen(
        &self,
        provider: ProviderKind,
        event_id: &str,
    ) -> Result<Option<Receipt>, StoreError> {
        let existing =
            webhook_events::Entity::find_by_id((provider.as_str().to_owned(), event_id.to_owned()))
                .one(&self.read)
                .await?;
        Ok(existing.map(|event| match event.processed_at {
            Some(_) => Receipt::Processed,
            None => Receipt::Unprocessed,
        }))
    }

    /// Marks a recorded event as applied: a redelivery changes nothing.
    pub async fn webhook_event_processed(
        &self,
        provider: ProviderKind,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        webhook_events::Entity::update_many()
            .col_expr(webhook_events::Column::ProcessedAt, Expr::value(now))
            .filter(webhook_events::Column::Provider.eq(provider.as_str()))
            .filter(webhook_events::Column::EventId.eq(event_id))
            .exec(&self.write)
            .await?;
        Ok(())
    }

    /// The order the provider knows by `provider_order_id`.
    pub async fn order_by_provider_id(
        &self,
        provider: ProviderKind,
        provider_order_id: &str,
    ) -> Result<Option<OrderId>, StoreError> {
        Ok(orders::Entity::find()
            .filter(orders::Column::Provider.eq(provider.as_str()))
            .filter(orders::Column::ProviderOrderId.eq(provider_order_id))
            .one(&self.read)
            .await?
            .map(|row| OrderId::from_trusted(row.id)))
    }

    /// The order one of whose captures the provider knows by
    /// `provider_capture_id` (a Smartpay payment, a PaymentOptions capture).
    pub async fn order_by_provider_capture_id(
        &self,
        provider: ProviderKind,
        provider_capture_id: &str,
    ) -> Result<Option<OrderId>, StoreError> {
        let order_ids: Vec<String> = captures::Entity::find()
            .filter(captures::Column::ProviderCaptureId.eq(provider_capture_id))
            .all(&self.read)
            .await?
            .into_iter()
            .map(|capture| capture.order_id)
            .collect();
        if order_ids.is_empty() {
            return Ok(None);
        }
        Ok(orders::Entity::find()
            .filter(orders::Column::Id.is_in(order_ids))
            .filter(orders::Column::Provider.eq(provider.as_str()))
            .one(&self.read)
            .await?
            .map(|row| OrderId::from_trusted(row.id)))
    }

    /// Forgets events received before `before`: a provider redelivering one
    /// after that would only make kessai ask it again.
    pub async fn reap_webhook_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = webhook_events::Entity::delete_many()
            .filter(webhook_events::Column::ReceivedAt.lt(before))
            .exec(&self.write)
            .await?;
        Ok(result.rows_affected)
    }

    /// Makes the order's calls with an unknown outcome due for the
    /// reconciliation worker's next pass: the provider just said something
    /// happened.
    pub async fn expedite_unsettled(
        &self,
        order_id: &OrderId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let result = provider_attempts::Entity::update_many()
            .col_expr(provider_attempts::Column::NextCheckAt, Expr::value(now))
            .filter(provider_attempts::Column::OrderId.eq(order_id.as_str()))
            .filter(provider_attempts::Column::State.eq(AttemptState::Unknown.as_str()))
            .exec(&self.write)
            .await?;
        Ok(result.rows_affected)
    }
}
