pub mod clock;
pub mod domain;
pub mod providers;
pub mod sandbox;
pub mod store;
