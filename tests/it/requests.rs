//! Authorize requests for each provider, as a caller would build them.

use kessai::proto::v1;

pub fn payjp_authorize(key: &str, amount: i64, payment_method: &str) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        idempotency_key: key.into(),
        amount,
        currency: "JPY".into(),
        merchant_reference: "order-1001".into(),
        provider_details: Some(v1::authorize_request::ProviderDetails::Payjp(
            v1::PayjpDetails {
                payment_method_id: payment_method.into(),
                customer_id: "cus_test_kessai".into(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// A Smartpay order from a token the shopper already approved, with one
/// item of the whole amount and the customer and shipping the schemas
/// require.
pub fn smartpay_token_authorize(key: &str, amount: i64, token: &str) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        idempotency_key: key.into(),
        amount,
        currency: "JPY".into(),
        provider_details: Some(v1::authorize_request::ProviderDetails::Smartpay(
            v1::SmartpayDetails {
                token: token.into(),
                items: vec![v1::SmartpayItem {
                    name: "item".into(),
                    amount,
                    quantity: 1,
                    ..Default::default()
                }],
                customer: smartpay_customer(),
                shipping: smartpay_shipping(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// A PaymentOptions card authorization as a shop sends it: the card, the
/// shopper's IP and billing address.
pub fn card_authorize(
    key: &str,
    amount: i64,
    number: &str,
    cvc: &str,
    expiry_year: i32,
) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        idempotency_key: key.into(),
        amount,
        currency: "JPY".into(),
        merchant_reference: "order-3001".into(),
        provider_details: Some(v1::authorize_request::ProviderDetails::Paymentoptions(
            v1::PaymentOptionsDetails {
                card: Some(v1::Card {
                    number: number.into(),
                    cvc: cvc.into(),
                    expiry_month: 12,
                    expiry_year,
                    name: "TARO YAMADA".into(),
                }),
                customer_ip: "203.0.113.7".into(),
                billing_address: Some(v1::Address {
                    line1: "1-2-3 Shinjuku".into(),
                    city: "Shinjuku-ku".into(),
                    state: "Tokyo".into(),
                    postal_code: "1600022".into(),
                    country: "JP".into(),
                    ..Default::default()
                }),
            },
        )),
        ..Default::default()
    }
}

/// The shopper Smartpay's JTD schemas require with every checkout and token
/// order (`customerInfo`).
pub fn smartpay_customer() -> Option<v1::SmartpayCustomer> {
    Some(v1::SmartpayCustomer {
        email: "shopper@example.jp".into(),
        first_name: "太郎".into(),
        last_name: "山田".into(),
        ..Default::default()
    })
}

/// The delivery address Smartpay's JTD schemas require (`shippingInfo`
/// with `line1`, `locality`, `postalCode`, `country`).
pub fn smartpay_shipping() -> Option<v1::SmartpayShipping> {
    Some(v1::SmartpayShipping {
        address: Some(v1::Address {
            line1: "3-6-7".into(),
            line2: "青山パラシオタワー 11階".into(),
            city: "港区北青山".into(),
            state: "東京都".into(),
            postal_code: "107-0061".into(),
            country: "JP".into(),
        }),
        fee_amount: 0,
    })
}
