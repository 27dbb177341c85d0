//! The configuration model and its defaults.

use crate::Ipv4Prefix;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};

/// At most this many peers.
pub const MAX_PEERS: usize = 64;
/// At most this many protected prefixes behind one peer.
pub const MAX_PREFIXES_PER_PEER: usize = 16;
/// At most this many prefixes in the private-destination set.
pub const MAX_PRIVATE_PREFIXES: usize = 32;
/// The UDP port gateways speak DTLS on unless configured otherwise.
pub const DEFAULT_LISTEN_PORT: u16 = 4433;

/// What happens to protected traffic that cannot be encrypted (Azure's names).
/// The default fails closed: `DropUnencrypted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    /// Where encryption is not possible, traffic passes in the clear (and is logged so).
    AllowUnencrypted,
    /// Protected traffic never crosses the fabric in the clear.
    #[default]
    DropUnencrypted,
}

impl Enforcement {
    pub fn keyword(self) -> &'static str {
        match self {
            Enforcement::AllowUnencrypted => "allow",
            Enforcement::DropUnencrypted => "drop",
        }
    }
}

/// The SHA-256 of a peer's SubjectPublicKeyInfo (DER), pinned as its identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Parses 64 hex digits, optionally separated by colons.
    pub fn parse(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        let mut n = 0;
        let mut hi: Option<u8> = None;
        for c in s.bytes() {
            if c == b':' {
                if hi.is_some() {
                    return None;
                }
                continue;
            }
            let v = (c as char).to_digit(16)? as u8;
            match hi.take() {
                None => hi = Some(v),
                Some(h) => {
                    *out.get_mut(n)? = h << 4 | v;
                    n += 1;
                }
            }
        }
        (n == 32 && hi.is_none()).then_some(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The two NIC roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iface {
    /// The fabric side: DTLS to peers.
    Wan,
    /// The protected side: workloads.
    Lan,
}

impl Iface {
    pub const ALL: [Iface; 2] = [Iface::Wan, Iface::Lan];
    pub fn name(self) -> &'static str {
        match self {
            Iface::Wan => "wan",
            Iface::Lan => "lan",
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Addressing of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// Static address and prefix length.
    pub address: Option<(Ipv4Addr, u8)>,
    pub gateway: Option<Ipv4Addr>,
    /// DHCPv4 (wan only).
    pub dhcp: bool,
    pub mtu: u16,
}

impl Default for InterfaceConfig {
    fn default() -> Self {
        Self {
            address: None,
            gateway: None,
            dhcp: false,
            mtu: 1500,
        }
    }
}

/// Another appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub name: String,
    pub endpoint: SocketAddrV4,
    pub fingerprint: Fingerprint,
    pub prefixes: Vec<Ipv4Prefix>,
    /// Overrides the global enforcement for traffic to this peer's prefixes.
    pub enforcement: Option<Enforcement>,
}

/// When sessions get new keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rekey {
    /// Seconds after which a session rekeys.
    pub interval_s: u32,
    /// Records sealed under one key before a rekey.
    pub records: u64,
}

impl Default for Rekey {
    fn default() -> Self {
        // Far below AES-GCM's usage limits; a rekey an hour keeps sessions fresh.
        Self {
            interval_s: 3600,
            records: 1 << 32,
        }
    }
}

/// Tunnel liveness: keepalives, dead-peer detection and (under AllowUnencrypted) how
/// long a peer must fail every handshake before its traffic falls back to clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// An idle tunnel sends an authenticated keepalive this often.
    pub keepalive_s: u32,
    /// A peer with no authenticated record for this long is `down`; always longer
    /// than `keepalive_s`, so an idle live peer is never declared down.
    pub dead_after_s: u32,
    /// Allow only: traffic goes clear only after every handshake failed this long.
    pub fallback_after_s: u32,
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            keepalive_s: 10,
            dead_after_s: 30,
            fallback_after_s: 30,
        }
    }
}

/// Where flow records are exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collector {
    pub endpoint: SocketAddrV4,
    pub interval_s: u32,
}

