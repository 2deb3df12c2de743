//! Smartpay's details, as its JTD schemas require them.

use super::*;

use crate::domain::{Amount, Customer, InvalidInput, PostalAddress, Reason};
use crate::proto::v1;
use crate::providers::smartpay::{
    SmartpayCustomer, SmartpayDetails, SmartpayFlow, SmartpayItem, SmartpayItemKind,
    SmartpayShipping,
};

/// The largest amount Smartpay's JTD schemas take (`uint32`): order,
/// item and shipping fee amounts alike.
pub(crate) const SMARTPAY_MAX_AMOUNT: i64 = u32::MAX as i64;

/// The order's amount, as Smartpay takes it: a `uint32`, and what the
/// lines the shopper is shown add up to (see [`SmartpayDetails::items_total`]).
pub(super) fn smartpay_order_amount(
    amount: i64,
    details: &SmartpayDetails,
) -> Result<(), InvalidInput> {
    if amount > SMARTPAY_MAX_AMOUNT {
        return Err(InvalidInput::new(
            Reason::InvalidAmount,
            "amount",
            format!("Smartpay takes amounts up to {SMARTPAY_MAX_AMOUNT}"),
        ));
    }
    let sum = details.items_total();
    if sum.total() == amount {
        return Ok(());
    }
    Err(InvalidInput::new(
        Reason::AmountMismatch,
        "amount",
        format!(
            "is {amount}, but the Smartpay items add up to {} (products and taxes {}, minus \
             discounts {}, plus shipping fee {}): Smartpay shows the shopper the items, so they \
             must add up to the amount",
            sum.total(),
            sum.items,
            sum.discounts,
            sum.shipping_fee
        ),
    ))
}

fn item_kind(value: i32, field: &str) -> Result<SmartpayItemKind, InvalidInput> {
    match v1::SmartpayItemKind::try_from(value) {
        Ok(v1::SmartpayItemKind::Unspecified | v1::SmartpayItemKind::Product) => {
            Ok(SmartpayItemKind::Product)
        }
        Ok(v1::SmartpayItemKind::Discount) => Ok(SmartpayItemKind::Discount),
        Ok(v1::SmartpayItemKind::Tax) => Ok(SmartpayItemKind::Tax),
        Err(_) => Err(InvalidInput::new(
            Reason::InvalidArgument,
            field,
            format!("unknown value {value}"),
        )),
    }
}

fn smartpay_amount(value: i64, field: &str) -> Result<i64, InvalidInput> {
    let amount = Amount::parse(value, field)?.get();
    if amount > SMARTPAY_MAX_AMOUNT {
        return Err(InvalidInput::new(
            Reason::InvalidAmount,
            field,
            format!("Smartpay takes amounts up to {SMARTPAY_MAX_AMOUNT}"),
        ));
    }
    Ok(amount)
}

fn smartpay_item(item: &v1::SmartpayItem, index: usize) -> Result<SmartpayItem, InvalidInput> {
    let field = format!("smartpay.items[{index}]");
    let name = text(&item.name, &format!("{field}.name"))?;
    if name.trim().is_empty() {
        return Err(InvalidInput::new(
            Reason::InvalidArgument,
            format!("{field}.name"),
            "is required",
        ));
    }
    let quantity = u32::try_from(item.quantity)
        .ok()
        .filter(|q| (1..=9_999).contains(q))
        .ok_or_else(|| {
            InvalidInput::new(
                Reason::InvalidArgument,
                format!("{field}.quantity"),
                "must be 1–9999",
            )
        })?;
    Ok(SmartpayItem {
        name,
        amount: smartpay_amount(item.amount, &format!("{field}.amount"))?,
        quantity,
        description: text(&item.description, &format!("{field}.description"))?,
        image_url: optional_url(&item.image_url, &format!("{field}.image_url"))?,
        kind: item_kind(item.kind, &format!("{field}.kind"))?,
    })
}

