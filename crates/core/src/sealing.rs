//! Secrets at rest: SGP tokens and passwords are sealed with an AEAD
//! (XChaCha20-Poly1305) under a key from configuration, bound to their
//! provider and field so a sealed value copied elsewhere does not open.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::model::TenantId;
use crate::secret::Secret;

const NONCE_LEN: usize = 24;

#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the secret key must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")]
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed secret cannot be opened with this key (was the key changed?)")]
    WrongKeyOrTampered,
    #[error("sealed secret is too short")]
    Truncated,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn from_base64(key: &str) -> Result<Self, KeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| KeyError::Invalid)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Invalid)?;
        Ok(Sealer {
            cipher: XChaCha20Poly1305::new(&key.into()),
        })
    }

    /// A fresh random key, in the base64 form `from_base64` takes.
    pub fn generate_key() -> String {
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
    }

    /// `nonce || ciphertext`, bound to (tenant, field).
    pub fn seal(&self, tenant: TenantId, field: &str, secret: &Secret) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let aad = aad(tenant, field);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        out
    }

    pub fn open(&self, tenant: TenantId, field: &str, sealed: &[u8]) -> Result<Secret, OpenError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(OpenError::Truncated);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let aad = aad(tenant, field);
        let clear = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::WrongKeyOrTampered)?;
        String::from_utf8(clear)
            .map(Secret::new)
            .map_err(|_| OpenError::WrongKeyOrTampered)
    }
}

fn aad(tenant: TenantId, field: &str) -> Vec<u8> {
    let mut aad = tenant.0.as_bytes().to_vec();
    aad.extend(field.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_for_the_same_key_tenant_and_field() {
        let sealer = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        let tenant = TenantId::new();
        let secret = Secret::new("token-123456");
        let sealed = sealer.seal(tenant, "token", &secret);
        assert!(!String::from_utf8_lossy(&sealed).contains("token-123456"));
        assert_eq!(sealer.open(tenant, "token", &sealed).unwrap(), secret);
        assert_eq!(
            sealer.open(TenantId::new(), "token", &sealed),
            Err(OpenError::WrongKeyOrTampered)
        );
        assert_eq!(
            sealer.open(tenant, "password", &sealed),
            Err(OpenError::WrongKeyOrTampered)
        );
        let other = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        assert!(other.open(tenant, "token", &sealed).is_err());
        assert_eq!(
            sealer.open(tenant, "token", &sealed[..10]),
            Err(OpenError::Truncated)
        );
        assert!(Sealer::from_base64("curta").is_err());
    }
}
