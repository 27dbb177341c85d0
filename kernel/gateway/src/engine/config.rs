//! The engine's configuration.

use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;

use smoltcp::wire::EthernetAddress;

use crate::private::PrivateSet;
use crate::Enforcement;
use crate::Ipv4Prefix;

/// Everything the engine needs besides its peers.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The lan interface's MAC and address.
    pub lan_mac: EthernetAddress,
    pub lan_ip: Ipv4Addr,
    /// The protected prefixes on our lan (on-link: workloads are resolved by ARP).
    pub lan_prefixes: Vec<Ipv4Prefix>,
    /// Our wan endpoint (also breaks ties when both sides start a handshake at once).
    pub wan_endpoint: SocketAddrV4,
    /// The wan MTU: outer IPv4 + UDP + record must fit (at most `MAX_MTU`, 9000).
    pub wan_mtu: usize,
    /// The lan MTU: the largest IPv4 packet workloads send (at most `MAX_MTU`). The
    /// frame path's buffers hold a lan frame this large; what exceeds the tunnel gets
    /// ICMP fragmentation-needed (DF) or is fragmented.
    pub lan_mtu: usize,
    /// The global enforcement mode.
    pub enforcement: Enforcement,
    /// Destinations that count as private.
    pub private: PrivateSet,
    /// Answer ARP on lan for addresses in peers' prefixes.
    pub proxy_arp: bool,
    /// Rekey every session this often (AEAD limits may force it sooner).
    pub rekey_interval: Duration,
    /// How long a replaced session still opens records (rekey by new session, restart).
    pub rekey_overlap: Duration,
    /// A session the peer established to replace ours is used once the peer sends on
    /// it, or after as long as its handshake took (about the time its last flight
    /// needs to arrive), at most this long.
    pub switch_grace: Duration,
    /// A handshake not established after this long has failed.
    pub handshake_timeout: Duration,
    /// After a failed handshake, when to try again first (doubling per failure up to
    /// `handshake_retry_max`).
    pub handshake_retry: Duration,
    /// Most time between two handshake attempts: the wait after a failed attempt
    /// starts at `handshake_retry` and doubles per failure up to this.
    pub handshake_retry_max: Duration,
    /// An idle tunnel sends an authenticated keepalive (an empty record) this often,
    /// so that the peer can tell it is alive.
    pub keepalive_interval: Duration,
    /// No authenticated record from an up peer for this long: the peer is down
    /// (its traffic is no longer logged `X`), and handshakes are retried.
    pub dead_after: Duration,
    /// AllowUnencrypted only: a peer's traffic goes clear (`NX_FALLBACK`) only after it
    /// has failed to complete any handshake for this long; before, packets wait or are
    /// dropped (counted), never sent clear.
    pub fallback_after: Duration,
    /// Rekey a session after this many sealed records (0: only at the AEAD limit).
    pub rekey_records: u64,
    /// Packets waiting for a session, per peer.
    pub session_queue: usize,
    /// Packets waiting for an ARP answer.
    pub arp_queue: usize,
    /// Packets in the engine's own output queue (fragments, flushed queues, ARP).
    pub tx_queue: usize,
    /// Flows tracked at once (rounded up to whole shards of 16).
    pub flow_capacity: usize,
    /// A flow idle this long ends.
    pub flow_idle: Duration,
    /// Lifetime of a learned neighbour.
    pub neighbour_lifetime: Duration,
    /// How long a packet waits for an ARP answer before it is dropped; ARP requests
    /// for one address are repeated at most once per this period too.
    pub arp_timeout: Duration,
}

impl GatewayConfig {
    /// Defaults for everything but addresses: DropUnencrypted, 1500-byte wan and lan MTU,
    /// RFC 1918 + RFC 6598 private set, proxy ARP on, rekey hourly,
    /// keepalive every 10 s, peer down after 30 s of silence, fallback (Allow only) after
    /// 30 s of failed handshakes.
    pub fn new(
        lan_mac: EthernetAddress,
        lan_ip: Ipv4Addr,
        lan_prefixes: Vec<Ipv4Prefix>,
        wan_endpoint: SocketAddrV4,
    ) -> Self {
        Self {
            lan_mac,
            lan_ip,
            lan_prefixes,
            wan_endpoint,
            wan_mtu: 1500,
            lan_mtu: 1500,
            enforcement: Enforcement::DropUnencrypted,
            private: PrivateSet::default(),
            proxy_arp: true,
            rekey_interval: Duration::from_secs(3600),
            rekey_overlap: Duration::from_secs(10),
            switch_grace: Duration::from_millis(500),
            handshake_timeout: Duration::from_secs(10),
            handshake_retry: Duration::from_secs(1),
            handshake_retry_max: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(10),
            dead_after: Duration::from_secs(30),
            fallback_after: Duration::from_secs(30),
            rekey_records: 0,
            session_queue: 32,
            arp_queue: 32,
            tx_queue: 128,
            flow_capacity: 4096,
            flow_idle: Duration::from_secs(120),
            neighbour_lifetime: Duration::from_secs(300),
            arp_timeout: Duration::from_secs(1),
        }
    }
}
