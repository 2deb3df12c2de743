//! The API operations on the books.

use axum::http::StatusCode;
use rand::Rng;
use serde_json::{Map, Value};

use super::books::{AuthState, Authorization, Books, Env, Kind};
use super::errors::ApiError;
use super::input::{AuthorizationRequest, FollowUpRequest, parse_object};
use super::wire::View;
use super::{DECLINING_CARDS, RC_APPROVED, RC_INVALID_AMOUNT, RC_OVER_PRE_AUTHORIZED};
use crate::pipeline::reply::Reply;

/// One API operation, named by the route that received it.
pub(crate) enum Call {
    Authorize(Kind),
    Capture,
    Refund,
    Void,
    Status(String),
    Unknown,
}

impl Call {
    /// The `transaction_type` of this call's failure answers.
    pub(super) fn transaction_type(&self) -> Option<&'static str> {
        match self {
            Self::Authorize(kind) => Some(kind.as_str()),
            Self::Capture => Some(Kind::Capture.as_str()),
            Self::Refund => Some(Kind::Refund.as_str()),
            Self::Void => Some(Kind::Void.as_str()),
            Self::Status(_) | Self::Unknown => None,
        }
    }
}

impl Books {
    pub(super) fn perform(
        &mut self,
        call: &Call,
        body: &[u8],
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        match call {
            Call::Authorize(kind) => self.authorize(*kind, &parse_object(body)?, env),
            Call::Capture => self.capture(&parse_object(body)?, env),
            Call::Refund => self.refund(&parse_object(body)?, env),
            Call::Void => self.void(&parse_object(body)?, env),
            Call::Status(id) => Ok(self.envelope(self.find(id)?, View::Status, env.merchant_id)),
            Call::Unknown => Err(ApiError::new(StatusCode::NOT_FOUND, "No such API route.")),
        }
    }

    /// A PRE_AUTH reserves the amount; a SALE takes it at once. A decline
    /// still creates a transaction (with an id the status endpoint knows).
    pub(super) fn authorize(
        &mut self,
        kind: Kind,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let request = AuthorizationRequest::parse(body, env)?;
        let decline = DECLINING_CARDS
            .iter()
            .find(|(pan, _)| *pan == request.card.pan.full())
            .map(|(_, code)| *code);
        let approved = decline.is_none();
        // The transaction first: the authorization is known by its id.
        let auth_index = self.authorizations.len();
        let code = decline.unwrap_or(RC_APPROVED);
        let index = self.record_with_code(kind, request.amount, auth_index, code, env);
        let id = self.transactions[index].id.clone();
        let sale = approved && kind == Kind::Sale;
        self.add_authorization(Authorization {
            // Refunds of a sale name the sale itself.
            capture_id: sale.then(|| id.clone()),
            id,
            merchant_txn_ref: request.merchant_txn_ref,
            state: match (approved, kind) {
                (false, _) => AuthState::Declined,
                (true, Kind::Sale) => AuthState::Captured,
                (true, _) => AuthState::Authorized,
            },
            authorized: if approved { request.amount } else { 0 },
            captured: if sale { request.amount } else { 0 },
            refunded: 0,
            card: request.card,
            auth_code: if approved {
                format!("{:06}", rand::rng().random_range(0..1_000_000))
            } else {
                String::new()
            },
            customer_ip: request.customer_ip,
            billing_address: request.billing_address,
            shipping_address: request.shipping_address,
            webhook_url: request.webhook_url,
        });
        Ok(self.envelope(index, View::Created, env.merchant_id))
    }

    /// One capture per pre-auth, up to the authorized amount; the rest is
    /// released to the cardholder.
    pub(super) fn capture(
        &mut self,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let request = FollowUpRequest::parse(body, env, true)?;
        let amount = request.amount.unwrap_or_default();
        let original = &self.transactions[self.find(&request.transaction_id)?];
        if original.kind != Kind::PreAuth {
            return Err(ApiError::life_cycle("only a PRE_AUTH can be captured"));
        }
        let auth_index = original.authorization;
        let auth = &mut self.authorizations[auth_index];
        if auth.state != AuthState::Authorized {
            return Err(ApiError::life_cycle(&format!(
                "the authorization is {}",
                auth.state.as_str()
            )));
        }
        if amount < 1 {
            return Err(ApiError::precondition(
                RC_INVALID_AMOUNT,
                Some(amount),
                "the capture amount must be at least 1 yen",
            ));
        }
        if amount > auth.authorized {
            return Err(ApiError::precondition(
                RC_OVER_PRE_AUTHORIZED,
                Some(amount),
                "the capture amount exceeds the authorized amount",
            ));
        }
        auth.state = AuthState::Captured;
        auth.captured = amount;
        let index = self.record(Kind::Capture, amount, auth_index, env);
        self.authorizations[auth_index].capture_id = Some(self.transactions[index].id.clone());
        Ok(self.envelope(index, View::Created, env.merchant_id))
    }

    /// Refunds name the CAPTURE (or SALE); several partial ones may follow
    /// each other until the captured amount is used up.
    pub(super) fn refund(
        &mut self,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let request = FollowUpRequest::parse(body, env, true)?;
        let amount = request.amount.unwrap_or_default();
        let original = &self.transactions[self.find(&request.transaction_id)?];
        let refundable = matches!(original.kind, Kind::Capture | Kind::Sale) && original.approved();
        if !refundable {
            return Err(ApiError::life_cycle(
                "refunds take the transactionId of a CAPTURE or SALE",
            ));
        }
        let auth_index = original.authorization;
        let auth = &mut self.authorizations[auth_index];
        let remaining = auth.captured - auth.refunded;
        if amount < 1 || amount > remaining {
            return Err(ApiError::precondition(
                RC_INVALID_AMOUNT,
                Some(amount),
                &format!(
                    "the refund amount must be between 1 and the {remaining} yen not yet refunded"
                ),
            ));
        }
        auth.refunded += amount;
        let index = self.record(Kind::Refund, amount, auth_index, env);
        Ok(self.envelope(index, View::Created, env.merchant_id))
    }

    /// Cancels a pre-auth that was not captured, releasing all of it.
    pub(super) fn void(
        &mut self,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let request = FollowUpRequest::parse(body, env, false)?;
        let original = &self.transactions[self.find(&request.transaction_id)?];
        if original.kind != Kind::PreAuth {
            return Err(ApiError::life_cycle("only a PRE_AUTH can be voided"));
        }
        let auth_index = original.authorization;
        let auth = &mut self.authorizations[auth_index];
        if auth.state != AuthState::Authorized {
            return Err(ApiError::life_cycle(&format!(
                "the authorization is {}",
                auth.state.as_str()
            )));
        }
        auth.state = AuthState::Voided;
        let amount = auth.authorized;
        let index = self.record(Kind::Void, amount, auth_index, env);
        Ok(self.envelope(index, View::Created, env.merchant_id))
    }
}
