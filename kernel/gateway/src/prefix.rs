//! IPv4 prefixes (`10.1.0.0/24`). Parsing is total: malformed text is an error, never a panic.

use core::fmt;
use core::net::Ipv4Addr;
use core::str::FromStr;

/// An IPv4 prefix, stored normalised (host bits cleared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    network: u32,
    len: u8,
}

/// Why a prefix could not be built or parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixError {
    /// Length above 32.
    BadLength,
    /// Text not of the form `a.b.c.d/len`.
    Syntax,
}

impl Prefix {
    /// A prefix of `len` bits; host bits of `addr` are cleared.
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 32 {
            return Err(PrefixError::BadLength);
        }
        Ok(Self {
            network: u32::from(addr) & mask(len),
            len,
        })
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network)
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for `0.0.0.0/0`'s length (matches everything).
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Whether `addr` lies inside this prefix.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.contains_u32(u32::from(addr))
    }

    pub(crate) fn contains_u32(&self, addr: u32) -> bool {
        addr & mask(self.len) == self.network
    }
}

pub(crate) fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.len)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, PrefixError> {
        let (addr, len) = s.split_once('/').ok_or(PrefixError::Syntax)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| PrefixError::Syntax)?;
        if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PrefixError::Syntax);
        }
        let len: u8 = len.parse().map_err(|_| PrefixError::Syntax)?;
        Prefix::new(addr, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn parse_normalises_and_contains() {
        let p: Prefix = "10.1.2.3/16".parse().unwrap();
        assert_eq!(p.network(), Ipv4Addr::new(10, 1, 0, 0));
        assert!(p.contains(Ipv4Addr::new(10, 1, 255, 1)));
        assert!(!p.contains(Ipv4Addr::new(10, 2, 0, 1)));
        assert_eq!(p.to_string(), "10.1.0.0/16");
    }

    #[test]
    fn edges() {
        let all: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(1, 2, 3, 4)));
        let host: Prefix = "192.0.2.7/32".parse().unwrap();
        assert!(host.contains(Ipv4Addr::new(192, 0, 2, 7)));
        assert!(!host.contains(Ipv4Addr::new(192, 0, 2, 6)));
    }

    #[test]
    fn malformed_is_error() {
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/008",
        ] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
    }
}
