//! Arbitrary requests through validation: each one is a command or an
//! INVALID_ARGUMENT naming its fields, never a panic, never an internal
//! error, and no card number or CVC comes back in the answer.

use std::collections::HashMap;

use proptest::prelude::*;
use prost_types::Timestamp;

use super::*;
use crate::payments::{
    AuthorizeCommand, CaptureCommand, ListOrdersCommand, PaymentError, RefundCommand, VoidCommand,
};
use crate::proto::v1::authorize_request::ProviderDetails as P;

const PAN: &str = "4242424242424242";
const CVC: &str = "987";

/// Strings as callers send them, the hostile ones included.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => Just(String::new()),
        6 => "[a-zA-Z0-9_-]{1,24}",
        1 => ".{0,40}",
        1 => "[\\x00-\\x1f\\u{7f}\\u{202e}\\u{feff}]{1,4}",
        1 => ".{250,300}",
        3 => Just("https://shop.example/return".to_owned()),
        1 => Just("http://[::1]:99999/x".to_owned()),
        1 => Just("javascript:alert(1)".to_owned()),
    ]
    .boxed()
}

fn number() -> BoxedStrategy<i64> {
    prop_oneof![
        1 => any::<i64>(),
        1 => Just(0i64),
        1 => Just(-1i64),
        8 => 1i64..100_000,
        1 => Just(crate::domain::Amount::MAX),
        1 => Just(crate::domain::Amount::MAX + 1),
    ]
    .boxed()
}

fn small() -> BoxedStrategy<i32> {
    prop_oneof![1 => any::<i32>(), 3 => 0i32..13, 3 => 2020i32..2040, 1 => -2i32..40].boxed()
}

fn address() -> BoxedStrategy<Option<v1::Address>> {
    proptest::option::of((text(), text(), text(), text(), text(), text()).prop_map(
        |(line1, line2, city, state, postal_code, country)| v1::Address {
            line1,
            line2,
            city,
            state,
            postal_code,
            country,
        },
    ))
    .boxed()
}

fn card() -> BoxedStrategy<Option<v1::Card>> {
    let pan = prop_oneof![4 => Just(PAN.to_owned()), 1 => "[0-9 -]{0,25}", 1 => text()];
    let cvc = prop_oneof![4 => Just(CVC.to_owned()), 1 => "[0-9]{0,6}", 1 => text()];
    proptest::option::of((pan, cvc, small(), small(), text()).prop_map(
        |(number, cvc, expiry_month, expiry_year, name)| v1::Card {
            number,
            cvc,
            expiry_month,
            expiry_year,
            name,
        },
    ))
    .boxed()
}

fn item() -> BoxedStrategy<v1::SmartpayItem> {
    (text(), number(), small(), text(), text(), small())
        .prop_map(
            |(name, amount, quantity, description, image_url, kind)| v1::SmartpayItem {
                name,
                amount,
                quantity,
                description,
                image_url,
                kind,
            },
        )
        .boxed()
}

fn customer() -> BoxedStrategy<Option<v1::SmartpayCustomer>> {
    proptest::option::of(
        (
            (text(), text(), text(), text()),
            (text(), text(), text(), address()),
        )
            .prop_map(
                |(
                    (email, first_name, last_name, first_name_kana),
                    (last_name_kana, phone_number, date_of_birth, address),
                )| v1::SmartpayCustomer {
                    email,
                    first_name,
                    last_name,
                    first_name_kana,
                    last_name_kana,
                    phone_number,
                    date_of_birth,
                    address,
                },
            ),
    )
    .boxed()
}

fn details() -> BoxedStrategy<Option<P>> {
    let payjp = (text(), text(), text(), any::<bool>()).prop_map(
        |(payment_method_id, customer_id, return_url, extended_authorization)| {
            P::Payjp(v1::PayjpDetails {
                payment_method_id,
                customer_id,
                return_url,
                extended_authorization,
            })
        },
    );
    let shipping = proptest::option::of((address(), number()).prop_map(|(address, fee_amount)| {
        v1::SmartpayShipping {
            address,
            fee_amount,
        }
    }));
    let smartpay = (
        proptest::collection::vec(item(), 0..4),
        text(),
        text(),
        text(),
        customer(),
        shipping,
    )
        .prop_map(
            |(items, success_url, cancel_url, token, customer, shipping)| {
                P::Smartpay(v1::SmartpayDetails {
                    items,
                    success_url,
                    cancel_url,
                    token,
                    customer,
                    shipping,
                })
            },
        );
    let paymentoptions = (card(), text(), address()).prop_map(|(card, customer_ip, billing)| {
        P::Paymentoptions(v1::PaymentOptionsDetails {
            card,
            customer_ip,
            billing_address: billing,
        })
    });
    proptest::option::of(prop_oneof![payjp, smartpay, paymentoptions]).boxed()
}

