//! Authorize: the amount and currency against the provider's limits.

use crate::domain::error::{InvalidInput, Reason};
use crate::domain::money::Money;
use crate::domain::rules::ProviderRules;

/// Checks an Authorize amount and currency against the provider's limits.
pub fn check_authorize(rules: &ProviderRules, money: Money) -> Result<(), InvalidInput> {
    let provider = rules.provider;
    if !rules.accepts_currency(money.currency.code()) {
        return Err(InvalidInput::new(
            Reason::InvalidCurrency,
            "currency",
            format!(
                "{provider} accepts only {}, got {}",
                rules.currencies.join(", "),
                money.currency
            ),
        ));
    }
    let amount = money.amount.get();
    if amount < rules.min_amount || amount > rules.max_amount {
        return Err(InvalidInput::new(
            Reason::InvalidAmount,
            "amount",
            format!(
                "{provider} authorizes {}–{} {}, got {amount}",
                rules.min_amount, rules.max_amount, money.currency
            ),
        ));
    }
    Ok(())
}
