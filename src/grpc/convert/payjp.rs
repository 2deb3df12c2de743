//! PAY.JP's details.

use super::*;

use crate::domain::{InvalidInput, Reason};
use crate::proto::v1;
use crate::providers::payjp::PayjpDetails;

pub(super) fn payjp_details(d: &v1::PayjpDetails) -> Result<PayjpDetails, InvalidInput> {
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
