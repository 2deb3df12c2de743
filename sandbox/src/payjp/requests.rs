//! The bodies of the operations that create or change something, parsed.

use serde_json::{Map, Value};

use super::books::Flow;
use super::errors::ApiError;
use super::input::Input;
use super::{
    CAPTURE_METHODS, CURRENCIES, MAX_AMOUNT, MIN_AMOUNT, PAYMENT_METHOD_TYPES, PM_UNATTACHED,
    REFUND_REASONS, SANDBOX_CUSTOMER_ID,
};

/// The message of the 422 when a payment method comes without its customer.
pub(super) const CUSTOMER_REQUIRED: &str = "Field required when payment_method_id is given";

/// Only `pm_…` ids name a payment method in this account, and a payment
/// method is usable only with the customer that owns it: the sandbox
/// customer owns every `pm_…` but `pm_test_unattached`.
pub(super) fn check_payment_method(id: &str, customer: Option<&str>) -> Result<(), ApiError> {
    if !id.starts_with("pm_") {
        // GUESS: an unknown payment method is a 404 like an unknown flow.
        return Err(ApiError::not_found("payment_method", id));
    }
    let Some(customer) = customer else {
        return Err(ApiError::field("customer_id", CUSTOMER_REQUIRED));
    };
    if customer != SANDBOX_CUSTOMER_ID || id == PM_UNATTACHED {
        return Err(ApiError::payment_method_not_owned(id, customer));
    }
    Ok(())
}

pub(super) struct CreateRequest {
    pub(super) amount: i64,
    pub(super) currency: String,
    pub(super) capture_method: String,
    pub(super) customer_id: Option<String>,
    pub(super) payment_method_id: Option<String>,
    pub(super) payment_method_types: Option<Vec<String>>,
    pub(super) payment_method_options: Option<Value>,
    pub(super) confirm: bool,
    pub(super) return_url: Option<String>,
    pub(super) include_client_secret: bool,
    pub(super) description: Option<String>,
    pub(super) metadata: Option<Map<String, Value>>,
}

impl CreateRequest {
    pub(super) fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut input = Input::new(body);
        let amount = if input.require("amount") {
            input.integer("amount", MIN_AMOUNT, MAX_AMOUNT)
        } else {
            None
        };
        let currency = input.choice("currency", CURRENCIES);
        // The seed: automatic is the default capture method.
        let capture_method = input.choice("capture_method", CAPTURE_METHODS);
        let customer_id = input.string("customer_id");
        let payment_method_id = input.string("payment_method_id");
        let payment_method_types = input.choices("payment_method_types", PAYMENT_METHOD_TYPES);
        let payment_method_options = input.payment_method_options("payment_method_options");
        let confirm = input.boolean("confirm").unwrap_or(false);
        let return_url = input.string("return_url");
        let include_client_secret = input.redirect_options("redirect_options");
        let description = input.string("description");
        let metadata = input.metadata("metadata");
        if confirm && input.get("payment_method_id").is_none() {
            input.invalid("payment_method_id", "Field required when confirm is true");
        }
        if input.get("payment_method_id").is_some() && input.get("customer_id").is_none() {
            input.invalid("customer_id", CUSTOMER_REQUIRED);
        }
        input.finish()?;
        let amount = amount.ok_or_else(|| ApiError::field("amount", "Field required"))?;
        Ok(Self {
            amount,
            currency: currency.unwrap_or_else(|| "jpy".to_owned()),
            capture_method: capture_method.unwrap_or_else(|| "automatic".to_owned()),
            customer_id,
            payment_method_id,
            payment_method_types,
            payment_method_options,
            confirm,
            return_url,
            include_client_secret,
            description,
            metadata,
        })
    }
}

/// The confirm body: the Python SDK's `PaymentFlowConfirmRequest` fields.
pub(super) struct ConfirmRequest {
    pub(super) payment_method_id: Option<String>,
    pub(super) payment_method_options: Option<Value>,
    pub(super) payment_method_types: Option<Vec<String>>,
    pub(super) capture_method: Option<String>,
    pub(super) return_url: Option<String>,
    pub(super) description: Option<String>,
}

impl ConfirmRequest {
    pub(super) fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut input = Input::new(body);
        let request = Self {
            payment_method_id: input.string("payment_method_id"),
            payment_method_options: input.payment_method_options("payment_method_options"),
            payment_method_types: input.choices("payment_method_types", PAYMENT_METHOD_TYPES),
            capture_method: input.choice("capture_method", CAPTURE_METHODS),
            return_url: input.string("return_url"),
            description: input.string("description"),
        };
        input.finish()?;
        Ok(request)
    }

    pub(super) fn apply_to(self, flow: &mut Flow) {
        if let Some(id) = self.payment_method_id {
            flow.payment_method_id = Some(id);
        }
        if let Some(options) = self.payment_method_options {
            flow.payment_method_options = Some(options);
        }
        if let Some(types) = self.payment_method_types {
            flow.payment_method_types = types;
        }
        if let Some(method) = self.capture_method {
            flow.capture_method = method;
        }
        if let Some(url) = self.return_url {
            flow.return_url = Some(url);
        }
        if let Some(description) = self.description {
            flow.description = Some(description);
        }
    }
}

pub(super) struct RefundRequest {
    pub(super) payment_flow_id: String,
    pub(super) amount: Option<i64>,
    pub(super) reason: Option<String>,
    pub(super) metadata: Option<Map<String, Value>>,
}

impl RefundRequest {
    pub(super) fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut input = Input::new(body);
        let payment_flow_id = if input.require("payment_flow_id") {
            input.string("payment_flow_id")
        } else {
            None
        };
        let amount = input.integer("amount", 1, MAX_AMOUNT);
        let reason = input.choice("reason", REFUND_REASONS);
        let metadata = input.metadata("metadata");
        input.finish()?;
        let payment_flow_id =
            payment_flow_id.ok_or_else(|| ApiError::field("payment_flow_id", "Field required"))?;
        Ok(Self {
            payment_flow_id,
            amount,
            reason,
            metadata,
        })
    }
}
