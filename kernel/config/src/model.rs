//! The configuration model and its defaults.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};
use vnetcrypt_types::{Enforcement, Fingerprint, Ipv4Prefix, LanRoute, DEFAULT_PRIVATE};

/// At most this many protected prefixes behind one peer.
pub const MAX_PREFIXES_PER_PEER: usize = 16;
/// At most this many prefixes in the private-destination set.
pub const MAX_PRIVATE_PREFIXES: usize = 32;
/// The UDP port gateways speak DTLS on unless configured otherwise.
pub const DEFAULT_LISTEN_PORT: u16 = 4433;
/// The metrics endpoint's TCP port unless configured otherwise (the port Prometheus'
/// node exporter uses, so existing scrape configurations find it).
pub const DEFAULT_METRICS_PORT: u16 = 9100;

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
    /// `None`: the peer calls us (behind NAT, or a changing address); its address is
    /// learned from its authenticated handshake.
    pub endpoint: Option<SocketAddrV4>,
    pub fingerprint: Fingerprint,
    /// A second accepted identity, during a rotation (`fingerprint OLD,NEW`).
    pub second_pin: Option<Fingerprint>,
    pub prefixes: Vec<Ipv4Prefix>,
    /// Overrides the global enforcement for traffic to this peer's prefixes.
    pub enforcement: Option<Enforcement>,
    /// Hub-and-spoke: traffic opened from this peer for another transit peer is
    /// relayed (re-sealed) to it (default off).
    pub transit: bool,
}

impl PeerConfig {
    /// The identities the peer may authenticate with (one or two).
    pub fn pins(&self) -> impl Iterator<Item = Fingerprint> + '_ {
        core::iter::once(self.fingerprint).chain(self.second_pin)
    }
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
    /// Prefixes behind routers on lan (`route add`), protected like the on-link
    /// prefix; always valid against the lan address and the peers
    /// ([`vnetcrypt_types::check_routes`]): every statement that would break that is
    /// refused.
    pub routes: Vec<LanRoute>,
    pub rekey: Rekey,
    pub liveness: Liveness,
    /// Always lies on the lan subnet or in a peer's prefixes ([`Config::collector_path`]):
    /// every statement that would break that is refused.
    pub collector: Option<Collector>,
    /// The syslog server events go to; like the collector, always on the lan subnet
    /// or in a peer's prefixes.
    pub syslog: Option<SocketAddrV4>,
    /// The metrics endpoint's TCP port on lan (`None`: off, the default).
    pub metrics: Option<u16>,
    /// The SNTP server; always on the lan subnet ([`Config::on_lan_subnet`]).
    pub ntp: Option<Ipv4Addr>,
}

/// How flow records reach the collector without crossing wan in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectorPath<'a> {
    /// The collector is on the lan subnet: sent on lan.
    Lan,
    /// The collector lies in this peer's prefixes: sent through its tunnel.
    Peer(&'a PeerConfig),
}

pub(crate) fn default_private() -> Vec<Ipv4Prefix> {
    DEFAULT_PRIVATE.to_vec()
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
            routes: Vec::new(),
            rekey: Rekey::default(),
            liveness: Liveness::default(),
            collector: None,
            syslog: None,
            metrics: None,
            ntp: None,
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
    /// The lan on-link prefix and our address on it, once the lan has an address.
    pub fn lan_on_link(&self) -> Option<(Ipv4Prefix, Ipv4Addr)> {
        let (a, len) = self.interface(Iface::Lan).address?;
        Some((Ipv4Prefix::from_parts(a, len), a))
    }

    /// The enforcement that applies to a peer (its override, else the global one).
    pub fn enforcement_for(&self, peer: &PeerConfig) -> Enforcement {
        peer.enforcement.unwrap_or(self.enforcement)
    }

    /// The protected path to a collector at `ip`: on lan when `ip` is on the lan
    /// subnet (and not our own address), else through the peer whose prefixes hold
    /// it; `None` when neither (flow records would have to cross wan in the clear).
    pub fn collector_path(&self, ip: Ipv4Addr) -> Option<CollectorPath<'_>> {
        if self.on_lan_subnet(ip) {
            return Some(CollectorPath::Lan);
        }
        self.peers
            .iter()
            .find(|p| p.prefixes.iter().any(|q| q.contains(ip)))
            .map(CollectorPath::Peer)
    }

    /// Whether `ip` is on the lan subnet and not our own lan address.
    pub fn on_lan_subnet(&self, ip: Ipv4Addr) -> bool {
        self.interface(Iface::Lan).address.is_some_and(|(a, len)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            a != ip && u32::from(a) & mask == u32::from(ip) & mask
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