fn metadata() -> BoxedStrategy<HashMap<String, String>> {
    proptest::collection::hash_map(text(), text(), 0..6).boxed()
}

/// Requests a caller could send in good faith: each must be accepted.
fn valid_details() -> BoxedStrategy<Option<P>> {
    let url = || {
        prop_oneof![
            Just(String::new()),
            Just("https://shop.example/done".to_owned())
        ]
    };
    let payjp = ("(pm_[a-z0-9]{8})?", url(), any::<bool>()).prop_map(
        |(payment_method_id, return_url, extended_authorization)| {
            // PAY.JP takes a payment method only with its customer.
            let customer_id = if payment_method_id.is_empty() {
                String::new()
            } else {
                "cus_test_kessai".to_owned()
            };
            P::Payjp(v1::PayjpDetails {
                payment_method_id,
                customer_id,
                return_url,
                extended_authorization,
            })
        },
    );
    // Products and taxes: with a discount the lines could add up to nothing.
    let kind = prop_oneof![
        Just(v1::SmartpayItemKind::Unspecified),
        Just(v1::SmartpayItemKind::Product),
        Just(v1::SmartpayItemKind::Tax)
    ];
    let item = ("[a-zA-Z]{1,12}", 1i64..50_000, 1i32..20, kind).prop_map(
        |(name, amount, quantity, kind)| v1::SmartpayItem {
            name,
            amount,
            quantity,
            description: String::new(),
            image_url: String::new(),
            kind: kind as i32,
        },
    );
    let smartpay = (
        proptest::collection::vec(item, 1..4),
        "(tok_[a-z0-9]{8})?",
        proptest::option::of(0i64..1_000),
    )
        .prop_map(|(items, token, fee)| {
            P::Smartpay(v1::SmartpayDetails {
                items,
                success_url: "https://shop.example/ok".into(),
                cancel_url: "https://shop.example/cancel".into(),
                token,
                customer: Some(v1::SmartpayCustomer {
                    email: "shopper@example.jp".into(),
                    ..Default::default()
                }),
                shipping: Some(v1::SmartpayShipping {
                    address: Some(v1::Address {
                        line1: "1-2-3".into(),
                        city: "Shibuya".into(),
                        postal_code: "150-0002".into(),
                        country: "JP".into(),
                        ..Default::default()
                    }),
                    fee_amount: fee.unwrap_or_default(),
                }),
            })
        });
    let card = (
        prop_oneof![
            Just(PAN),
            Just("4111111111111111"),
            Just("5200000000001005")
        ],
        prop_oneof![Just(CVC), Just("1234")],
        1i32..=12,
        2031i32..2040,
    )
        .prop_map(|(number, cvc, expiry_month, expiry_year)| v1::Card {
            number: number.to_owned(),
            cvc: cvc.to_owned(),
            expiry_month,
            expiry_year,
            name: "TARO YAMADA".into(),
        });
    let paymentoptions = (
        card,
        prop_oneof![Just(""), Just("203.0.113.7"), Just("2001:db8::1")],
    )
        .prop_map(|(card, ip)| {
            P::Paymentoptions(v1::PaymentOptionsDetails {
                card: Some(card),
                customer_ip: ip.to_owned(),
                billing_address: None,
            })
        });
    prop_oneof![payjp, smartpay, paymentoptions]
        .prop_map(Some)
        .boxed()
}

fn valid_customer() -> BoxedStrategy<Option<v1::Customer>> {
    proptest::option::of(
        (
            "([a-z.]{1,12}@[a-z]{1,8}\\.jp)?",
            "[a-zA-Z 山田花子]{0,20}",
            "([0-9]{2,4}[0-9 +-]{0,10})?",
        )
            .prop_map(|(email, name, phone)| v1::Customer { email, name, phone }),
    )
    .boxed()
}

