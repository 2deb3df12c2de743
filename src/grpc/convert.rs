//! Proto ⇄ domain. Requests are parsed into commands here ("parse, don't
//! validate"): every field problem is collected into one INVALID_ARGUMENT
//! with a field violation each.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::domain::card::parse_expiry;
use crate::domain::text::bounded_text;
use crate::domain::{
    Amount, CaptureMethod, CaptureRecord, CaptureStatus, CardInput, CardNumber, Currency, Cvc,
    Failure, IdempotencyKey, InvalidInput, Metadata, Money, NextAction, OrderId, OrderStatus,
    OrderView, PayjpDetails, PaymentOptionsDetails, PostalAddress, ProviderDetails, ProviderKind,
    Reason, RefundPart, RefundReason, RefundRecord, RefundStatus, SmartpayCustomer,
    SmartpayDetails, SmartpayFlow, SmartpayItem, SmartpayShipping,
};
use crate::payments::{
    AuthorizeCommand, CaptureCommand, ListOrdersCommand, PaymentError, RefundCommand, VoidCommand,
};
use crate::proto::v1;

/// Longest accepted free-text field (references, descriptions, ids of
/// provider objects).
pub const MAX_TEXT: usize = 255;
const MAX_URL: usize = 2048;
const MAX_PAGE_TOKEN: usize = 1024;

/// Gathers field problems so one answer lists them all.
#[derive(Default)]
pub(super) struct Violations(Vec<InvalidInput>);

impl Violations {
    pub(super) fn check<T>(&mut self, result: Result<T, InvalidInput>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub(super) fn finish(self) -> Result<(), PaymentError> {
        let mut all = self.0.into_iter();
        let Some(first) = all.next() else {
            return Ok(());
        };
        let mut merged = first;
        for other in all {
            merged.violations.extend(other.violations);
        }
        Err(PaymentError::Invalid(merged))
    }
}

fn text(value: &str, field: &str) -> Result<String, InvalidInput> {
    bounded_text(value, field, MAX_TEXT)
}

fn optional_text(value: &str, field: &str) -> Result<Option<String>, InvalidInput> {
    text(value, field).map(|v| (!v.is_empty()).then_some(v))
}

fn optional_url(value: &str, field: &str) -> Result<Option<String>, InvalidInput> {
    if value.is_empty() {
        return Ok(None);
    }
    let value = bounded_text(value, field, MAX_URL)?;
    match url::Url::parse(&value) {
        Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(Some(value)),
        Ok(_) | Err(_) => Err(InvalidInput::new(
            Reason::InvalidArgument,
            field,
            "must be an http(s) URL",
        )),
    }
}

fn capture_method(value: i32) -> Result<CaptureMethod, InvalidInput> {
    match v1::CaptureMethod::try_from(value) {
        Ok(v1::CaptureMethod::Unspecified | v1::CaptureMethod::Manual) => Ok(CaptureMethod::Manual),
        Ok(v1::CaptureMethod::Automatic) => Ok(CaptureMethod::Automatic),
        Err(_) => Err(InvalidInput::new(
            Reason::InvalidArgument,
            "capture_method",
            format!("unknown value {value}"),
        )),
    }
}

fn payjp_details(d: &v1::PayjpDetails) -> Result<PayjpDetails, InvalidInput> {
    let payment_method_id = optional_text(&d.payment_method_id, "payjp.payment_method_id")?;
    let customer_id = optional_text(&d.customer_id, "payjp.customer_id")?;
    // PAY.JP (the SDK's PaymentFlowCreateRequest.payment_method_id): a
    // payment method can only be used with the customer that owns it.
    if payment_method_id.is_some() && customer_id.is_none() {
        return Err(InvalidInput::new(
            Reason::InvalidArgument,
            "payjp.customer_id",
            "is required with payjp.payment_method_id: PAY.JP only accepts a payment method together with the customer that owns it",
        ));
    }
    Ok(PayjpDetails {
        payment_method_id,
        customer_id,
        return_url: optional_url(&d.return_url, "payjp.return_url")?,
        extended_authorization: d.extended_authorization,
    })
}

fn address(a: &v1::Address, field: &str) -> Result<PostalAddress, InvalidInput> {
    let country = text(&a.country, &format!("{field}.country"))?;
    if !(country.is_empty()
        || (country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase())))
    {
        return Err(InvalidInput::new(
            Reason::InvalidArgument,
            format!("{field}.country"),
            "must be an ISO 3166-1 alpha-2 code such as JP",
        ));
    }
    Ok(PostalAddress {
        line1: text(&a.line1, &format!("{field}.line1"))?,
        line2: text(&a.line2, &format!("{field}.line2"))?,
        city: text(&a.city, &format!("{field}.city"))?,
        state: text(&a.state, &format!("{field}.state"))?,
        postal_code: text(&a.postal_code, &format!("{field}.postal_code"))?,
        country,
    })
}

