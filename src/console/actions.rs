//! The detail page's actions — Capture, Refund, Void, Reconcile now — run
//! through the same use cases as the gRPC calls, so every rule,
//! reservation and idempotency guarantee holds. Each form carries its own
//! idempotency key: a double click or a resubmitted form is one action.
//! The operator is the actor in the order's history.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Console;
use super::detail::{Flash, render};
use super::i18n::M;
use super::session::Operator;
use crate::domain::{Amount, IdempotencyKey, OrderId, RefundReason};
use crate::payments::{CaptureCommand, PaymentError, RefundCommand, VoidCommand};

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    reason: String,
}

/// What may refuse an action before any use case runs.
enum Refusal {
    /// Not this session's form (or none): nothing happens.
    StaleForm,
    /// The operator's scopes do not allow it.
    NotAllowed,
    /// A field is wrong; the reason names it.
    Field(String),
}

impl ActionForm {
    fn check(&self, operator: &Operator, allowed: bool) -> Result<(), Refusal> {
        if !operator.csrf_ok(&self.csrf) {
            return Err(Refusal::StaleForm);
        }
        if !allowed {
            return Err(Refusal::NotAllowed);
        }
        Ok(())
    }

    fn key(&self) -> Result<IdempotencyKey, Refusal> {
        IdempotencyKey::parse(&self.key).map_err(|_| Refusal::StaleForm)
    }

    /// The amount typed, in minor units; digits with optional thousands
    /// separators.
    fn amount(&self, field: &str) -> Result<Amount, Refusal> {
        let digits: String = self
            .amount
            .trim()
            .trim_start_matches('¥')
            .chars()
            .filter(|c| !matches!(c, ',' | '_' | ' '))
            .collect();
        let value = digits
            .parse::<i64>()
            .map_err(|_| Refusal::Field(format!("{field}: must be a whole number")))?;
        Amount::parse(value, field).map_err(|e| Refusal::Field(e.to_string()))
    }

    fn description(&self) -> Result<String, Refusal> {
        let description = self.description.trim();
        if description.chars().count() > 255 || description.chars().any(char::is_control) {
            return Err(Refusal::Field(
                "description: at most 255 characters, no control characters".into(),
            ));
        }
        Ok(description.to_owned())
    }
}

fn order_id(id: &str) -> Result<OrderId, Refusal> {
    OrderId::parse(id, "order_id").map_err(|e| Refusal::Field(e.to_string()))
}

/// The page after an action: back to the order, or the order again with
/// the reason it was not done.
async fn answer(
    console: &Console,
    operator: &Operator,
    id: &str,
    result: Result<Result<(), PaymentError>, Refusal>,
    action: &str,
) -> Response {
    let lang = operator.lang;
    let (why, status) = match result {
        Ok(Ok(())) => {
            tracing::info!(operator = %operator.name, order_id = %id, action, "a console action was done");
            return Redirect::to(&format!("/orders/{id}?done={action}")).into_response();
        }
        Ok(Err(error)) => (super::said(&error), super::status_of(&error)),
        Err(Refusal::StaleForm) => (lang.t(M::StaleForm).to_owned(), StatusCode::FORBIDDEN),
        Err(Refusal::NotAllowed) => (lang.t(M::NotAllowed).to_owned(), StatusCode::FORBIDDEN),
        Err(Refusal::Field(why)) => (why, StatusCode::UNPROCESSABLE_ENTITY),
    };
    tracing::info!(operator = %operator.name, order_id = %id, action, status = status.as_u16(), "a console action was refused");
    render(console, operator, id, Some(Flash::Refused(why)), status).await
}

/// One action, its form checked.
enum Action {
    Capture(CaptureCommand),
    Refund(RefundCommand),
    Void(VoidCommand),
    Reconcile(OrderId),
}

/// Runs `action` through its use case as the operator, then answers.
async fn perform(
    console: &Console,
    operator: &Operator,
    id: &str,
    action: Result<Action, Refusal>,
    name: &str,
) -> Response {
    let payments = &console.inner.payments;
    let caller = operator.caller();
    let result = match action {
        Err(refusal) => Err(refusal),
        Ok(Action::Capture(cmd)) => Ok(payments.capture(&caller, cmd).await.map(drop)),
        Ok(Action::Refund(cmd)) => Ok(payments.refund(&caller, cmd).await.map(drop)),
        Ok(Action::Void(cmd)) => Ok(payments.void(&caller, cmd).await.map(drop)),
        Ok(Action::Reconcile(order_id)) => {
            Ok(payments.reconcile_order(&caller, &order_id).await.map(drop))
        }
    };
    answer(console, operator, id, result, name).await
}

pub async fn capture(
    State(console): State<Console>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let action = form.check(&operator, operator.may_charge()).and_then(|()| {
        Ok(Action::Capture(CaptureCommand {
            key: form.key()?,
            order_id: order_id(&id)?,
            amount: Some(form.amount("amount")?),
            final_capture: false,
            reference: String::new(),
            description: form.description()?,
        }))
    });
    perform(&console, &operator, &id, action, "capture").await
}

pub async fn refund(
    State(console): State<Console>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let action = form.check(&operator, operator.may_refund()).and_then(|()| {
        let reason =
            match form.reason.as_str() {
                "" => None,
                reason => Some(RefundReason::parse(reason).ok_or_else(|| {
                    Refusal::Field("reason: not one of the listed reasons".into())
                })?),
            };
        Ok(Action::Refund(RefundCommand {
            key: form.key()?,
            order_id: order_id(&id)?,
            amount: Some(form.amount("amount")?),
            reason,
            reference: String::new(),
            description: form.description()?,
        }))
    });
    perform(&console, &operator, &id, action, "refund").await
}

pub async fn void(
    State(console): State<Console>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let action = form.check(&operator, operator.may_charge()).and_then(|()| {
        Ok(Action::Void(VoidCommand {
            key: form.key()?,
            order_id: order_id(&id)?,
        }))
    });
    perform(&console, &operator, &id, action, "void").await
}

pub async fn reconcile(
    State(console): State<Console>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let allowed = operator.may_charge() || operator.may_refund();
    let action = form
        .check(&operator, allowed)
        .and_then(|()| Ok(Action::Reconcile(order_id(&id)?)));
    perform(&console, &operator, &id, action, "reconcile").await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(amount: &str) -> ActionForm {
        ActionForm {
            csrf: String::new(),
            key: String::new(),
            amount: amount.into(),
            description: String::new(),
            reason: String::new(),
        }
    }

    #[test]
    fn amounts_are_whole_numbers_with_optional_separators() {
        assert_eq!(
            form("1,500").amount("amount").ok().map(Amount::get),
            Some(1_500)
        );
        assert_eq!(
            form(" ¥2000 ").amount("amount").ok().map(Amount::get),
            Some(2_000)
        );
        assert!(matches!(
            form("12.5").amount("amount"),
            Err(Refusal::Field(_))
        ));
        assert!(matches!(
            form("-3").amount("amount"),
            Err(Refusal::Field(_))
        ));
        assert!(matches!(form("").amount("amount"), Err(Refusal::Field(_))));
    }
}
