//! IPv4 prefixes (`10.1.0.0/24`). Parsing is total: malformed text is an error, never a
//! panic.

use core::fmt;
use core::net::Ipv4Addr;
use core::str::FromStr;

/// An IPv4 prefix, stored normalised (host bits zero). Ordered by network, then length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Prefix {
    network: u32,
    len: u8,
}

/// Why a prefix could not be built or parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixError {
    /// Length above 32 (from [`Ipv4Prefix::new`]).
    BadLength,
    /// Text not of the form `a.b.c.d/len` with `len` in 0..=32.
    Syntax,
    /// Text with bits set beyond the prefix length (`10.1.2.3/24`).
    HostBitsSet,
}

impl Ipv4Prefix {
    /// The prefix of `len` bits that holds `addr` (host bits of `addr` are cleared).
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 32 {
            return Err(PrefixError::BadLength);
        }
        Ok(Self::from_parts(addr, len))
    }

    /// As [`Ipv4Prefix::new`], for constants: `len` above 32 is taken as 32.
    pub const fn from_parts(addr: Ipv4Addr, len: u8) -> Self {
        let len = if len > 32 { 32 } else { len };
        Self {
            network: addr.to_bits() & mask(len),
            len,
        }
    }

    /// The network address.
    pub const fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.network)
    }

    /// The prefix length in bits.
    pub const fn prefix_len(&self) -> u8 {
        self.len
    }

    /// The netmask as a number (`/24` is `0xffff_ff00`).
    pub const fn mask(&self) -> u32 {
        mask(self.len)
    }

    /// True for length 0 (matches everything).
    pub const fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Whether `addr` lies inside this prefix.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.contains_bits(u32::from(addr))
    }

    /// Whether the address with these bits lies inside this prefix.
    pub const fn contains_bits(&self, addr: u32) -> bool {
        addr & mask(self.len) == self.network
    }

    /// True when some address lies in both prefixes.
    pub fn overlaps(&self, other: &Ipv4Prefix) -> bool {
        self.contains_bits(other.network) || other.contains_bits(self.network)
    }
}

/// The netmask of a `len`-bit prefix (`len` at most 32).
pub(crate) const fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.len)
    }
}

impl FromStr for Ipv4Prefix {
    type Err = PrefixError;
    /// Strict: `a.b.c.d/len`, `len` one or two digits up to 32, host bits zero.
    fn from_str(s: &str) -> Result<Self, PrefixError> {
        let (addr, len) = s.split_once('/').ok_or(PrefixError::Syntax)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| PrefixError::Syntax)?;
        if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PrefixError::Syntax);
        }
        let len: u8 = len.parse().map_err(|_| PrefixError::Syntax)?;
        if len > 32 {
            return Err(PrefixError::Syntax);
        }
        let p = Self::from_parts(addr, len);
        if p.network() != addr {
            return Err(PrefixError::HostBitsSet);
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn parses_and_prints() {
        let p: Ipv4Prefix = "10.1.0.0/24".parse().unwrap();
        assert_eq!(p.network(), Ipv4Addr::new(10, 1, 0, 0));
        assert_eq!(p.prefix_len(), 24);
        assert_eq!(p.mask(), 0xffff_ff00);
        assert_eq!(p.to_string(), "10.1.0.0/24");
        assert_eq!("0.0.0.0/0".parse::<Ipv4Prefix>().unwrap().prefix_len(), 0);
        assert_eq!("1.2.3.4/32".parse::<Ipv4Prefix>().unwrap().prefix_len(), 32);
    }

    #[test]
    fn new_normalises() {
        let p = Ipv4Prefix::new(Ipv4Addr::new(10, 1, 2, 3), 16).unwrap();
        assert_eq!(p.network(), Ipv4Addr::new(10, 1, 0, 0));
        assert_eq!(p.to_string(), "10.1.0.0/16");
        assert_eq!(
            Ipv4Prefix::new(Ipv4Addr::new(10, 0, 0, 0), 33),
            Err(PrefixError::BadLength)
        );
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
        assert!(all.is_default());
        assert!(all.contains(Ipv4Addr::new(255, 255, 255, 255)));
        let host: Ipv4Prefix = "192.0.2.7/32".parse().unwrap();
        assert!(host.contains(Ipv4Addr::new(192, 0, 2, 7)));
        assert!(!host.contains(Ipv4Addr::new(192, 0, 2, 6)));
    }
}