fn valid_authorize_request() -> BoxedStrategy<v1::AuthorizeRequest> {
    (
        ("[a-zA-Z0-9_-]{1,40}", 1i64..10_000_000, 0i32..=2),
        (
            "[a-zA-Z0-9 ]{0,20}",
            proptest::collection::hash_map("[a-z]{1,8}", "[a-z0-9]{0,10}", 0..3),
            "[a-zA-Z0-9 ]{0,20}",
        ),
        valid_details(),
        valid_customer(),
    )
        .prop_map(
            |(
                (idempotency_key, amount, capture_method),
                (merchant_reference, metadata, description),
                provider_details,
                customer,
            )| v1::AuthorizeRequest {
                idempotency_key,
                // A Smartpay order's amount is what its lines add up to.
                amount: match &provider_details {
                    Some(P::Smartpay(d)) => {
                        d.items
                            .iter()
                            .map(|i| i.amount * i64::from(i.quantity))
                            .sum::<i64>()
                            + d.shipping.as_ref().map_or(0, |s| s.fee_amount)
                    }
                    _ => amount,
                },
                currency: "JPY".into(),
                capture_method,
                merchant_reference,
                metadata,
                description,
                customer,
                provider_details,
            },
        )
        .boxed()
}

fn hostile_authorize_request() -> BoxedStrategy<v1::AuthorizeRequest> {
    // Random rather than `text()`'s fixed strings, which other fields
    // quote in their refusals.
    let field = || {
        prop_oneof![
            2 => Just(String::new()),
            3 => "[a-z0-9.+-]{0,20}@?[a-z0-9.]{0,12}",
            1 => ".{0,40}",
            1 => "[\\x00-\\x1f\\u{7f}]{1,4}",
            1 => ".{250,300}",
        ]
    };
    let customer = proptest::option::of(
        (field(), field(), field()).prop_map(|(email, name, phone)| v1::Customer {
            email,
            name,
            phone,
        }),
    );
    (
        (text(), number(), text()),
        (small(), text(), metadata(), text()),
        details(),
        customer,
    )
        .prop_map(
            |(
                (idempotency_key, amount, currency),
                (capture_method, merchant_reference, metadata, description),
                provider_details,
                customer,
            )| v1::AuthorizeRequest {
                idempotency_key,
                amount,
                currency,
                capture_method,
                merchant_reference,
                metadata,
                description,
                customer,
                provider_details,
            },
        )
        .boxed()
}

fn take<T>(swap: bool, field: &mut T, hostile: T) {
    if swap {
        *field = hostile;
    }
}

/// A good-faith request with some fields replaced by hostile ones, and
/// whether any was.
fn authorize_request() -> BoxedStrategy<(v1::AuthorizeRequest, bool)> {
    (
        valid_authorize_request(),
        hostile_authorize_request(),
        proptest::collection::vec(proptest::bool::weighted(0.15), 9),
    )
        .prop_map(|(mut good, bad, swap)| {
            let v1::AuthorizeRequest {
                idempotency_key,
                amount,
                currency,
                capture_method,
                merchant_reference,
                metadata,
                description,
                customer,
                provider_details,
            } = bad;
            take(swap[0], &mut good.idempotency_key, idempotency_key);
            take(swap[1], &mut good.amount, amount);
            take(swap[2], &mut good.currency, currency);
            take(swap[3], &mut good.capture_method, capture_method);
            take(swap[4], &mut good.merchant_reference, merchant_reference);
            take(swap[5], &mut good.metadata, metadata);
            take(swap[6], &mut good.description, description);
            take(swap[7], &mut good.provider_details, provider_details);
            take(swap[8], &mut good.customer, customer);
            (good, swap.contains(&true))
        })
        .boxed()
}

/// What the caller is told must not repeat the card it sent.
fn leaks_no_card(status: &tonic::Status) -> bool {
    let told = format!("{status:?}");
    !told.contains(PAN) && !told.contains(&format!("cvc: {CVC}"))
}

