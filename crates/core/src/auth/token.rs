//! Random bearer tokens (sessions and API tokens); only their SHA-256 is
//! stored, so a database leak does not hand out live sessions.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// A new token: 32 random bytes, URL-safe base64, after `prefix` (API
/// tokens say what they are, so a leaked one is easy to spot and revoke).
pub fn new_token(prefix: &str) -> Secret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let a = new_token("sgpi_");
        let b = new_token("sgpi_");
        assert_ne!(a, b);
        assert!(a.expose().starts_with("sgpi_") && a.expose().len() > 40);
        assert_eq!(hash_token("x"), hash_token("x"));
        assert_eq!(hash_token("x").len(), 64);
        assert_ne!(hash_token(a.expose()), hash_token(b.expose()));
    }
}
