//! The calls each scenario makes, as a caller would make them.

use kessai::proto::v1;

use crate::load::Client;

fn failed(status: tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

pub fn authorize_request(key: String, amount: i64) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        idempotency_key: key,
        amount,
        currency: "JPY".into(),
        capture_method: v1::CaptureMethod::Manual.into(),
        merchant_reference: "bench".into(),
        provider_details: Some(v1::authorize_request::ProviderDetails::Payjp(
            v1::PayjpDetails {
                payment_method_id: "pm_test_approve".into(),
                customer_id: "cus_test_kessai".into(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// Authorizes 5,000 yen; the order id.
pub async fn authorize(mut client: Client, key: String) -> Result<String, String> {
    let order = client
        .authorize(authorize_request(key, 5_000))
        .await
        .map_err(failed)?
        .into_inner()
        .order
        .ok_or("no order in the answer")?;
    if order.status() != v1::OrderStatus::Authorized {
        return Err(format!("authorized as {:?}", order.status()));
    }
    Ok(order.id)
}

pub async fn get_order(mut client: Client, order_id: String) -> Result<(), String> {
    let order = client
        .get_order(v1::GetOrderRequest {
            order_id,
            refresh: false,
        })
        .await
        .map_err(failed)?
        .into_inner()
        .order;
    order
        .map(|_| ())
        .ok_or_else(|| "no order in the answer".into())
}

/// Authorize, capture all, refund part: one checkout's life.
pub async fn flow(client: Client, key: String) -> Result<(), String> {
    let order_id = authorize(client.clone(), format!("{key}-a")).await?;
    let mut client = client;
    let captured = client
        .capture(v1::CaptureRequest {
            idempotency_key: format!("{key}-c"),
            order_id: order_id.clone(),
            amount: None,
            final_capture: true,
            ..Default::default()
        })
        .await
        .map_err(failed)?
        .into_inner()
        .order
        .ok_or("no order in the answer")?;
    if captured.amount_captured != 5_000 {
        return Err(format!("captured {}", captured.amount_captured));
    }
    let refunded = client
        .refund(v1::RefundRequest {
            idempotency_key: format!("{key}-r"),
            order_id,
            amount: Some(1_000),
            ..Default::default()
        })
        .await
        .map_err(failed)?
        .into_inner()
        .order
        .ok_or("no order in the answer")?;
    if refunded.amount_refunded != 1_000 {
        return Err(format!("refunded {}", refunded.amount_refunded));
    }
    Ok(())
}

/// One page of 50, starting at `page_token` (empty: the first page); the
/// next page's token.
pub async fn list_page(mut client: Client, page_token: String) -> Result<String, String> {
    let page = client
        .list_orders(v1::ListOrdersRequest {
            page_size: 50,
            page_token,
            ..Default::default()
        })
        .await
        .map_err(failed)?
        .into_inner();
    if page.orders.len() != 50 {
        return Err(format!("a page of {} orders", page.orders.len()));
    }
    Ok(page.next_page_token)
}
