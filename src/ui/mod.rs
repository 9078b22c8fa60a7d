//! Pages and the components they share.

pub mod account;
pub mod format;
pub mod layout;
pub mod login;
pub mod not_found;
pub mod overview;
pub mod pending;
