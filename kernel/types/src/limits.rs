//! Limits and defaults that more than one layer must agree on.

use crate::Ipv4Prefix;
use core::net::Ipv4Addr;

/// At most this many peers: the configuration refuses more, and the gateway engine
/// holds no more.
pub const MAX_PEERS: usize = 64;

/// At most this many routes on lan (`route add`): the configuration refuses more, and
/// the gateway engine holds no more.
pub const MAX_ROUTES: usize = 64;

/// The destinations that count as private unless configured otherwise: RFC 1918 and
/// RFC 6598 (shared address space, carrier-grade NAT).
pub const DEFAULT_PRIVATE: [Ipv4Prefix; 4] = [
    Ipv4Prefix::from_parts(Ipv4Addr::new(10, 0, 0, 0), 8),
    Ipv4Prefix::from_parts(Ipv4Addr::new(172, 16, 0, 0), 12),
    Ipv4Prefix::from_parts(Ipv4Addr::new(192, 168, 0, 0), 16),
    Ipv4Prefix::from_parts(Ipv4Addr::new(100, 64, 0, 0), 10),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn default_private_ranges() {
        let shown: std::vec::Vec<_> = DEFAULT_PRIVATE.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "100.64.0.0/10"
            ]
        );
        assert!(DEFAULT_PRIVATE
            .iter()
            .any(|p| p.contains(Ipv4Addr::new(100, 127, 255, 255))));
        assert!(!DEFAULT_PRIVATE
            .iter()
            .any(|p| p.contains(Ipv4Addr::new(100, 128, 0, 0))));
    }
}
