use super::*;
use crate::domain::{CaptureMethod, Reason};
use crate::payments::{AuthorizeCommand, ListOrdersCommand, PaymentError};
use crate::providers::ProviderDetails;

fn valid_authorize() -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        idempotency_key: "k-1".into(),
        amount: 1000,
        currency: "JPY".into(),
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

#[test]
fn a_valid_authorize_parses() {
    let cmd = AuthorizeCommand::try_from(valid_authorize()).unwrap();
    assert_eq!(cmd.money.amount.get(), 1000);
    assert_eq!(cmd.capture_method, CaptureMethod::Manual);
}

#[test]
fn every_bad_field_is_reported_at_once() {
    let mut r = valid_authorize();
    r.idempotency_key = String::new();
    r.amount = -5;
    r.currency = "yen".into();
    r.provider_details = None;
    let Err(PaymentError::Invalid(e)) = AuthorizeCommand::try_from(r) else {
        panic!("expected INVALID_ARGUMENT");
    };
    let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        ["idempotency_key", "amount", "currency", "provider_details"]
    );
    assert_eq!(e.reason, Reason::InvalidIdempotencyKey);
}

#[test]
fn a_return_url_must_be_http() {
    let mut r = valid_authorize();
    r.provider_details = Some(v1::authorize_request::ProviderDetails::Payjp(
        v1::PayjpDetails {
            payment_method_id: "pm_test_approve".into(),
            customer_id: "cus_test_kessai".into(),
            return_url: "javascript:alert(1)".into(),
            ..Default::default()
        },
    ));
    assert!(matches!(
        AuthorizeCommand::try_from(r),
        Err(PaymentError::Invalid(_))
    ));
}

fn smartpay_authorize(details: v1::SmartpayDetails) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        provider_details: Some(v1::authorize_request::ProviderDetails::Smartpay(details)),
        ..valid_authorize()
    }
}

fn smartpay_fields(r: v1::AuthorizeRequest) -> Vec<String> {
    let Err(PaymentError::Invalid(e)) = AuthorizeCommand::try_from(r) else {
        panic!("expected INVALID_ARGUMENT");
    };
    e.violations.into_iter().map(|v| v.field).collect()
}

fn item() -> v1::SmartpayItem {
    v1::SmartpayItem {
        name: "Tea".into(),
        amount: 1000,
        quantity: 1,
        ..Default::default()
    }
}