fn invalid_or_ok<T>(result: Result<T, PaymentError>) -> Result<Option<T>, TestCaseError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(PaymentError::Invalid(invalid)) => {
            prop_assert!(!invalid.violations.is_empty());
            for violation in &invalid.violations {
                prop_assert!(!violation.field.is_empty());
                prop_assert!(!violation.description.contains(PAN));
            }
            let status = tonic::Status::from(PaymentError::Invalid(invalid));
            prop_assert_eq!(status.code(), tonic::Code::InvalidArgument);
            prop_assert!(leaks_no_card(&status));
            Ok(None)
        }
        Err(other) => Err(TestCaseError::fail(format!(
            "validation answered {other:?}, not a value or INVALID_ARGUMENT"
        ))),
    }
}

proptest! {
    #[test]
    fn any_authorize_request_is_a_command_or_names_its_bad_fields((request, tampered) in authorize_request()) {
        let answer = AuthorizeCommand::try_from(request.clone());
        // A refusal names the customer's fields, never repeats them.
        if let (Err(PaymentError::Invalid(invalid)), Some(c)) = (&answer, &request.customer) {
            let told = format!("{invalid}");
            for given in [&c.email, &c.name, &c.phone] {
                prop_assert!(given.trim().chars().count() < 12 || !told.contains(given.trim()), "{} in {}", given, told);
            }
        }
        let accepted = invalid_or_ok(answer)?;
        prop_assert!(tampered || accepted.is_some(), "a good-faith request was refused: {:?}", request);
        if let Some(command) = accepted {
            prop_assert!((1..=crate::domain::Amount::MAX).contains(&command.money.amount.get()));
            let printed = format!("{command:?}");
            prop_assert!(!printed.contains(PAN));
        }
    }

    #[test]
    fn any_capture_refund_or_void_request_is_a_command_or_names_its_bad_fields(
        key in text(),
        order_id in prop_oneof![text(), Just("ord_01JDQ0000000000000000000".to_owned())],
        amount in proptest::option::of(number()),
        final_capture: bool,
        reason in small(),
        reference in text(),
        description in text(),
    ) {
        let capture = v1::CaptureRequest {
            idempotency_key: key.clone(),
            order_id: order_id.clone(),
            amount,
            final_capture,
            reference: reference.clone(),
            description: description.clone(),
        };
        if let Some(command) = invalid_or_ok(CaptureCommand::try_from(capture))? {
            prop_assert!(command.amount.is_none_or(|a| a.get() > 0));
        }
        let refund = v1::RefundRequest {
            idempotency_key: key.clone(),
            order_id: order_id.clone(),
            amount,
            reason,
            reference,
            description,
        };
        invalid_or_ok(RefundCommand::try_from(refund))?;
        invalid_or_ok(VoidCommand::try_from(v1::VoidRequest { idempotency_key: key, order_id }))?;
    }

    #[test]
    fn any_list_request_is_a_query_or_names_its_bad_fields(
        statuses in proptest::collection::vec(small(), 0..4),
        provider in small(),
        merchant_reference in text(),
        after in proptest::option::of((any::<i64>(), any::<i32>())),
        before in proptest::option::of((any::<i64>(), any::<i32>())),
        page_size in small(),
        page_token in text(),
        needs_review: bool,
        (customer_email, customer_name, query) in (text(), text(), text()),
    ) {
        let stamp = |t: Option<(i64, i32)>| t.map(|(seconds, nanos)| Timestamp { seconds, nanos });
        let request = v1::ListOrdersRequest {
            statuses,
            provider,
            merchant_reference,
            created_after: stamp(after),
            created_before: stamp(before),
            page_size,
            page_token,
            needs_review,
            customer_email,
            customer_name,
            query,
        };
        if let Some(query) = invalid_or_ok(ListOrdersCommand::try_from(request))? {
            prop_assert!(query.search.terms().all(|t| !t.as_str().is_empty()));
            // The page size and the cursor are checked by the use case.
            if let Some(size) = invalid_or_ok(query.page_size().map_err(PaymentError::Invalid))? {
                prop_assert!((1..=crate::payments::MAX_PAGE_SIZE).contains(&size));
            }
            invalid_or_ok(query.cursor(b"fuzzing key, sixteen bytes+").map_err(PaymentError::Invalid))?;
        }
    }
}
