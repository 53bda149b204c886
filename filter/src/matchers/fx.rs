//! A small, fast, non-cryptographic hasher for the lookup tables (the rustc "Fx" hash).
//!
//! The tables are keyed by strings from the configuration (trusted); requests only look keys up, so an
//! attacker cannot choose which keys collide in the table. SipHash's DoS resistance buys nothing here and
//! costs ~2x per lookup on short keys.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap` with [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The Fx hash: multiply-rotate over machine words.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            for (d, s) in w.iter_mut().zip(rest) {
                *d = *s;
            }
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits depending only on the low bits of the words, and hashbrown
        // picks the bucket from the low bits: keys that differ only in their last bytes (`svc1` ...
        // `svc25000`, `tenant-7`) shared a handful of buckets, so a 25,000-key table probed hundreds of
        // groups per insert and per lookup. Folding the well-mixed high half into the low half fixes the
        // bucket on every target, and keeps hashbrown's 7-bit tag well mixed too: it is taken from bits
        // 57-63 on 64-bit targets and from bits 25-31 on wasm32, where `usize` is 32 bits.
        self.hash ^ (self.hash >> 32)
    }
}