/// The largest amount Smartpay's JTD schemas take (`uint32`): order,
/// item and shipping fee amounts alike.
pub(crate) const SMARTPAY_MAX_AMOUNT: i64 = u32::MAX as i64;

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
    })
}

fn missing(field: impl Into<String>) -> InvalidInput {
    InvalidInput::new(Reason::InvalidArgument, field, "is required by Smartpay")
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
/// in it is optional; an address given must be whole).
fn smartpay_customer(
    c: Option<&v1::SmartpayCustomer>,
    errors: &mut Vec<InvalidInput>,
) -> Option<Box<SmartpayCustomer>> {
    let Some(c) = c else {
        errors.push(missing("smartpay.customer"));
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
fn smartpay_details(d: &v1::SmartpayDetails) -> Result<SmartpayDetails, InvalidInput> {
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
    let customer = smartpay_customer(d.customer.as_ref(), &mut errors);
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

fn paymentoptions_details(
    d: &v1::PaymentOptionsDetails,
) -> Result<PaymentOptionsDetails, PaymentError> {
    let mut v = Violations::default();
    let Some(card) = d.card.as_ref() else {
        return Err(PaymentError::Invalid(InvalidInput::new(
            Reason::InvalidCard,
            "paymentoptions.card",
            "is required",
        )));
    };
    let number = v.check(CardNumber::parse(
        &card.number,
        "paymentoptions.card.number",
    ));
    let cvc = v.check(Cvc::parse(&card.cvc, "paymentoptions.card.cvc"));
    let expiry = v.check(parse_expiry(
        card.expiry_month,
        card.expiry_year,
        "paymentoptions.card",
    ));
    let name = v.check(bounded_text(&card.name, "paymentoptions.card.name", 128));
    let customer_ip = v.check(
        optional_text(&d.customer_ip, "paymentoptions.customer_ip").and_then(|ip| match ip {
            Some(ip) if ip.parse::<std::net::IpAddr>().is_err() => Err(InvalidInput::new(
                Reason::InvalidArgument,
                "paymentoptions.customer_ip",
                "must be an IPv4 or IPv6 address",
            )),
            other => Ok(other),
        }),
    );
    let billing_address = v.check(
        d.billing_address
            .as_ref()
            .map(|a| address(a, "paymentoptions.billing_address"))
            .transpose(),
    );
    v.finish()?;
    match (number, cvc, expiry, name, customer_ip, billing_address) {
        (
            Some(number),
            Some(cvc),
            Some((exp_month, exp_year)),
            Some(name),
            Some(customer_ip),
            Some(billing_address),
        ) => Ok(PaymentOptionsDetails {
            card: CardInput {
                number,
                cvc,
                exp_month,
                exp_year,
                name: secrecy::SecretString::from(name),
            },
            customer_ip,
            billing_address,
        }),
        _ => Err(PaymentError::Internal),
    }
}

fn provider_details(
    details: &Option<v1::authorize_request::ProviderDetails>,
) -> Result<ProviderDetails, PaymentError> {
    use v1::authorize_request::ProviderDetails as P;
    match details {
        None => Err(PaymentError::Invalid(InvalidInput::new(
            Reason::MissingProviderDetails,
            "provider_details",
            "one of payjp, smartpay or paymentoptions is required: it chooses the provider",
        ))),
        Some(P::Payjp(d)) => Ok(ProviderDetails::Payjp(payjp_details(d)?)),
        Some(P::Smartpay(d)) => Ok(ProviderDetails::Smartpay(smartpay_details(d)?)),
        Some(P::Paymentoptions(d)) => Ok(ProviderDetails::PaymentOptions(Box::new(
            paymentoptions_details(d)?,
        ))),
    }
}

impl TryFrom<v1::AuthorizeRequest> for AuthorizeCommand {
    type Error = PaymentError;

    fn try_from(r: v1::AuthorizeRequest) -> Result<Self, Self::Error> {
        let mut v = Violations::default();
        let key = v.check(IdempotencyKey::parse(&r.idempotency_key));
        let amount = v.check(Amount::parse(r.amount, "amount"));
        let currency = v.check(Currency::parse(&r.currency));
        let capture_method = v.check(capture_method(r.capture_method));
        let merchant_reference = v.check(text(&r.merchant_reference, "merchant_reference"));
        let description = v.check(text(&r.description, "description"));
        let metadata = v.check(Metadata::parse(&r.metadata));
        let details = match provider_details(&r.provider_details) {
            Ok(details) => Some(details),
            Err(PaymentError::Invalid(e)) => {
                v.0.push(e);
                None
            }
            Err(other) => {
                v.finish()?;
                return Err(other);
            }
        };
        // Smartpay's schemas type the order amount `uint32`.
        if let (Some(a), Some(ProviderDetails::Smartpay(_))) = (&amount, &details)
            && a.get() > SMARTPAY_MAX_AMOUNT
        {
            v.0.push(InvalidInput::new(
                Reason::InvalidAmount,
                "amount",
                format!("Smartpay takes amounts up to {SMARTPAY_MAX_AMOUNT}"),
            ));
        }
        v.finish()?;
        match (
            key,
            amount,
            currency,
            capture_method,
            merchant_reference,
            description,
            metadata,
            details,
        ) {
            (
                Some(key),
                Some(amount),
                Some(currency),
                Some(capture_method),
                Some(merchant_reference),
                Some(description),
                Some(metadata),
                Some(details),
            ) => Ok(AuthorizeCommand {
                key,
                money: Money { amount, currency },
                capture_method,
                merchant_reference,
                description,
                metadata,
                details,
            }),
            _ => Err(PaymentError::Internal),
        }
    }
}

fn optional_amount(amount: Option<i64>) -> Result<Option<Amount>, InvalidInput> {
    amount.map(|a| Amount::parse(a, "amount")).transpose()
}

impl TryFrom<v1::CaptureRequest> for CaptureCommand {
    type Error = PaymentError;

    fn try_from(r: v1::CaptureRequest) -> Result<Self, Self::Error> {
        let mut v = Violations::default();
        let key = v.check(IdempotencyKey::parse(&r.idempotency_key));
        let order_id = v.check(OrderId::parse(&r.order_id, "order_id"));
        let amount = v.check(optional_amount(r.amount));
        let reference = v.check(text(&r.reference, "reference"));
        let description = v.check(text(&r.description, "description"));
        v.finish()?;
        match (key, order_id, amount, reference, description) {
            (Some(key), Some(order_id), Some(amount), Some(reference), Some(description)) => {
                Ok(CaptureCommand {
                    key,
                    order_id,
                    amount,
                    final_capture: r.final_capture,
                    reference,
                    description,
                })
            }
            _ => Err(PaymentError::Internal),
        }
    }
}

fn refund_reason(value: i32) -> Result<Option<RefundReason>, InvalidInput> {
    match v1::RefundReason::try_from(value) {
        Ok(v1::RefundReason::Unspecified) => Ok(None),
        Ok(v1::RefundReason::RequestedByCustomer) => Ok(Some(RefundReason::RequestedByCustomer)),
        Ok(v1::RefundReason::Fraudulent) => Ok(Some(RefundReason::Fraudulent)),
        Ok(v1::RefundReason::Duplicate) => Ok(Some(RefundReason::Duplicate)),
        Err(_) => Err(InvalidInput::new(
            Reason::InvalidArgument,
            "reason",
            format!("unknown value {value}"),
        )),
    }
}

impl TryFrom<v1::RefundRequest> for RefundCommand {
    type Error = PaymentError;

    fn try_from(r: v1::RefundRequest) -> Result<Self, Self::Error> {
        let mut v = Violations::default();
        let key = v.check(IdempotencyKey::parse(&r.idempotency_key));
        let order_id = v.check(OrderId::parse(&r.order_id, "order_id"));
        let amount = v.check(optional_amount(r.amount));
        let reason = v.check(refund_reason(r.reason));
        let reference = v.check(text(&r.reference, "reference"));
        let description = v.check(text(&r.description, "description"));
        v.finish()?;
        match (key, order_id, amount, reason, reference, description) {
            (
                Some(key),
                Some(order_id),
                Some(amount),
                Some(reason),
                Some(reference),
                Some(description),
            ) => Ok(RefundCommand {
                key,
                order_id,
                amount,
                reason,
                reference,
                description,
            }),
            _ => Err(PaymentError::Internal),
        }
    }
}

impl TryFrom<v1::VoidRequest> for VoidCommand {
    type Error = PaymentError;

    fn try_from(r: v1::VoidRequest) -> Result<Self, Self::Error> {
        let mut v = Violations::default();
        let key = v.check(IdempotencyKey::parse(&r.idempotency_key));
        let order_id = v.check(OrderId::parse(&r.order_id, "order_id"));
        v.finish()?;
        match (key, order_id) {
            (Some(key), Some(order_id)) => Ok(VoidCommand { key, order_id }),
            _ => Err(PaymentError::Internal),
        }
    }
}

pub fn order_id(value: &str) -> Result<OrderId, PaymentError> {
    Ok(OrderId::parse(value, "order_id")?)
}

fn status_filter(value: i32) -> Result<OrderStatus, InvalidInput> {
    let invalid = || {
        InvalidInput::new(
            Reason::InvalidArgument,
            "statuses",
            format!("unknown or unspecified status {value}"),
        )
    };
    match v1::OrderStatus::try_from(value).map_err(|_| invalid())? {
        v1::OrderStatus::Unspecified => Err(invalid()),
        v1::OrderStatus::RequiresAction => Ok(OrderStatus::RequiresAction),
        v1::OrderStatus::Authorized => Ok(OrderStatus::Authorized),
        v1::OrderStatus::PartiallyCaptured => Ok(OrderStatus::PartiallyCaptured),
        v1::OrderStatus::Captured => Ok(OrderStatus::Captured),
        v1::OrderStatus::Voided => Ok(OrderStatus::Voided),
        v1::OrderStatus::Expired => Ok(OrderStatus::Expired),
        v1::OrderStatus::Declined => Ok(OrderStatus::Declined),
        v1::OrderStatus::Pending => Ok(OrderStatus::Pending),
    }
}

pub(super) fn provider_filter(value: i32) -> Result<Option<ProviderKind>, InvalidInput> {
    match v1::Provider::try_from(value) {
        Ok(v1::Provider::Unspecified) => Ok(None),
        Ok(v1::Provider::Smartpay) => Ok(Some(ProviderKind::Smartpay)),
        Ok(v1::Provider::Payjp) => Ok(Some(ProviderKind::Payjp)),
        Ok(v1::Provider::Paymentoptions) => Ok(Some(ProviderKind::PaymentOptions)),
        Err(_) => Err(InvalidInput::new(
            Reason::InvalidArgument,
            "provider",
            format!("unknown value {value}"),
        )),
    }
}

fn timestamp(value: Option<Timestamp>, field: &str) -> Result<Option<DateTime<Utc>>, InvalidInput> {
    value
        .map(|t| {
            u32::try_from(t.nanos)
                .ok()
                .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
                .ok_or_else(|| {
                    InvalidInput::new(Reason::InvalidArgument, field, "is not a valid timestamp")
                })
        })
        .transpose()
}

impl TryFrom<v1::ListOrdersRequest> for ListOrdersCommand {
    type Error = PaymentError;

    fn try_from(r: v1::ListOrdersRequest) -> Result<Self, Self::Error> {
        let mut v = Violations::default();
        let statuses: Vec<Option<OrderStatus>> = r
            .statuses
            .iter()
            .map(|s| v.check(status_filter(*s)))
            .collect();
        let provider = v.check(provider_filter(r.provider));
        let merchant_reference =
            v.check(optional_text(&r.merchant_reference, "merchant_reference"));
        let created_after = v.check(timestamp(r.created_after, "created_after"));
        let created_before = v.check(timestamp(r.created_before, "created_before"));
        if r.page_token.len() > MAX_PAGE_TOKEN {
            v.0.push(InvalidInput::new(
                Reason::InvalidPageToken,
                "page_token",
                "is too long",
            ));
        }
        v.finish()?;
        Ok(ListOrdersCommand {
            statuses: statuses.into_iter().flatten().collect(),
            provider: provider.flatten(),
            merchant_reference: merchant_reference.flatten(),
            created_after: created_after.flatten(),
            created_before: created_before.flatten(),
            page_size: r.page_size,
            page_token: r.page_token,
            needs_review: r.needs_review,
        })
    }
}

// Domain → proto.

pub(super) fn ts(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn provider(kind: ProviderKind) -> v1::Provider {
    match kind {
        ProviderKind::Smartpay => v1::Provider::Smartpay,
        ProviderKind::Payjp => v1::Provider::Payjp,
        ProviderKind::PaymentOptions => v1::Provider::Paymentoptions,
    }
}

pub fn status(status: OrderStatus) -> v1::OrderStatus {
    match status {
        OrderStatus::RequiresAction => v1::OrderStatus::RequiresAction,
        OrderStatus::Authorized => v1::OrderStatus::Authorized,
        OrderStatus::PartiallyCaptured => v1::OrderStatus::PartiallyCaptured,
        OrderStatus::Captured => v1::OrderStatus::Captured,
        OrderStatus::Voided => v1::OrderStatus::Voided,
        OrderStatus::Expired => v1::OrderStatus::Expired,
        OrderStatus::Declined => v1::OrderStatus::Declined,
        OrderStatus::Pending => v1::OrderStatus::Pending,
    }
}

fn failure(f: &Failure) -> v1::Failure {
    v1::Failure {
        code: f.code.clone(),
        message: f.message.clone(),
        provider_code: f.provider_code.clone().unwrap_or_default(),
    }
}

fn refund_status(s: RefundStatus) -> v1::RefundStatus {
    match s {
        RefundStatus::Pending => v1::RefundStatus::Pending,
        RefundStatus::Succeeded => v1::RefundStatus::Succeeded,
        RefundStatus::Failed => v1::RefundStatus::Failed,
    }
}

fn capture(c: &CaptureRecord) -> v1::Capture {
    v1::Capture {
        id: c.id.to_string(),
        amount: c.amount,
        status: match c.status {
            CaptureStatus::Pending => v1::CaptureStatus::Pending,
            CaptureStatus::Succeeded => v1::CaptureStatus::Succeeded,
            CaptureStatus::Failed => v1::CaptureStatus::Failed,
        } as i32,
        final_capture: c.final_capture,
        provider_capture_id: c.provider_capture_id.clone().unwrap_or_default(),
        reference: c.reference.clone(),
        description: c.description.clone(),
        created_at: Some(ts(c.created_at)),
        failure: c.failure.as_ref().map(failure),
        amount_refunded: c.amount_refunded,
    }
}

fn refund_part(p: &RefundPart) -> v1::RefundPart {
    v1::RefundPart {
        capture_id: p.capture_id.clone().unwrap_or_default(),
        amount: p.amount,
        status: refund_status(p.status) as i32,
        provider_refund_id: p.provider_refund_id.clone().unwrap_or_default(),
    }
}

fn refund(r: &RefundRecord) -> v1::Refund {
    v1::Refund {
        id: r.id.to_string(),
        amount: r.amount,
        status: refund_status(r.status) as i32,
        reason: match r.reason {
            None => v1::RefundReason::Unspecified,
            Some(RefundReason::RequestedByCustomer) => v1::RefundReason::RequestedByCustomer,
            Some(RefundReason::Fraudulent) => v1::RefundReason::Fraudulent,
            Some(RefundReason::Duplicate) => v1::RefundReason::Duplicate,
        } as i32,
        reference: r.reference.clone(),
        description: r.description.clone(),
        parts: r.parts.iter().map(refund_part).collect(),
        created_at: Some(ts(r.created_at)),
        failure: r.failure.as_ref().map(failure),
    }
}

impl From<&OrderView> for v1::Order {
    fn from(view: &OrderView) -> Self {
        let o = &view.order;
        v1::Order {
            id: o.id.to_string(),
            provider: provider(o.provider) as i32,
            provider_order_id: o.provider_order_id.clone().unwrap_or_default(),
            merchant_reference: o.merchant_reference.clone(),
            status: status(o.state.status()) as i32,
            currency: o.currency.code().to_owned(),
            amount: o.state.amount,
            amount_authorized: o.state.authorized,
            amount_captured: o.state.captured,
            amount_refunded: o.state.refunded,
            amount_capturable: o.state.capturable(),
            captures: view.captures.iter().map(capture).collect(),
            refunds: view.refunds.iter().map(refund).collect(),
            created_at: Some(ts(o.created_at)),
            updated_at: Some(ts(o.updated_at)),
            expires_at: o.state.expires_at.map(ts),
            next_action: o.next_action.as_ref().map(|a| v1::NextAction {
                action: Some(match a {
                    NextAction::RedirectUrl(url) => {
                        v1::next_action::Action::RedirectUrl(url.clone())
                    }
                    NextAction::ClientSecret(secret) => {
                        v1::next_action::Action::ClientSecret(secret.clone())
                    }
                }),
            }),
            failure: o.failure.as_ref().map(failure),
            livemode: o.livemode,
            metadata: o
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            capture_method: match o.capture_method {
                CaptureMethod::Manual => v1::CaptureMethod::Manual,
                CaptureMethod::Automatic => v1::CaptureMethod::Automatic,
            } as i32,
            description: o.description.clone(),
            card: o.card.as_ref().map(|c| v1::CardSummary {
                bin: c.bin.clone(),
                last4: c.last4.clone(),
                brand: c.brand.clone().unwrap_or_default(),
                expiry_month: c.exp_month,
                expiry_year: c.exp_year,
            }),
            needs_review: o.needs_review,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn whole_smartpay() -> v1::SmartpayDetails {
        v1::SmartpayDetails {
            items: vec![item()],
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
}

#[cfg(test)]
#[path = "convert_fuzz.rs"]
mod fuzz;
