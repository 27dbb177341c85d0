//! Longest-prefix-match table: a small generic map from IPv4 prefixes to values.
//!
//! Built at configuration time (allocates then); lookups never allocate. Entries are kept
//! sorted by decreasing prefix length, so the first match is the longest one. Small
//! tables (the common case: tens of prefixes) are scanned linearly, which beats any
//! index on a compact array; larger ones are looked up per distinct prefix length in an
//! ordered index (one `O(log n)` probe per length present, longest first).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::Ipv4Prefix;

/// Up to this many entries, lookups scan.
const LINEAR_MAX: usize = 16;

/// A longest-prefix-match table.
#[derive(Clone, Debug)]
pub struct PrefixTable<V> {
    // Sorted by prefix length, longest first.
    entries: Vec<(Ipv4Prefix, V)>,
    // (length, network) -> index in `entries`; rebuilt on change.
    index: BTreeMap<(u8, u32), usize>,
    // Distinct lengths present, longest first.
    lengths: Vec<u8>,
}

impl<V> Default for PrefixTable<V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            index: BTreeMap::new(),
            lengths: Vec::new(),
        }
    }
}

impl<V> PrefixTable<V> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces the value for exactly `prefix`; returns the old value.
    pub fn insert(&mut self, prefix: Ipv4Prefix, value: V) -> Option<V> {
        if let Some(slot) = self.entries.iter_mut().find(|(p, _)| *p == prefix) {
            return Some(core::mem::replace(&mut slot.1, value));
        }
        let at = self
            .entries
            .iter()
            .position(|(p, _)| p.prefix_len() < prefix.prefix_len())
            .unwrap_or(self.entries.len());
        self.entries.insert(at, (prefix, value));
        self.reindex();
        None
    }

    fn reindex(&mut self) {
        self.index.clear();
        self.lengths.clear();
        for (i, (p, _)) in self.entries.iter().enumerate() {
            self.index
                .insert((p.prefix_len(), u32::from(p.network())), i);
            if self.lengths.last() != Some(&p.prefix_len()) {
                self.lengths.push(p.prefix_len());
            }
        }
    }

    /// Removes exactly `prefix`.
    pub fn remove(&mut self, prefix: Ipv4Prefix) -> Option<V> {
        let at = self.entries.iter().position(|(p, _)| *p == prefix)?;
        let v = self.entries.remove(at).1;
        self.reindex();
        Some(v)
    }

    /// Removes every entry whose value matches.
    pub fn retain(&mut self, mut keep: impl FnMut(&Ipv4Prefix, &V) -> bool) {
        self.entries.retain(|(p, v)| keep(p, v));
        self.reindex();
    }

    /// The value of the longest prefix containing `addr`.
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<&V> {
        self.lookup_entry(addr).map(|(_, v)| v)
    }

    /// The longest matching prefix and its value.
    pub fn lookup_entry(&self, addr: Ipv4Addr) -> Option<(&Ipv4Prefix, &V)> {
        let a = u32::from(addr);
        if self.entries.len() <= LINEAR_MAX {
            return self
                .entries
                .iter()
                .find(|(p, _)| p.contains_bits(a))
                .map(|(p, v)| (p, v));
        }
        self.lengths.iter().find_map(|len| {
            let network = Ipv4Prefix::from_parts(Ipv4Addr::from(a), *len)
                .network()
                .to_bits();
            let i = *self.index.get(&(*len, network))?;
            self.entries.get(i).map(|(p, v)| (p, v))
        })
    }

    /// Whether any prefix contains `addr`.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.lookup_entry(addr).is_some()
    }

    /// Entries, longest prefix first.
    pub fn iter(&self) -> impl Iterator<Item = (&Ipv4Prefix, &V)> {
        self.entries.iter().map(|(p, v)| (p, v))
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Ipv4Prefix {
        s.parse().unwrap()
    }
    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_match_wins_regardless_of_insert_order() {
        let orders: [[&str; 4]; 2] = [
            ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "0.0.0.0/0"],
            ["0.0.0.0/0", "10.1.2.0/24", "10.0.0.0/8", "10.1.0.0/16"],
        ];
        for order in orders {
            let mut t = PrefixTable::new();
            for s in order {
                t.insert(p(s), s);
            }
            assert_eq!(t.lookup(a("10.1.2.3")), Some(&"10.1.2.0/24"));
            assert_eq!(t.lookup(a("10.1.3.3")), Some(&"10.1.0.0/16"));
            assert_eq!(t.lookup(a("10.9.3.3")), Some(&"10.0.0.0/8"));
            assert_eq!(t.lookup(a("192.0.2.1")), Some(&"0.0.0.0/0"));
        }
    }

    #[test]
    fn miss_replace_remove() {
        let mut t = PrefixTable::new();
        assert_eq!(t.lookup(a("10.0.0.1")), None);
        assert_eq!(t.insert(p("10.0.0.0/8"), 1), None);
        assert_eq!(t.insert(p("10.0.0.0/8"), 2), Some(1));
        assert_eq!(t.len(), 1);
        assert_eq!(t.lookup(a("10.0.0.1")), Some(&2));
        assert_eq!(t.remove(p("10.0.0.0/8")), Some(2));
        assert!(t.is_empty());
        assert_eq!(t.lookup(a("10.0.0.1")), None);
    }

    #[test]
    fn indexed_lookups_agree_with_a_linear_scan() {
        // A deterministic pseudo-random table, big enough for the index.
        let mut x: u32 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let mut t = PrefixTable::new();
        let mut all = Vec::new();
        for i in 0..300u32 {
            let len = [8u8, 12, 16, 20, 24, 28, 32][(next() % 7) as usize];
            // Cluster addresses under 10/8 so prefixes nest.
            let addr = Ipv4Addr::from(0x0a00_0000 | (next() & 0x00ff_ffff));
            let p = Ipv4Prefix::new(addr, len).unwrap();
            t.insert(p, i);
            all.push(p);
        }
        assert!(t.len() > LINEAR_MAX);
        for _ in 0..5000 {
            let a = Ipv4Addr::from(0x0a00_0000 | (next() & 0x00ff_ffff));
            let linear = t
                .entries
                .iter()
                .find(|(p, _)| p.contains(a))
                .map(|(p, v)| (p, v));
            assert_eq!(t.lookup_entry(a), linear, "{a}");
        }
        // Removing keeps the index right.
        for p in all.iter().take(150) {
            t.remove(*p);
        }
        for _ in 0..2000 {
            let a = Ipv4Addr::from(0x0a00_0000 | (next() & 0x00ff_ffff));
            let linear = t
                .entries
                .iter()
                .find(|(p, _)| p.contains(a))
                .map(|(p, v)| (p, v));
            assert_eq!(t.lookup_entry(a), linear, "{a}");
        }
    }

    #[test]
    fn host_routes_and_retain() {
        let mut t = PrefixTable::new();
        t.insert(p("10.0.0.0/24"), 'a');
        t.insert(p("10.0.0.5/32"), 'b');
        assert_eq!(t.lookup(a("10.0.0.5")), Some(&'b'));
        assert_eq!(t.lookup(a("10.0.0.6")), Some(&'a'));
        t.retain(|_, v| *v != 'b');
        assert_eq!(t.lookup(a("10.0.0.5")), Some(&'a'));
    }
}
