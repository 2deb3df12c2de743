//! The example provider's details.

use super::*;

use crate::providers::example::ExampleDetails;

pub(super) fn example_details(d: &v1::ExampleDetails) -> Result<ExampleDetails, InvalidInput> {
    let card_token = text(&d.card_token, "example.card_token")?;
    if card_token.is_empty() {
        return Err(InvalidInput::new(
            Reason::InvalidArgument,
            "example.card_token",
            "is required: the token the example provider's card form made",
        ));
    }
    Ok(ExampleDetails { card_token })
}
