//! Secrets (SGP tokens and passwords) in a type that cannot leak by
//! accident: no `Serialize`, and `Debug`/`Display` print a mask.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The clear text, for the one place that sends it (the SGP request).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// `••••a1b2`: enough for an admin to recognise which token is saved.
    pub fn hint(&self) -> String {
        mask_hint(&self.0)
    }
}

/// The mask shown for a secret: its last four characters at most, and
/// none of a short one.
pub fn mask_hint(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 8 {
        return "••••".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("••••{tail}")
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.hint())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_clear_text() {
        let s = Secret::new("9f8e7d6c-token-a1b2");
        assert_eq!(s.hint(), "••••a1b2");
        assert!(!format!("{s:?} {s}").contains("token"));
        assert_eq!(Secret::new("abc").hint(), "••••");
    }
}
