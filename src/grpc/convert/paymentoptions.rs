//! PaymentOptions' details: the card, parsed and never echoed.

use super::*;

use crate::domain::card::parse_expiry;
use crate::domain::text::bounded_text;
use crate::domain::{CardInput, CardNumber, Cvc, InvalidInput, Reason};
use crate::payments::PaymentError;
use crate::proto::v1;
use crate::providers::paymentoptions::PaymentOptionsDetails;

pub(super) fn paymentoptions_details(
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
