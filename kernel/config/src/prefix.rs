//! IPv4 prefixes in CIDR notation.

use core::fmt;
use core::net::Ipv4Addr;
use core::str::FromStr;

/// An IPv4 prefix with its host bits zero, e.g. `10.1.0.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Prefix {
    addr: Ipv4Addr,
    len: u8,
}

/// Why a prefix did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixError {
    Syntax,
    /// Bits set beyond the prefix length (`10.1.2.3/24`).
    HostBitsSet,
}

impl Ipv4Prefix {
    /// A prefix, or `None` if `len > 32` or host bits are set.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Self> {
        (len <= 32 && u32::from(addr) & !mask(len) == 0).then_some(Self { addr, len })
    }
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    pub fn prefix_len(&self) -> u8 {
        self.len
    }
    pub fn mask(&self) -> u32 {
        mask(self.len)
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }
    /// True when some address lies in both prefixes.
    pub fn overlaps(&self, other: &Ipv4Prefix) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

impl FromStr for Ipv4Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, PrefixError> {
        let (a, l) = s.split_once('/').ok_or(PrefixError::Syntax)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| PrefixError::Syntax)?;
        if l.is_empty() || l.len() > 2 || !l.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PrefixError::Syntax);
        }
        let len: u8 = l.parse().map_err(|_| PrefixError::Syntax)?;
        if len > 32 {
            return Err(PrefixError::Syntax);
        }
        Self::new(addr, len).ok_or(PrefixError::HostBitsSet)
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let p: Ipv4Prefix = "10.1.0.0/24".parse().unwrap();
        assert_eq!(p.addr(), Ipv4Addr::new(10, 1, 0, 0));
        assert_eq!(p.prefix_len(), 24);
        assert_eq!(std::format!("{p}"), "10.1.0.0/24");
        assert_eq!("0.0.0.0/0".parse::<Ipv4Prefix>().unwrap().prefix_len(), 0);
        assert_eq!("1.2.3.4/32".parse::<Ipv4Prefix>().unwrap().prefix_len(), 32);
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "10.1.0.0",
            "10.1.0.0/",
            "10.1.0.0/33",
            "10.1.0/24",
            "x/8",
            "10.0.0.0/+8",
            "10.0.0.0/008",
            "",
        ] {
            assert_eq!(bad.parse::<Ipv4Prefix>(), Err(PrefixError::Syntax), "{bad}");
        }
        assert_eq!(
            "10.1.2.3/24".parse::<Ipv4Prefix>(),
            Err(PrefixError::HostBitsSet)
        );
    }

    #[test]
    fn containment_and_overlap() {
        let p: Ipv4Prefix = "10.1.0.0/16".parse().unwrap();
        assert!(p.contains(Ipv4Addr::new(10, 1, 255, 1)));
        assert!(!p.contains(Ipv4Addr::new(10, 2, 0, 1)));
        let q: Ipv4Prefix = "10.1.5.0/24".parse().unwrap();
        let r: Ipv4Prefix = "10.2.0.0/16".parse().unwrap();
        assert!(p.overlaps(&q) && q.overlaps(&p));
        assert!(!p.overlaps(&r));
        let all: Ipv4Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(255, 255, 255, 255)));
    }
}
