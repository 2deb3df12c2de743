pub mod clock;
pub mod domain;
