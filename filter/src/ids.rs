//! P4: deterministic ids derived from content, never from position or load time.

use sha2::{Digest, Sha256};

/// Hex digits in a derived id (64 bits; P4 asks for at least 12).
pub const DERIVED_ID_HEX_LEN: usize = 16;

/// The first [`DERIVED_ID_HEX_LEN`] hex digits of SHA-256 over `kind`, a NUL, and the canonical content.
pub fn derived_id(kind: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0u8]);
    h.update(canonical.as_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(DERIVED_ID_HEX_LEN);
    for b in digest.iter().take(DERIVED_ID_HEX_LEN / 2) {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0x0f));
    }
    out
}

fn hex_digit(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p4_derived_ids_are_stable_hex() {
        let a = derived_id("route", "key\nGET /pets/{id}");
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, derived_id("route", "key\nGET /pets/{id}"));
        assert_ne!(a, derived_id("route", "key\nGET /pets/{petId}"));
        assert_ne!(a, derived_id("rule", "key\nGET /pets/{id}"));
    }
}
