//! Talking to a provider's SGP: its address, credentials, documents, the
//! customers it sends, and the client that fetches them.

pub mod auth;
pub mod base_url;
pub mod client;
pub mod customer;
pub mod document;
pub mod error;
pub mod key;
pub mod wire;

pub use auth::SgpAuth;
pub use base_url::{BaseUrlError, SgpBaseUrl};
pub use client::{
    item_budget, parse_page, CustomerPage, CustomerQuery, RetryNotice, SgpClient, SgpClientConfig,
    MAX_PAGE_ITEMS, PAGE_SIZE,
};
pub use customer::{ContractStatus, RowError, SgpContract, SgpCustomer};
pub use document::{CpfCnpj, DocumentError};
pub use error::SgpError;
pub use key::{KeyError, SgpKey};
