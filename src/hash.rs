//! FNV-1a (64-bit): a small, stable, non-cryptographic hash for short names and fingerprints
//! that must come out the same in every run and every build (std's `DefaultHasher` makes no
//! such promise). Used for the suffix that keeps over-long qualified tool names apart, and
//! for the fingerprint of a tool the user always allowed.

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;

/// The FNV-1a hash of `bytes`.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::fnv1a;

    /// The published FNV-1a 64 test vectors.
    #[test]
    fn known_values() {
        assert_eq!(fnv1a(*b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(*b"foobar"), 0x8594_4171_f739_67e8);
    }
}
