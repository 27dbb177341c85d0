//! The set of destinations that count as private (and so must be encrypted when
//! DropUnencrypted applies). Default: RFC 1918 and RFC 6598 (shared address space),
//! `vnetcrypt_types::DEFAULT_PRIVATE`.

use core::net::Ipv4Addr;

use crate::lpm::PrefixTable;
use crate::Ipv4Prefix;
use vnetcrypt_types::DEFAULT_PRIVATE;

/// Prefixes that count as private.
#[derive(Clone, Debug)]
pub struct PrivateSet {
    prefixes: PrefixTable<()>,
}

impl Default for PrivateSet {
    fn default() -> Self {
        let mut prefixes = PrefixTable::new();
        for p in DEFAULT_PRIVATE {
            prefixes.insert(p, ());
        }
        Self { prefixes }
    }
}

impl PrivateSet {
    /// An empty set (nothing is private).
    pub fn empty() -> Self {
        Self {
            prefixes: PrefixTable::new(),
        }
    }

    /// Adds a prefix.
    pub fn add(&mut self, prefix: Ipv4Prefix) {
        self.prefixes.insert(prefix, ());
    }

    /// Removes a prefix; true if it was there.
    pub fn remove(&mut self, prefix: Ipv4Prefix) -> bool {
        self.prefixes.remove(prefix).is_some()
    }

    /// Whether `addr` is a private destination.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.prefixes.contains(addr)
    }

    /// The configured prefixes.
    pub fn iter(&self) -> impl Iterator<Item = &Ipv4Prefix> {
        self.prefixes.iter().map(|(p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_cover_rfc1918_and_rfc6598_only() {
        let s = PrivateSet::default();
        for a in [
            "10.9.9.9",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
        ] {
            assert!(s.contains(a.parse().unwrap()), "{a}");
        }
        for a in [
            "172.32.0.1",
            "100.128.0.1",
            "8.8.8.8",
            "192.169.0.1",
            "11.0.0.1",
        ] {
            assert!(!s.contains(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn configurable() {
        let mut s = PrivateSet::empty();
        assert!(!s.contains("10.0.0.1".parse().unwrap()));
        s.add("198.18.0.0/15".parse().unwrap());
        assert!(s.contains("198.19.1.1".parse().unwrap()));
        assert!(s.remove("198.18.0.0/15".parse().unwrap()));
        assert!(!s.contains("198.19.1.1".parse().unwrap()));
    }
}
