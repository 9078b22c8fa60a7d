//! Passwords, hashed with Argon2id (PHC strings carry their parameters, so
//! stronger ones later still verify old hashes).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

pub const MIN_PASSWORD_LEN: usize = 8;
/// The longest password an account may set, in characters.
pub const MAX_PASSWORD_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a senha deve ter pelo menos {MIN_PASSWORD_LEN} caracteres")]
    TooShort,
    #[error("a senha deve ter no máximo {MAX_PASSWORD_LEN} caracteres")]
    TooLong,
    #[error("não foi possível calcular o hash da senha: {0}")]
    Hash(String),
}

/// Checks the length rules and hashes. CPU-heavy: call off the async
/// threads (`spawn_blocking`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    if len > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong);
    }
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// False for a wrong password and for a hash this code cannot read.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let a = hash_password("senha-forte-1").unwrap();
        let b = hash_password("senha-forte-1").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify_password("senha-forte-1", &a));
        assert!(!verify_password("senha-forte-2", &a));
        assert!(!verify_password("senha-forte-1", "not a hash"));
        assert_eq!(hash_password("curta"), Err(PasswordError::TooShort));
    }
}