/// The whole running configuration (everything but the identity key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The second NIC is wan and the first lan (default: the first is wan).
    pub roles_swapped: bool,
    pub enforcement: Enforcement,
    pub listen_port: u16,
    pub interfaces: [InterfaceConfig; 2],
    pub proxy_arp: bool,
    pub private: Vec<Ipv4Prefix>,
    pub peers: Vec<PeerConfig>,
    pub rekey: Rekey,
    pub liveness: Liveness,
    /// Always lies on the lan subnet or in a peer's prefixes ([`Config::collector_path`]):
    /// every statement that would break that is refused.
    pub collector: Option<Collector>,
}

/// How flow records reach the collector without crossing wan in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectorPath<'a> {
    /// The collector is on the lan subnet: sent on lan.
    Lan,
    /// The collector lies in this peer's prefixes: sent through its tunnel.
    Peer(&'a PeerConfig),
}

/// RFC 1918 and RFC 6598 (carrier-grade NAT) ranges.
pub(crate) const DEFAULT_PRIVATE: [([u8; 4], u8); 4] = [
    ([10, 0, 0, 0], 8),
    ([172, 16, 0, 0], 12),
    ([192, 168, 0, 0], 16),
    ([100, 64, 0, 0], 10),
];

pub(crate) fn default_private() -> Vec<Ipv4Prefix> {
    DEFAULT_PRIVATE
        .iter()
        .filter_map(|&(a, l)| Ipv4Prefix::new(Ipv4Addr::from(a), l))
        .collect()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            roles_swapped: false,
            enforcement: Enforcement::default(),
            listen_port: DEFAULT_LISTEN_PORT,
            interfaces: Default::default(),
            proxy_arp: false,
            private: default_private(),
            peers: Vec::new(),
            rekey: Rekey::default(),
            liveness: Liveness::default(),
            collector: None,
        }
    }
}

impl Config {
    pub fn interface(&self, iface: Iface) -> &InterfaceConfig {
        &self.interfaces[iface.index()]
    }
    pub fn peer(&self, name: &str) -> Option<&PeerConfig> {
        self.peers.iter().find(|p| p.name == name)
    }
    /// The enforcement that applies to a peer (its override, else the global one).
    pub fn enforcement_for(&self, peer: &PeerConfig) -> Enforcement {
        peer.enforcement.unwrap_or(self.enforcement)
    }

    /// The protected path to a collector at `ip`: on lan when `ip` is on the lan
    /// subnet (and not our own address), else through the peer whose prefixes hold
    /// it; `None` when neither (flow records would have to cross wan in the clear).
    pub fn collector_path(&self, ip: Ipv4Addr) -> Option<CollectorPath<'_>> {
        let on_lan = self.interface(Iface::Lan).address.is_some_and(|(a, len)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            a != ip && u32::from(a) & mask == u32::from(ip) & mask
        });
        if on_lan {
            return Some(CollectorPath::Lan);
        }
        self.peers
            .iter()
            .find(|p| p.prefixes.iter().any(|q| q.contains(ip)))
            .map(CollectorPath::Peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_hex_with_or_without_colons() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let f = Fingerprint::parse(hex).unwrap();
        assert_eq!(f.0[1], 0x11);
        assert_eq!(std::format!("{f}"), hex.to_ascii_lowercase());
        let colons: std::string::String =
            f.0.iter()
                .map(|b| std::format!("{b:02X}"))
                .collect::<std::vec::Vec<_>>()
                .join(":");
        assert_eq!(Fingerprint::parse(&colons), Some(f));
        assert_eq!(Fingerprint::parse(&hex[..62]), None);
        assert_eq!(Fingerprint::parse(&std::format!("{hex}00")), None);
        assert_eq!(Fingerprint::parse("zz"), None);
        assert_eq!(Fingerprint::parse("0:0"), None);
    }

    #[test]
    fn defaults_are_rfc1918_and_rfc6598() {
        let c = Config::default();
        let shown: std::vec::Vec<_> = c.private.iter().map(|p| std::format!("{p}")).collect();
        assert_eq!(
            shown,
            [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "100.64.0.0/10"
            ]
        );
    }

    #[test]
    fn the_default_enforcement_fails_closed() {
        assert_eq!(Config::default().enforcement, Enforcement::DropUnencrypted);
        assert_eq!(Enforcement::default(), Enforcement::DropUnencrypted);
    }
}
