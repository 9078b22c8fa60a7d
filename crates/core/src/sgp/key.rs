//! The key a customer is stored under.

use std::fmt;
use std::ops::Deref;

use serde::Serialize;

use super::document::CpfCnpj;

/// SGP's numeric id when it sends one, else `doc:` and the customer's
/// CPF/CNPJ digits (SGP's own examples omit the id). Unique per provider.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SgpKey(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("chave de cliente inválida: use o id do SGP ou doc:<CPF/CNPJ> ({0:?})")]
    Invalid(String),
}

impl SgpKey {
    pub fn from_id(id: i64) -> Self {
        SgpKey(id.to_string())
    }

    pub fn from_document(document: &CpfCnpj) -> Self {
        SgpKey(format!("doc:{}", document.digits()))
    }

    /// A stored or typed key: digits, or `doc:` and a valid CPF/CNPJ.
    pub fn parse(input: &str) -> Result<Self, KeyError> {
        let input = input.trim();
        let invalid = || KeyError::Invalid(input.chars().take(40).collect());
        if let Some(doc) = input.strip_prefix("doc:") {
            let document = CpfCnpj::parse(doc).map_err(|_| invalid())?;
            if document.digits() != doc {
                return Err(invalid());
            }
            return Ok(Self::from_document(&document));
        }
        match input.parse::<i64>() {
            Ok(id) if id >= 0 && id.to_string() == input => Ok(Self::from_id(id)),
            _ => Err(invalid()),
        }
    }

    /// The key of a row SGP sent that could not be read, from the raw
    /// text of its `id` (or, without one, its `cpfcnpj`) as the row error
    /// kept it: the same key the customer is stored under, or `None`.
    pub fn from_raw(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if let Ok(key) = Self::parse(raw) {
            return Some(key);
        }
        match raw.parse::<i64>() {
            Ok(id) if id >= 0 => Some(Self::from_id(id)),
            _ => CpfCnpj::parse(raw).ok().map(|d| Self::from_document(&d)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for SgpKey {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SgpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<&str> for SgpKey {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<SgpKey> for String {
    fn eq(&self, other: &SgpKey) -> bool {
        *self == other.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_ids_or_documents() {
        assert_eq!(SgpKey::parse("2307").unwrap(), SgpKey::from_id(2307));
        let doc = CpfCnpj::parse("043.918.595-56").unwrap();
        assert_eq!(SgpKey::from_document(&doc), "doc:04391859556");
        assert_eq!(
            SgpKey::parse("doc:04391859556").unwrap(),
            SgpKey::from_document(&doc)
        );
        for bad in [
            "",
            "-1",
            "0012",
            "abc",
            "doc:",
            "doc:04391859557",
            "doc:043.918.595-56",
        ] {
            assert!(SgpKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_failed_rows_raw_key_reads_as_the_stored_one() {
        let doc = CpfCnpj::parse("043.918.595-56").unwrap();
        assert_eq!(SgpKey::from_raw(" 2307 "), Some(SgpKey::from_id(2307)));
        assert_eq!(SgpKey::from_raw("0012"), Some(SgpKey::from_id(12)));
        assert_eq!(
            SgpKey::from_raw("043.918.595-56"),
            Some(SgpKey::from_document(&doc))
        );
        assert_eq!(SgpKey::from_raw("12.5"), None);
        assert_eq!(SgpKey::from_raw("abc"), None);
    }
}