#[test]
fn smartpay_needs_the_customer_and_shipping_the_schemas_require() {
    let fields = smartpay_fields(smartpay_authorize(v1::SmartpayDetails {
        items: vec![item()],
        token: "paytok_test_approved".into(),
        ..Default::default()
    }));
    assert_eq!(fields, ["smartpay.customer", "smartpay.shipping"]);
    let fields = smartpay_fields(smartpay_authorize(v1::SmartpayDetails {
        items: vec![item()],
        success_url: "https://shop.example/ok".into(),
        customer: Some(v1::SmartpayCustomer {
            email: "taro.yamada@example.jp".into(),
            address: Some(v1::Address {
                line1: "3-6-7".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        shipping: Some(v1::SmartpayShipping {
            address: Some(v1::Address {
                line2: "Room 11".into(),
                city: "   ".into(),
                ..Default::default()
            }),
            fee_amount: i64::from(u32::MAX) + 1,
        }),
        ..Default::default()
    }));
    assert_eq!(
        fields,
        [
            "smartpay.cancel_url",
            "smartpay.customer.address.city",
            "smartpay.customer.address.postal_code",
            "smartpay.customer.address.country",
            "smartpay.shipping.fee_amount",
            "smartpay.shipping.address.line1",
            "smartpay.shipping.address.city",
            "smartpay.shipping.address.postal_code",
            "smartpay.shipping.address.country",
        ]
    );
    let fields = smartpay_fields(smartpay_authorize(v1::SmartpayDetails {
        items: vec![item()],
        token: "paytok_test_approved".into(),
        shipping: Some(v1::SmartpayShipping::default()),
        customer: Some(v1::SmartpayCustomer::default()),
        ..Default::default()
    }));
    assert_eq!(fields, ["smartpay.shipping.address"]);
}

#[test]
fn smartpay_violations_name_fields_never_values() {
    let r = smartpay_authorize(v1::SmartpayDetails {
        items: vec![item()],
        token: "paytok_test_approved".into(),
        customer: Some(v1::SmartpayCustomer {
            email: "taro-yamada-secret".into(),
            last_name: "山田".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    let Err(PaymentError::Invalid(e)) = AuthorizeCommand::try_from(r) else {
        panic!("expected INVALID_ARGUMENT");
    };
    let text = format!("{e:?} {e}");
    assert!(
        !text.contains("taro-yamada-secret") && !text.contains("山田"),
        "{text}"
    );
    let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["smartpay.customer.email", "smartpay.shipping"]);
}

/// 500 of tea and a 500 shipping fee: the 1,000 of `valid_authorize`.
fn whole_smartpay() -> v1::SmartpayDetails {
    v1::SmartpayDetails {
        items: vec![v1::SmartpayItem {
            amount: 500,
            ..item()
        }],
        token: "paytok_test_approved".into(),
        customer: Some(v1::SmartpayCustomer::default()),
        shipping: Some(v1::SmartpayShipping {
            address: Some(v1::Address {
                line1: "1-2-3".into(),
                city: "渋谷区".into(),
                postal_code: "150-0002".into(),
                country: "JP".into(),
                ..Default::default()
            }),
            fee_amount: 500,
        }),
        ..Default::default()
    }
}

#[test]
fn a_whole_smartpay_request_parses_and_amounts_fit_uint32() {
    let cmd = AuthorizeCommand::try_from(smartpay_authorize(whole_smartpay())).unwrap();
    let ProviderDetails::Smartpay(d) = cmd.details else {
        panic!("Smartpay details");
    };
    assert_eq!(d.shipping.unwrap().address.unwrap().postal_code, "150-0002");
    let mut too_much = smartpay_authorize(whole_smartpay());
    too_much.amount = i64::from(u32::MAX) + 1;
    assert_eq!(smartpay_fields(too_much), ["amount"]);
    let mut item_too_much = whole_smartpay();
    item_too_much.items[0].amount = i64::from(u32::MAX) + 1;
    assert_eq!(
        smartpay_fields(smartpay_authorize(item_too_much)),
        ["smartpay.items[0].amount"]
    );
}

#[test]
fn smartpay_items_add_up_to_the_amount_as_smartpay_counts_them() {
    let line = |name: &str, amount, quantity, kind: v1::SmartpayItemKind| v1::SmartpayItem {
        name: name.into(),
        amount,
        quantity,
        kind: kind as i32,
        ..Default::default()
    };
    // 2 × 600 + 100 tax - 2 × 400 off + 500 shipping = 1,000.
    let mut details = whole_smartpay();
    details.items = vec![
        line("Tea", 600, 2, v1::SmartpayItemKind::Unspecified),
        line("消費税", 100, 1, v1::SmartpayItemKind::Tax),
        line("クーポン", 400, 2, v1::SmartpayItemKind::Discount),
    ];
    let cmd = AuthorizeCommand::try_from(smartpay_authorize(details.clone())).unwrap();
    let ProviderDetails::Smartpay(parsed) = cmd.details else {
        panic!("Smartpay details");
    };
    let total = parsed.items_total();
    assert_eq!(
        (
            total.items,
            total.discounts,
            total.shipping_fee,
            total.total()
        ),
        (1_300, 800, 500, 1_000)
    );

    let mut off = smartpay_authorize(details.clone());
    off.amount = 1_800;
    let Err(PaymentError::Invalid(e)) = AuthorizeCommand::try_from(off) else {
        panic!("expected INVALID_ARGUMENT");
    };
    assert_eq!(e.reason, Reason::AmountMismatch);
    assert_eq!(e.violations.len(), 1);
    assert_eq!(e.violations[0].field, "amount");
    let text = e.to_string();
    for figure in [
        "is 1800",
        "add up to 1000",
        "taxes 1300",
        "discounts 800",
        "fee 500",
    ] {
        assert!(text.contains(figure), "{figure}: {text}");
    }

    // A kind the contract does not know is named, and no total is reckoned.
    details.items[1].kind = 9;
    assert_eq!(
        smartpay_fields(smartpay_authorize(details)),
        ["smartpay.items[1].kind"]
    );
}

#[test]
fn a_payjp_payment_method_needs_its_customer() {
    let mut r = valid_authorize();
    r.provider_details = Some(v1::authorize_request::ProviderDetails::Payjp(
        v1::PayjpDetails {
            payment_method_id: "pm_test_approve".into(),
            ..Default::default()
        },
    ));
    let Err(PaymentError::Invalid(e)) = AuthorizeCommand::try_from(r) else {
        panic!("expected INVALID_ARGUMENT");
    };
    let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["payjp.customer_id"]);
    // Without a payment method the customer stays optional.
    let mut r = valid_authorize();
    r.provider_details = Some(v1::authorize_request::ProviderDetails::Payjp(
        v1::PayjpDetails::default(),
    ));
    assert!(AuthorizeCommand::try_from(r).is_ok());
}

#[test]
fn unspecified_status_filters_are_refused() {
    let r = v1::ListOrdersRequest {
        statuses: vec![0],
        ..Default::default()
    };
    assert!(matches!(
        ListOrdersCommand::try_from(r),
        Err(PaymentError::Invalid(_))
    ));
}

fn customer() -> Option<v1::Customer> {
    Some(v1::Customer {
        email: " Hanako@Example.jp ".into(),
        name: "佐藤 花子".into(),
        phone: "090-1234-5678".into(),
    })
}

/// An order as the store gives it back, with `customer`.
fn order_with(customer: Option<crate::domain::Customer>) -> crate::domain::OrderView {
    use crate::domain::{OrderId, OrderRecord, OrderState, ProviderKind};
    let id = OrderId::generate().to_string();
    let state = OrderState::new(1_000);
    crate::domain::OrderView {
        order: OrderRecord {
            customer,
            ..OrderRecord::for_tests(&id, ProviderKind::Smartpay, state)
        },
        captures: Vec::new(),
        refunds: Vec::new(),
    }
}

#[test]
fn a_customer_crosses_the_wire_both_ways() {
    use prost::Message;
    let mut request = valid_authorize();
    request.customer = customer();
    let decoded = v1::AuthorizeRequest::decode(request.encode_to_vec().as_slice()).unwrap();
    let cmd = AuthorizeCommand::try_from(decoded).unwrap();
    let kept = cmd.customer.clone().expect("a customer");
    assert_eq!(kept.email.as_deref(), Some("Hanako@Example.jp"), "trimmed");
    assert_eq!(kept.name.as_deref(), Some("佐藤 花子"));
    assert_eq!(kept.phone.as_deref(), Some("090-1234-5678"));

    let order = v1::Order::from(&order_with(cmd.customer));
    let decoded = v1::Order::decode(order.encode_to_vec().as_slice()).unwrap();
    assert_eq!(
        decoded.customer,
        Some(v1::Customer {
            email: "Hanako@Example.jp".into(),
            name: "佐藤 花子".into(),
            phone: "090-1234-5678".into(),
        })
    );
    // A part not given is empty on the wire; no customer, no message.
    let email_only = crate::domain::Customer {
        email: Some("a@b.jp".into()),
        ..Default::default()
    };
    let order = v1::Order::from(&order_with(Some(email_only)));
    assert_eq!(order.customer.unwrap().name, "");
    assert_eq!(v1::Order::from(&order_with(None)).customer, None);
}

#[test]
fn the_order_customer_fills_what_smartpay_is_not_told() {
    let details = |r: v1::AuthorizeRequest| match AuthorizeCommand::try_from(r).unwrap().details {
        ProviderDetails::Smartpay(d) => *d.customer.unwrap(),
        other => panic!("{other:?}"),
    };
    let mut request = smartpay_authorize(whole_smartpay());
    request.customer = customer();
    let filled = details(request.clone());
    assert_eq!(filled.email, "Hanako@Example.jp");
    assert_eq!(filled.phone_number, "090-1234-5678");
    assert_eq!(
        (filled.first_name.as_str(), filled.last_name.as_str()),
        ("", "佐藤 花子")
    );

    let mut own = whole_smartpay();
    own.customer = Some(v1::SmartpayCustomer {
        email: "own@example.jp".into(),
        last_name: "山田".into(),
        ..Default::default()
    });
    request.provider_details = smartpay_authorize(own).provider_details;
    let kept = details(request.clone());
    assert_eq!(
        (kept.email.as_str(), kept.last_name.as_str()),
        ("own@example.jp", "山田")
    );
    assert_eq!(kept.phone_number, "090-1234-5678");

    let mut without = whole_smartpay();
    without.customer = None;
    request.provider_details = smartpay_authorize(without).provider_details;
    assert_eq!(details(request.clone()).email, "Hanako@Example.jp");
    request.customer = None;
    assert_eq!(smartpay_fields(request), ["smartpay.customer"]);
}

#[test]
fn search_filters_are_folded_and_bad_ones_named() {
    let r = v1::ListOrdersRequest {
        customer_email: " Hanako@EXAMPLE ".into(),
        customer_name: "ＳＡＴＯ Hanako".into(),
        query: "Cart 7".into(),
        ..Default::default()
    };
    let cmd = ListOrdersCommand::try_from(r).unwrap();
    let terms: Vec<&str> = cmd.search.terms().map(|t| t.as_str()).collect();
    assert_eq!(terms, ["hanako@example", "satohanako", "cart7"]);
    let r = v1::ListOrdersRequest {
        customer_email: "x".repeat(255),
        query: "\u{1f}".into(),
        page_size: 7,
        ..Default::default()
    };
    let Err(PaymentError::Invalid(e)) = ListOrdersCommand::try_from(r) else {
        panic!("expected INVALID_ARGUMENT");
    };
    let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["customer_email", "query"]);
    assert_eq!(e.reason, Reason::InvalidArgument);
}
