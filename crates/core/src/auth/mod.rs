//! Accounts: password hashing, session and API tokens, login with
//! throttling, and who is calling ([`Principal`]).

mod password;
mod service;
mod token;

pub use password::{
    hash_password, verify_password, PasswordError, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN,
};
pub use service::{
    AccountError, AuthService, Credential, LoginError, LoginSuccess, NewAccount, Principal,
    TokenError, DEAD_API_TOKENS_KEPT, MAX_API_TOKENS_A_DAY, MAX_LIVE_API_TOKENS,
};
pub use token::{hash_token, new_token};
