//! The Authorize command, and the replay kept with its provider call so
//! reconciliation can send it again after a lost answer.

use serde_json::json;

use crate::domain::{CaptureMethod, Customer, IdempotencyKey, Metadata, Money, ProviderKind};
use crate::providers::ProviderDetails;

#[derive(Debug, Clone)]
pub struct AuthorizeCommand {
    pub key: IdempotencyKey,
    pub money: Money,
    pub capture_method: CaptureMethod,
    pub merchant_reference: String,
    pub description: String,
    pub metadata: Metadata,
    /// The shopper, kept with the order. Not part of the replay: a resent
    /// authorization only reaches the provider, whose details already
    /// carry what it was given of the customer.
    pub customer: Option<Customer>,
    pub details: ProviderDetails,
}

/// What reconciliation needs to send an authorization again after its
/// answer was lost, with the provider's own input under its name (each
/// provider decides what it keeps: never card data, and nothing for
/// PaymentOptions, which is never resent).
#[derive(serde::Serialize, serde::Deserialize)]
struct Replay {
    amount: i64,
    currency: String,
    capture_method: String,
    merchant_reference: String,
    description: String,
    metadata: crate::domain::Metadata,
    #[serde(flatten)]
    details: serde_json::Map<String, serde_json::Value>,
}

impl AuthorizeCommand {
    pub(in crate::payments) fn replay_data(&self) -> serde_json::Value {
        let Some((provider, details)) = self.details.replay() else {
            return json!({});
        };
        let replay = Replay {
            amount: self.money.amount.get(),
            currency: self.money.currency.code().to_owned(),
            capture_method: self.capture_method.as_str().to_owned(),
            merchant_reference: self.merchant_reference.clone(),
            description: self.description.clone(),
            metadata: self.metadata.clone(),
            details: [(provider.to_owned(), details)].into_iter().collect(),
        };
        json!({ "replay": replay })
    }

    /// The command to send again, from an attempt's stored request.
    pub(in crate::payments) fn from_replay(data: &serde_json::Value) -> Option<Self> {
        let replay: Replay = serde_json::from_value(data.get("replay")?.clone()).ok()?;
        let mut kept = replay
            .details
            .into_iter()
            .filter(|(_, value)| !value.is_null())
            .filter_map(|(name, value)| Some((ProviderKind::parse(&name)?, value)));
        let (provider, value) = kept.next()?;
        if kept.next().is_some() {
            return None;
        }
        let details = ProviderDetails::from_replay(provider, value)?;
        Some(AuthorizeCommand {
            key: IdempotencyKey::parse("reconciliation").ok()?,
            money: Money {
                amount: crate::domain::Amount::parse(replay.amount, "amount").ok()?,
                currency: crate::domain::Currency::parse(&replay.currency).ok()?,
            },
            capture_method: CaptureMethod::parse(&replay.capture_method)?,
            merchant_reference: replay.merchant_reference,
            description: replay.description,
            metadata: replay.metadata,
            customer: None,
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::payjp::PayjpDetails;

    /// Attempts stored before a restart are read by the next version: the
    /// provider's input under its name, the others null.
    #[test]
    fn a_stored_replay_reads_back_as_the_command_it_was() {
        let stored = json!({ "replay": {
            "amount": 1200, "currency": "JPY", "capture_method": "manual",
            "merchant_reference": "ref-1", "description": "", "metadata": {},
            "payjp": { "payment_method_id": "pm_1", "customer_id": "cus_1",
                       "return_url": null, "extended_authorization": true },
            "smartpay": null
        }});
        let cmd = AuthorizeCommand::from_replay(&stored).expect("a replay");
        let ProviderDetails::Payjp(details) = &cmd.details else {
            panic!("{:?}", cmd.details);
        };
        assert_eq!(
            details,
            &PayjpDetails {
                payment_method_id: Some("pm_1".into()),
                customer_id: Some("cus_1".into()),
                return_url: None,
                extended_authorization: true,
            }
        );
        assert_eq!(cmd.money.amount.get(), 1200);
        let again = AuthorizeCommand::from_replay(&cmd.replay_data()).expect("round trip");
        assert_eq!(again.details, cmd.details);
    }

    #[test]
    fn a_replay_naming_two_providers_or_none_is_not_resent() {
        let base = json!({ "amount": 1, "currency": "JPY", "capture_method": "manual",
            "merchant_reference": "", "description": "", "metadata": {} });
        let mut none = base.clone();
        none["smartpay"] = serde_json::Value::Null;
        assert!(AuthorizeCommand::from_replay(&json!({ "replay": none })).is_none());
        let mut two = base;
        two["payjp"] = json!({ "payment_method_id": null, "customer_id": null,
            "return_url": null, "extended_authorization": false });
        two["smartpay"] = json!({ "flow": { "flow": "token", "token": "t" },
            "items": [], "customer": null, "shipping": null });
        assert!(AuthorizeCommand::from_replay(&json!({ "replay": two })).is_none());
    }
}
