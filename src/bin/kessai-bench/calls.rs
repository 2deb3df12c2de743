//! The calls each scenario makes, as a caller would make them.

use kessai::proto::v1;

use crate::load::Client;

pub fn failed(status: tonic::Status) -> String {
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

/// A PaymentOptions card payment with a card the simulator approves.
pub fn paymentoptions_request(
    key: String,
    amount: i64,
    capture_method: v1::CaptureMethod,
) -> v1::AuthorizeRequest {
    let card = v1::Card {
        number: "5200000000001005".into(),
        cvc: "123".into(),
        expiry_month: 12,
        expiry_year: chrono::Datelike::year(&chrono::Utc::now()) + 3,
        name: "BENCH CALLER".into(),
    };
    let billing_address = v1::Address {
        line1: "1-1-1 Marunouchi".into(),
        city: "Chiyoda-ku".into(),
        state: "Tokyo".into(),
        postal_code: "1000005".into(),
        country: "JP".into(),
        ..Default::default()
    };
    v1::AuthorizeRequest {
        idempotency_key: key,
        amount,
        currency: "JPY".into(),
        capture_method: capture_method.into(),
        merchant_reference: "bench".into(),
        provider_details: Some(v1::authorize_request::ProviderDetails::Paymentoptions(
            v1::PaymentOptionsDetails {
                card: Some(card),
                customer_ip: "198.51.100.20".into(),
                billing_address: Some(billing_address),
            },
        )),
        ..Default::default()
    }
}

/// A Smartpay order from a checkout token the simulator treats as approved
/// by the shopper; one item of the whole amount. No merchant reference:
/// kessai then sends its order id as Smartpay's `reference`, the only field
/// of the simulator's ledger that ties a Smartpay order to kessai's.
pub fn smartpay_request(key: String, amount: i64) -> v1::AuthorizeRequest {
    let details = v1::SmartpayDetails {
        token: "paytok_test_approved".into(),
        items: vec![v1::SmartpayItem {
            name: "bench item".into(),
            amount,
            quantity: 1,
            ..Default::default()
        }],
        customer: Some(v1::SmartpayCustomer {
            email: "bench@example.jp".into(),
            first_name: "花子".into(),
            last_name: "佐藤".into(),
            ..Default::default()
        }),
        shipping: Some(v1::SmartpayShipping {
            address: Some(v1::Address {
                line1: "2-1-1 Nihonbashi".into(),
                city: "中央区".into(),
                state: "東京都".into(),
                postal_code: "103-0027".into(),
                country: "JP".into(),
                ..Default::default()
            }),
            fee_amount: 0,
        }),
        ..Default::default()
    };
    v1::AuthorizeRequest {
        idempotency_key: key,
        amount,
        currency: "JPY".into(),
        capture_method: v1::CaptureMethod::Manual.into(),
        provider_details: Some(v1::authorize_request::ProviderDetails::Smartpay(details)),
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

/// One page of 50 of a search (`request`'s filters); a search that finds
/// nothing is an error: every one the harness makes names seeded orders.
pub async fn search_page(mut client: Client, request: v1::ListOrdersRequest) -> Result<(), String> {
    let page = client
        .list_orders(v1::ListOrdersRequest {
            page_size: 50,
            ..request
        })
        .await
        .map_err(failed)?
        .into_inner();
    if page.orders.is_empty() {
        return Err("a search found no order".into());
    }
    Ok(())
}