/// An address as Smartpay's JTD `address` definition requires it: `line1`,
/// `locality` (kessai's `city`), `postalCode` and `country`, each named when
/// missing.
fn smartpay_address(
    a: &v1::Address,
    field: &str,
    errors: &mut Vec<InvalidInput>,
) -> Option<PostalAddress> {
    let parsed = match address(a, field) {
        Ok(parsed) => parsed,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let before = errors.len();
    for (value, name) in [
        (&parsed.line1, "line1"),
        (&parsed.city, "city"),
        (&parsed.postal_code, "postal_code"),
        (&parsed.country, "country"),
    ] {
        if value.trim().is_empty() {
            errors.push(missing(format!("{field}.{name}")));
        }
    }
    (errors.len() == before).then_some(parsed)
}

/// The shopper: Smartpay's schemas require `customerInfo` (every property
/// in it is optional; an address given must be whole). The provider-neutral
/// `customer` fills what `smartpay.customer` leaves unset, or stands in for
/// it.
fn smartpay_customer(
    c: Option<&v1::SmartpayCustomer>,
    neutral: Option<&Customer>,
    errors: &mut Vec<InvalidInput>,
) -> Option<Box<SmartpayCustomer>> {
    let parsed = smartpay_customer_as_given(c, neutral.is_some(), errors);
    parsed.map(|mut customer| {
        if let Some(neutral) = neutral {
            customer.fill_unset_from(neutral);
        }
        customer
    })
}

fn smartpay_customer_as_given(
    c: Option<&v1::SmartpayCustomer>,
    neutral_given: bool,
    errors: &mut Vec<InvalidInput>,
) -> Option<Box<SmartpayCustomer>> {
    let Some(c) = c else {
        if neutral_given {
            return Some(Box::default());
        }
        errors.push(InvalidInput::new(
            Reason::InvalidArgument,
            "smartpay.customer",
            "is required by Smartpay (or give the order's `customer`)",
        ));
        return None;
    };
    let before = errors.len();
    let mut field =
        |value: &str, name: &str| match text(value, &format!("smartpay.customer.{name}")) {
            Ok(value) => value,
            Err(e) => {
                errors.push(e);
                String::new()
            }
        };
    let email = field(&c.email, "email");
    let first_name = field(&c.first_name, "first_name");
    let last_name = field(&c.last_name, "last_name");
    let first_name_kana = field(&c.first_name_kana, "first_name_kana");
    let last_name_kana = field(&c.last_name_kana, "last_name_kana");
    let phone_number = field(&c.phone_number, "phone_number");
    let date_of_birth = field(&c.date_of_birth, "date_of_birth");
    if !email.is_empty() && !email.contains('@') {
        errors.push(InvalidInput::new(
            Reason::InvalidArgument,
            "smartpay.customer.email",
            "must be an e-mail address",
        ));
    }
    let address = c
        .address
        .as_ref()
        .and_then(|a| smartpay_address(a, "smartpay.customer.address", errors));
    (errors.len() == before).then(|| {
        Box::new(SmartpayCustomer {
            email,
            first_name,
            last_name,
            first_name_kana,
            last_name_kana,
            phone_number,
            date_of_birth,
            address,
        })
    })
}

/// Where the goods go: Smartpay's schemas require `shippingInfo` with an
/// `address`.
fn smartpay_shipping(
    s: Option<&v1::SmartpayShipping>,
    errors: &mut Vec<InvalidInput>,
) -> Option<Box<SmartpayShipping>> {
    let Some(s) = s else {
        errors.push(missing("smartpay.shipping"));
        return None;
    };
    let before = errors.len();
    let fee_amount = if s.fee_amount == 0 {
        Some(0)
    } else if s.fee_amount < 0 {
        errors.push(InvalidInput::new(
            Reason::InvalidAmount,
            "smartpay.shipping.fee_amount",
            "must not be negative",
        ));
        None
    } else {
        smartpay_amount(s.fee_amount, "smartpay.shipping.fee_amount")
            .map_err(|e| errors.push(e))
            .ok()
    };
    let address = match s.address.as_ref() {
        Some(a) => smartpay_address(a, "smartpay.shipping.address", errors),
        None => {
            errors.push(missing("smartpay.shipping.address"));
            None
        }
    };
    match (fee_amount, address) {
        (Some(fee_amount), Some(address)) if errors.len() == before => {
            Some(Box::new(SmartpayShipping {
                address: Some(address),
                fee_amount,
            }))
        }
        _ => None,
    }
}

fn smartpay_flow(d: &v1::SmartpayDetails) -> Result<SmartpayFlow, InvalidInput> {
    match optional_text(&d.token, "smartpay.token")? {
        Some(token) => Ok(SmartpayFlow::Token { token }),
        None => {
            let required_url = |value: &str, field: &str| {
                optional_url(value, field)?.ok_or_else(|| {
                    InvalidInput::new(Reason::InvalidArgument, field, "is required for a checkout")
                })
            };
            let success_url = required_url(&d.success_url, "smartpay.success_url");
            let cancel_url = required_url(&d.cancel_url, "smartpay.cancel_url");
            match (success_url, cancel_url) {
                (Ok(success_url), Ok(cancel_url)) => Ok(SmartpayFlow::Checkout {
                    success_url,
                    cancel_url,
                }),
                (Err(mut a), Err(b)) => {
                    a.violations.extend(b.violations);
                    Err(a)
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        }
    }
}

/// Smartpay input, checked against what Smartpay's JTD schemas
/// (`flat-checkout-session-payload`, `token-order-payload`) require: every
/// problem is named, so one answer lists them all.
pub(super) fn smartpay_details(
    d: &v1::SmartpayDetails,
    customer: Option<&Customer>,
) -> Result<SmartpayDetails, InvalidInput> {
    let mut errors = Vec::new();
    let items = if d.items.len() > 100 {
        errors.push(InvalidInput::new(
            Reason::InvalidArgument,
            "smartpay.items",
            "at most 100 items",
        ));
        None
    } else if d.items.is_empty() {
        errors.push(InvalidInput::new(
            Reason::InvalidArgument,
            "smartpay.items",
            "a Smartpay order needs at least one item",
        ));
        None
    } else {
        let before = errors.len();
        let items: Vec<SmartpayItem> = d
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| smartpay_item(item, i).map_err(|e| errors.push(e)).ok())
            .collect();
        (errors.len() == before).then_some(items)
    };
    let flow = smartpay_flow(d).map_err(|e| errors.push(e)).ok();
    let customer = smartpay_customer(d.customer.as_ref(), customer, &mut errors);
    let shipping = smartpay_shipping(d.shipping.as_ref(), &mut errors);
    let mut all = errors.into_iter();
    if let Some(mut first) = all.next() {
        for other in all {
            first.violations.extend(other.violations);
        }
        return Err(first);
    }
    match (items, flow, customer, shipping) {
        (Some(items), Some(flow), Some(customer), Some(shipping)) => Ok(SmartpayDetails {
            flow,
            items,
            customer: Some(customer),
            shipping: Some(shipping),
        }),
        _ => Err(InvalidInput::new(
            Reason::InvalidArgument,
            "smartpay",
            "is invalid",
        )),
    }
}
