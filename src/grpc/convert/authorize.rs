//! AuthorizeRequest → AuthorizeCommand; each provider's details in its own
//! file beside this one.

use super::payjp::payjp_details;
use super::paymentoptions::paymentoptions_details;
use super::smartpay::{smartpay_details, smartpay_order_amount};
use super::*;

use crate::domain::{
    Amount, CaptureMethod, Currency, Customer, IdempotencyKey, InvalidInput, Metadata, Money,
    Reason,
};
use crate::payments::{AuthorizeCommand, PaymentError};
use crate::proto::v1;
use crate::providers::ProviderDetails;

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

fn customer(c: Option<&v1::Customer>) -> Result<Option<Customer>, InvalidInput> {
    c.map_or(Ok(None), |c| {
        Customer::parse(&c.email, &c.name, &c.phone, "customer")
    })
}

/// The provider's input; `customer` fills in what a provider that takes
/// one (Smartpay) was not told of the shopper.
fn provider_details(
    details: &Option<v1::authorize_request::ProviderDetails>,
    customer: Option<&Customer>,
) -> Result<ProviderDetails, PaymentError> {
    use v1::authorize_request::ProviderDetails as P;
    match details {
        None => Err(PaymentError::Invalid(InvalidInput::new(
            Reason::MissingProviderDetails,
            "provider_details",
            "one of payjp, smartpay or paymentoptions is required: it chooses the provider",
        ))),
        Some(P::Payjp(d)) => Ok(ProviderDetails::Payjp(payjp_details(d)?)),
        Some(P::Smartpay(d)) => Ok(ProviderDetails::Smartpay(smartpay_details(d, customer)?)),
        Some(P::Paymentoptions(d)) => Ok(ProviderDetails::PaymentOptions(Box::new(
            paymentoptions_details(d)?,
        ))),
        #[cfg(feature = "example-provider")]
        Some(P::Example(d)) => Ok(ProviderDetails::Example(super::example::example_details(
            d,
        )?)),
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
        let customer = v.check(customer(r.customer.as_ref()));
        let details = match provider_details(
            &r.provider_details,
            customer.as_ref().and_then(Option::as_ref),
        ) {
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
        if let (Some(a), Some(ProviderDetails::Smartpay(d))) = (&amount, &details) {
            v.check(smartpay_order_amount(a.get(), d));
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
            customer,
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
                Some(customer),
                Some(details),
            ) => Ok(AuthorizeCommand {
                key,
                money: Money { amount, currency },
                capture_method,
                merchant_reference,
                description,
                metadata,
                customer,
                details,
            }),
            _ => Err(PaymentError::Internal),
        }
    }
}
