//! Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>` under the
//! provider's secret, so a receiver can check both who sent a request and
//! that it is not an old one played again.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-SGP-Import-Signature";
pub const TIMESTAMP_HEADER: &str = "X-SGP-Import-Timestamp";
pub const EVENT_HEADER: &str = "X-SGP-Import-Event";
/// The delivery's id: the same on every retry, for receivers to drop repeats.
pub const DELIVERY_HEADER: &str = "X-SGP-Import-Delivery";

/// `sha256=<hex>` of `timestamp.body`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// What a receiver does: recompute and compare in constant time.
pub fn verify(secret: &str, timestamp: i64, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Some(bytes) = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

/// A new secret: 32 random bytes, hex, prefixed so it is recognisable.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("whsec_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_timestamp_and_body_together() {
        // computed independently: python3 -c "import hmac, hashlib;
        // print(hmac.new(b'segredo', b'1700000000.{}', hashlib.sha256).hexdigest())"
        assert_eq!(
            sign("segredo", 1_700_000_000, b"{}"),
            "sha256=28d73844c84580182772a1e98a60aeb8f04184b1bef0d4e147cfa59ebf0bfedc"
        );
        let s = sign("segredo", 1_700_000_000, b"{\"a\":1}");
        assert!(verify("segredo", 1_700_000_000, b"{\"a\":1}", &s));
        assert!(!verify("outro", 1_700_000_000, b"{\"a\":1}", &s));
        assert!(!verify("segredo", 1_700_000_001, b"{\"a\":1}", &s));
        assert!(!verify("segredo", 1_700_000_000, b"{\"a\":2}", &s));
        assert!(!verify("segredo", 1_700_000_000, b"{\"a\":1}", "sha256=zz"));
        assert!(new_secret().starts_with("whsec_") && new_secret().len() == 70);
    }
}
