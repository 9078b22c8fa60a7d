use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

use super::JobStatus;

/// The id of a provider (tenant). Every business row carries one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub Uuid);

#[cfg(feature = "server")]
impl TenantId {
    pub fn new() -> Self {
        TenantId(Uuid::new_v4())
    }
}

#[cfg(feature = "server")]
impl Default for TenantId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A provider's short name, used in URLs and on the command line:
/// 2 to 40 characters of lowercase letters, digits and inner hyphens.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantSlug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid provider slug {slug:?}: {reason}")]
pub struct InvalidTenantSlug {
    pub slug: String,
    pub reason: &'static str,
}

impl TenantSlug {
    pub fn parse(raw: &str) -> Result<Self, InvalidTenantSlug> {
        let fail = |reason| InvalidTenantSlug {
            slug: raw.to_owned(),
            reason,
        };
        if raw.len() < 2 || raw.len() > 40 {
            return Err(fail("must be 2 to 40 characters long"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(fail("only lowercase letters, digits and '-' are allowed"));
        }
        if raw.starts_with('-') || raw.ends_with('-') {
            return Err(fail("must not start or end with '-'"));
        }
        Ok(TenantSlug(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantSlug {
    type Error = InvalidTenantSlug;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TenantSlug::parse(&value)
    }
}

impl From<TenantSlug> for String {
    fn from(value: TenantSlug) -> Self {
        value.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A provider: an ISP whose SGP customers are imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: TenantSlug,
    pub name: String,
    #[serde(with = "super::instant")]
    pub created_at: DateTime<Utc>,
}

/// What the overview page shows of one provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantOverview {
    pub tenant: Tenant,
    pub customers: u64,
    pub contracts: u64,
    /// Import jobs per status; statuses with no job are absent.
    pub imports: Vec<(JobStatus, u64)>,
}

impl TenantOverview {
    pub fn imports_in(&self, status: JobStatus) -> u64 {
        self.imports
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }

    pub fn imports_total(&self) -> u64 {
        self.imports.iter().map(|(_, n)| n).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_accepts_the_usual_forms() {
        for ok in ["demo", "net-fibra", "provedor2", "ab"] {
            assert_eq!(TenantSlug::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn slug_rejects_bad_forms_with_a_reason() {
        for bad in [
            "",
            "a",
            "Demo",
            "net fibra",
            "-x",
            "x-",
            "ação",
            &"x".repeat(41),
        ] {
            let err = TenantSlug::parse(bad).unwrap_err();
            assert_eq!(err.slug, bad);
        }
    }
}
