//! The 3-D Secure page: the shopper's side of a flow in `requires_action`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use super::PayjpSimulator;
use super::books::{Flow, Status};
use crate::pages::escape_html;

pub(super) fn routes() -> Router<PayjpSimulator> {
    Router::new()
        .route("/_sandbox/3ds/{id}", get(three_d_secure_page))
        .route("/_sandbox/3ds/{id}/complete", post(three_d_secure_complete))
        .route("/_sandbox/3ds/{id}/fail", post(three_d_secure_fail))
}

impl PayjpSimulator {
    /// Plays the shopper on the 3-D Secure page: `succeed` authorizes the
    /// flow, otherwise it goes back to `requires_payment_method` with
    /// `last_payment_error` `three_d_secure_failed` and
    /// `payment_flow.payment_failed` is notified. False when
    /// the flow does not exist or is not waiting for the shopper.
    pub fn complete_three_d_secure(&self, flow_id: &str, succeed: bool) -> bool {
        let done = self.finish_three_d_secure(flow_id, succeed).is_ok();
        self.send_queued_events();
        done
    }

    fn finish_three_d_secure(&self, flow_id: &str, succeed: bool) -> Result<Flow, ThreeDsError> {
        let now = self.core.clock.now();
        let mut books = self.core.lock();
        let flow = books
            .flows
            .find_mut(flow_id)
            .ok_or(ThreeDsError::UnknownFlow)?;
        if flow.status != Status::RequiresAction {
            return Err(ThreeDsError::NotWaiting(flow.status));
        }
        if succeed {
            // pm_test_3ds is a card: the card window applies.
            let window = flow.card_window();
            flow.authorize(window, now);
        } else {
            // The SDK's PaymentFlowStatus has no failed status: the attempt
            // ends as a declined card's does, the flow back in
            // `requires_payment_method` with `last_payment_error` (a free
            // dictionary in the SDK). GUESS: the code, named as PAY.JP v1
            // names its 3-D Secure failures (`three_d_secure_failed`).
            flow.fail_attempt(
                "three_d_secure_failed",
                "3-D Secure authentication failed.",
                now,
            );
        }
        let (flow, event) = (flow.clone(), flow.event(!succeed));
        books.outbox.extend(event);
        Ok(flow)
    }
}

enum ThreeDsError {
    UnknownFlow,
    NotWaiting(Status),
}

impl ThreeDsError {
    fn into_page(self, flow_id: &str) -> Response {
        let (status, message) = match self {
            Self::UnknownFlow => (
                StatusCode::NOT_FOUND,
                format!("No payment flow {}.", escape_html(flow_id)),
            ),
            Self::NotWaiting(current) => (
                StatusCode::CONFLICT,
                format!(
                    "Payment flow {} is not waiting for 3-D Secure (status {}).",
                    escape_html(flow_id),
                    current.as_str()
                ),
            ),
        };
        (status, page(&format!("<p>{message}</p>"))).into_response()
    }
}

async fn three_d_secure_page(
    State(sim): State<PayjpSimulator>,
    Path(id): Path<String>,
) -> Response {
    let books = sim.core.lock();
    let flow = match books.flows.find(&id) {
        None => return ThreeDsError::UnknownFlow.into_page(&id),
        Some(flow) if flow.status != Status::RequiresAction => {
            return ThreeDsError::NotWaiting(flow.status).into_page(&id);
        }
        Some(flow) => flow,
    };
    let id = escape_html(&flow.id);
    let body = format!(
        "<h1>3-D Secure (PAY.JP sandbox)</h1>\
         <p>Payment flow {id}: {amount} JPY</p>\
         <form method=\"post\" action=\"./{id}/complete\"><button type=\"submit\">Authenticate</button></form>\
         <form method=\"post\" action=\"./{id}/fail\"><button type=\"submit\">Fail authentication</button></form>",
        amount = flow.amount
    );
    page(&body).into_response()
}

async fn three_d_secure_complete(
    State(sim): State<PayjpSimulator>,
    Path(id): Path<String>,
) -> Response {
    three_d_secure_answer(&sim, &id, true)
}

async fn three_d_secure_fail(
    State(sim): State<PayjpSimulator>,
    Path(id): Path<String>,
) -> Response {
    three_d_secure_answer(&sim, &id, false)
}

/// A page rather than a redirect to `return_url` (see [`crate::pages`]).
fn three_d_secure_answer(sim: &PayjpSimulator, id: &str, succeed: bool) -> Response {
    let outcome = sim.finish_three_d_secure(id, succeed);
    sim.send_queued_events();
    match outcome {
        Err(error) => error.into_page(id),
        Ok(flow) => {
            let back = flow
                .return_url
                .as_deref()
                .map(|url| {
                    format!(
                        "<p><a href=\"{}\">Return to the shop</a></p>",
                        escape_html(url)
                    )
                })
                .unwrap_or_default();
            let outcome = if succeed {
                "Authenticated"
            } else {
                "Authentication failed"
            };
            let body = format!(
                "<p>{outcome}: payment flow {} is now {}.</p>{back}",
                escape_html(&flow.id),
                flow.status.as_str()
            );
            page(&body).into_response()
        }
    }
}

fn page(body: &str) -> Html<String> {
    Html(crate::pages::html_page("PAY.JP sandbox 3-D Secure", body))
}
