//! A word-at-a-time hasher for the per-packet tables (flows, neighbours). Keys are
//! fixed-width integers: hashing them as words is several times cheaper than FNV's
//! byte loop. Not DoS-resistant: the tables are bounded and evict, so collisions cost
//! probe length, never memory.

use core::hash::Hasher;

const K: u64 = 0x517c_c1b7_2722_0a95;

/// The hasher; [`WordHasher::finish`] mixes all bits into the low ones (heapless keeps
/// only 16 bits of the hash).
#[derive(Clone, Copy, Debug, Default)]
pub struct WordHasher(u64);

impl WordHasher {
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(K);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        let h = self.0;
        (h ^ (h >> 32) ^ (h >> 48)).wrapping_mul(K) >> 16
    }
}

/// The `BuildHasher` for heapless maps.
pub type BuildWordHasher = hash32::BuildHasherDefault<WordHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_bits_spread() {
        // Keys differing in high bits only must still differ in the 16 low bits used.
        let mut seen = alloc::collections::BTreeSet::new();
        for i in 0..1024u64 {
            let mut h = WordHasher::default();
            h.write_u64(i << 40);
            seen.insert(h.finish() as u16);
        }
        assert!(seen.len() > 1000, "{}", seen.len());
        let mut a = WordHasher::default();
        a.write(&[1, 2, 3]);
        let mut b = WordHasher::default();
        b.write(&[1, 2, 4]);
        assert_ne!(a.finish(), b.finish());
    }
}
