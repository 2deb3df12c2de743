//! The shopper's checkout page: approve or reject an order awaiting
//! authorization.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use super::SmartpaySimulator;
use super::books::{OrderStatus, Verdict};
use crate::pages::escape_html;

pub(super) fn routes() -> Router<SmartpaySimulator> {
    Router::new()
        .route("/_sandbox/checkout/{id}", get(checkout_page))
        .route("/_sandbox/checkout/{id}/approve", post(checkout_approve))
        .route("/_sandbox/checkout/{id}/reject", post(checkout_reject))
}

impl SmartpaySimulator {
    /// Plays the shopper approving on the checkout page. False when the
    /// session is unknown or its order is not awaiting the shopper.
    pub fn approve_checkout(&self, checkout_session_id: &str) -> bool {
        let done = self
            .finish_checkout(checkout_session_id, Verdict::Approve)
            .is_ok();
        self.send_queued_events();
        done
    }

    /// Plays the shopper rejecting (or Smartpay declining) the checkout.
    pub fn reject_checkout(&self, checkout_session_id: &str) -> bool {
        let done = self
            .finish_checkout(checkout_session_id, Verdict::Reject)
            .is_ok();
        self.send_queued_events();
        done
    }

    fn finish_checkout(&self, session_id: &str, verdict: Verdict) -> Result<Outcome, PageError> {
        let now = self.core.clock.now_ms();
        let mut books = self.core.lock();
        books.settle_expired(now);
        let session = books
            .sessions
            .find(session_id)
            .cloned()
            .ok_or(PageError::UnknownSession)?;
        let index = books
            .orders
            .position(&session.order_id)
            .ok_or(PageError::UnknownSession)?;
        let status = books.orders[index].status;
        if status != OrderStatus::RequiresAuthorization {
            return Err(PageError::NotAwaiting(status));
        }
        match verdict {
            Verdict::Approve => books.authorize(index, now),
            Verdict::Reject => {
                books.orders[index].reject(now);
                let rejected = serde_json::to_value(books.orders[index].wire()).unwrap_or_default();
                books.outbox.push(("order.rejected", rejected));
            }
        }
        let order = &books.orders[index];
        Ok(Outcome {
            order_id: order.id.clone(),
            status: order.status,
            back_url: match verdict {
                Verdict::Approve => session.success_url,
                Verdict::Reject => session.cancel_url,
            },
        })
    }
}

struct Outcome {
    order_id: String,
    status: OrderStatus,
    back_url: String,
}

enum PageError {
    UnknownSession,
    NotAwaiting(OrderStatus),
}

impl PageError {
    fn into_page(self, session_id: &str) -> Response {
        let id = escape_html(session_id);
        let (status, message) = match self {
            Self::UnknownSession => (StatusCode::NOT_FOUND, format!("No checkout session {id}.")),
            Self::NotAwaiting(current) => (
                StatusCode::CONFLICT,
                format!(
                    "Checkout session {id} is not awaiting the shopper (order status {}).",
                    current.as_str()
                ),
            ),
        };
        (status, page(&format!("<p>{message}</p>"))).into_response()
    }
}

async fn checkout_page(State(sim): State<SmartpaySimulator>, Path(id): Path<String>) -> Response {
    let now = sim.core.clock.now_ms();
    let mut books = sim.core.lock();
    books.settle_expired(now);
    let Some(session) = books.sessions.find(&id) else {
        return PageError::UnknownSession.into_page(&id);
    };
    let Ok(order) = books.order(&session.order_id) else {
        return PageError::UnknownSession.into_page(&id);
    };
    if order.status != OrderStatus::RequiresAuthorization {
        return PageError::NotAwaiting(order.status).into_page(&id);
    }
    let items: String = order
        .line_items
        .iter()
        .map(|li| {
            format!(
                "<li>{} × {} — {} {}</li>",
                escape_html(&li.name),
                li.quantity,
                li.amount,
                escape_html(&li.currency)
            )
        })
        .collect();
    let session_id = escape_html(&session.id);
    let body = format!(
        "<h1>Smartpay checkout (sandbox)</h1>\
         <p>Order {order_id}: {amount} {currency}</p><ul>{items}</ul>\
         <form method=\"post\" action=\"./{session_id}/approve\"><button type=\"submit\">Approve</button></form>\
         <form method=\"post\" action=\"./{session_id}/reject\"><button type=\"submit\">Reject</button></form>",
        order_id = escape_html(&order.id),
        amount = order.amount,
        currency = escape_html(&order.currency),
    );
    page(&body).into_response()
}

async fn checkout_approve(
    State(sim): State<SmartpaySimulator>,
    Path(id): Path<String>,
) -> Response {
    checkout_answer(&sim, &id, Verdict::Approve)
}

async fn checkout_reject(State(sim): State<SmartpaySimulator>, Path(id): Path<String>) -> Response {
    checkout_answer(&sim, &id, Verdict::Reject)
}

/// A page rather than a redirect to the shop's URL (see [`crate::pages`]).
fn checkout_answer(sim: &SmartpaySimulator, id: &str, verdict: Verdict) -> Response {
    let outcome = sim.finish_checkout(id, verdict);
    sim.send_queued_events();
    match outcome {
        Err(error) => error.into_page(id),
        Ok(outcome) => {
            let body = format!(
                "<p>Order {} is now {}.</p><p><a href=\"{}\">Return to the shop</a></p>",
                escape_html(&outcome.order_id),
                outcome.status.as_str(),
                escape_html(&outcome.back_url)
            );
            page(&body).into_response()
        }
    }
}

fn page(body: &str) -> Html<String> {
    Html(crate::pages::html_page("Smartpay sandbox checkout", body))
}
