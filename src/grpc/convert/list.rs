//! ListOrders request → command.

use super::*;
use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::domain::{InvalidInput, OrderSearch, OrderStatus, ProviderKind, Reason};
use crate::payments::{ListOrdersCommand, PaymentError};
use crate::proto::v1;

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

pub(in crate::grpc) fn provider_filter(value: i32) -> Result<Option<ProviderKind>, InvalidInput> {
    match v1::Provider::try_from(value) {
        Ok(v1::Provider::Unspecified) => Ok(None),
        Ok(v1::Provider::Smartpay) => Ok(Some(ProviderKind::Smartpay)),
        Ok(v1::Provider::Payjp) => Ok(Some(ProviderKind::Payjp)),
        Ok(v1::Provider::Paymentoptions) => Ok(Some(ProviderKind::PaymentOptions)),
        #[cfg(feature = "example-provider")]
        Ok(v1::Provider::Example) => Ok(Some(ProviderKind::Example)),
        Err(_) => Err(InvalidInput::new(
            Reason::InvalidArgument,
            "provider",
            format!("unknown value {value}"),
        )),
    }
}

/// `google.protobuf.Timestamp`'s own range, 0001-01-01 to 9999-12-31: it
/// also keeps every value inside what both databases can compare.
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

fn timestamp(value: Option<Timestamp>, field: &str) -> Result<Option<DateTime<Utc>>, InvalidInput> {
    value
        .map(|t| {
            u32::try_from(t.nanos)
                .ok()
                .filter(|nanos| *nanos < 1_000_000_000 && TIMESTAMP_SECONDS.contains(&t.seconds))
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
        let search = v.check(OrderSearch::parse(
            &r.customer_email,
            &r.customer_name,
            &r.query,
        ));
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
            search: search.unwrap_or_default(),
            soonest_expiry: false,
        })
    }
}

// Domain → proto.
