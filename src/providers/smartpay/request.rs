//! What kessai sends Smartpay: its request bodies' parts, from the order's
//! details (the shapes Smartpay's JTD schemas require).

use super::*;

fn address(a: &PostalAddress) -> Address<'_> {
    Address {
        line1: &a.line1,
        line2: &a.line2,
        locality: &a.city,
        administrative_area: &a.state,
        postal_code: &a.postal_code,
        country: &a.country,
    }
}

pub(super) fn items<'a>(details: &'a SmartpayDetails, currency: &'static str) -> Vec<Item<'a>> {
    details
        .items
        .iter()
        .map(|i| Item {
            name: &i.name,
            amount: i.amount,
            currency,
            quantity: i.quantity,
            description: some(&i.description),
            images: i.image_url.as_deref().into_iter().collect(),
            kind: i.kind.wire_name(),
        })
        .collect()
}

pub(super) fn customer(details: &SmartpayDetails) -> Option<CustomerInfo<'_>> {
    details.customer.as_ref().map(|c| CustomerInfo {
        email_address: &c.email,
        first_name: &c.first_name,
        last_name: &c.last_name,
        first_name_kana: &c.first_name_kana,
        last_name_kana: &c.last_name_kana,
        phone_number: &c.phone_number,
        date_of_birth: &c.date_of_birth,
        address: c.address.as_ref().map(address),
    })
}

/// `shippingInfo` (required by the schemas; Authorize refuses an order
/// without it, so only a request stored before that rule lacks it).
pub(super) fn shipping<'a>(
    details: &'a SmartpayDetails,
    currency: &'static str,
) -> Option<ShippingInfo<'a>> {
    details.shipping.as_ref().and_then(|s| {
        Some(ShippingInfo {
            address: address(s.address.as_ref()?),
            fee_amount: s.fee_amount,
            fee_currency: currency,
        })
    })
}
