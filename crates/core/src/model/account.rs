//! Accounts as the app shows them: who is signed in and for which provider.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

use super::TenantId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A superadmin sees every provider and picks one to act on; an admin
/// belongs to one provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Superadmin,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Superadmin => "superadmin",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "superadmin" => Some(Role::Superadmin),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An e-mail address as accounts use it: trimmed, lowercase, one `@` with
/// something on each side and a dot in the domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("e-mail inválido: {0:?}")]
pub struct InvalidEmail(pub String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, InvalidEmail> {
        let email = raw.trim().to_lowercase();
        let valid = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && email.len() <= 254
                    && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if valid {
            Ok(Email(email))
        } else {
            Err(InvalidEmail(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidEmail;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// The admin's provider; `None` for a superadmin.
    pub tenant_id: Option<TenantId>,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    #[serde(with = "super::instant")]
    pub created_at: DateTime<Utc>,
}

/// An API token as its owner sees it (never the token itself, which is
/// shown once, when created).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenInfo {
    pub id: Uuid,
    pub name: String,
    pub tenant_id: Option<TenantId>,
    #[serde(with = "super::instant")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "super::instant::option", default)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(with = "super::instant::option", default)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// `None`: valid until revoked.
    #[serde(with = "super::instant::option", default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Past `expires_at` when it was listed (the pages cannot tell the
    /// time the same way on server and browser).
    #[serde(default)]
    pub expired: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ana@Provedor.com.br ").unwrap().as_str(),
            "ana@provedor.com.br"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.com",
            "ana@local",
            "a b@x.com",
            "a@x.com.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
