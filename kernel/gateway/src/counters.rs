//! Counters per interface, per peer and per drop reason. Every dropped packet is counted
//! under exactly one [`DropReason`]; none is dropped silently.

use core::fmt;

macro_rules! drop_reasons {
    ($( $(#[$m:meta])* $v:ident = $name:literal ),* $(,)?) => {
        /// Why a packet was dropped.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason { $( $(#[$m])* $v ),* }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$v),*];
            /// The name shown on the console.
            pub fn name(self) -> &'static str {
                match self { $(DropReason::$v => $name),* }
            }
        }
    };
}

drop_reasons! {
    /// A lan frame too short or otherwise unparseable as Ethernet.
    MalformedFrame = "malformed-frame",
    /// An IPv4 packet (lan, wan, or opened from a record) failed validation.
    MalformedPacket = "malformed-packet",
    /// An EtherType other than IPv4 and ARP on lan.
    UnsupportedEtherType = "unsupported-ethertype",
    /// A lan (or, on the frame path, wan) frame addressed to another unicast MAC.
    NotOurMac = "not-our-mac",
    /// A lan IPv4 packet addressed to the appliance itself (it only answers ARP).
    ToAppliance = "to-appliance",
    /// DropUnencrypted: a private destination that no peer owns.
    NoPeerForPrivate = "no-peer-for-private",
    /// DropUnencrypted: the peer's handshakes keep failing (or one failed while the
    /// packet waited).
    HandshakeFailed = "handshake-failed",
    /// DropUnencrypted: the peer is down (silent for `dead_after`).
    PeerDown = "peer-down",
    /// AllowUnencrypted: the peer is failing or down, but not yet for `fallback_after`:
    /// the packet is dropped rather than sent clear.
    AwaitingFallback = "awaiting-fallback",
    /// The bounded queue of packets waiting for a session is full.
    SessionQueueFull = "session-queue-full",
    /// DropUnencrypted: plaintext on wan from a protected source to a lan prefix.
    PlaintextForProtected = "plaintext-for-protected",
    /// A clear packet on wan from a peer's prefixes while that peer's tunnel is up: only
    /// the tunnel speaks for those prefixes.
    ClearFromTunnelPeer = "clear-from-tunnel-peer",
    /// A plaintext wan packet or an opened inner packet for a destination outside the
    /// protected set (on-link and routed lan prefixes), and not relayed either.
    NoRoute = "no-route",
    /// A wan datagram from an address that is no peer's endpoint and that neither a
    /// handshake from it nor a peer's session took (it moves no endpoint).
    UnknownPeer = "unknown-peer",
    /// A datagram from an address that is no peer's endpoint, over the rate that
    /// such addresses are looked at (per source and in all).
    SourceLimited = "source-limited",
    /// A record that the peer's session could not open (bad tag, unknown epoch, garbage).
    OpenFailed = "open-failed",
    /// A record already seen (anti-replay).
    Replay = "replay",
    /// A handshake message for a handshake that no longer runs (a lost race).
    StaleHandshake = "stale-handshake",
    /// A datagram with a ClientHello that the session layer does not answer (not a
    /// valid hello from the pinned peer).
    HelloIgnored = "hello-ignored",
    /// Application data from a peer with no session to open it.
    NoSession = "no-session",
    /// An opened packet whose source is not in the sending peer's prefixes.
    Spoofed = "spoofed",
    /// A DF packet too big for the tunnel: answered with ICMP fragmentation-needed.
    TooBigDf = "too-big-df",
    /// A packet that could not be sealed (session refused: usage limit reached).
    SealFailed = "seal-failed",
    /// The queue of packets waiting for an ARP answer is full.
    ArpQueueFull = "arp-queue-full",
    /// A workload's MAC never resolved.
    ArpUnresolved = "arp-unresolved",
    /// The engine's outgoing queue is full.
    TxQueueFull = "tx-queue-full",
    /// A clear packet too big for the wan MTU that could not be fragmented either.
    TooBigClear = "too-big-clear",
    /// A lan packet for our own protected set (on-link or routed): not ours to carry.
    LanToLan = "lan-to-lan",
    /// A lan packet from a routed prefix whose Ethernet source is not the route's next
    /// hop (or the next hop's MAC is not known yet: it is asked for).
    LanSpoofed = "lan-spoofed",
    /// An opened packet for another peer's prefixes where the sending peer or that peer
    /// does not have transit on.
    TransitRefused = "transit-refused",
    /// A packet to relay to a transit peer whose tunnel is not up (it is brought up; a
    /// relayed packet never waits, and never goes clear).
    TransitNoTunnel = "transit-no-tunnel",
}

/// Number of drop reasons.
pub const DROP_REASONS: usize = DropReason::ALL.len();

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Packets and bytes in each direction of one interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
}

impl InterfaceCounters {
    /// Counts a received packet.
    pub fn rx(&mut self, bytes: usize) {
        self.rx_packets += 1;
        self.rx_bytes += bytes as u64;
    }
    /// Counts a sent packet.
    pub fn tx(&mut self, bytes: usize) {
        self.tx_packets += 1;
        self.tx_bytes += bytes as u64;
    }
}

/// Per-peer counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerCounters {
    /// Inner packets sealed to the peer and their inner bytes.
    pub sealed_packets: u64,
    pub sealed_bytes: u64,
    /// Inner packets opened from the peer and their inner bytes.
    pub opened_packets: u64,
    pub opened_bytes: u64,
    /// Handshakes started, completed and failed.
    pub handshakes_started: u64,
    pub handshakes_completed: u64,
    pub handshakes_failed: u64,
    /// Rekeys started.
    pub rekeys: u64,
    /// Sessions replaced by a new handshake (peer restart).
    pub sessions_replaced: u64,
    /// Authenticated keepalives (empty records) sent and received.
    pub keepalives_sent: u64,
    pub keepalives_received: u64,
    /// Times the peer went down (no authenticated record for `dead_after`).
    pub went_down: u64,
    /// Stateless cookie answers (HelloVerifyRequest) sent to hellos from the peer's
    /// endpoint: no state is kept for them.
    pub cookies_sent: u64,
    /// Packets dropped that concerned this peer (also counted by reason globally).
    pub drops: u64,
}

/// Global counters: interfaces and drop reasons.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub lan: InterfaceCounters,
    pub wan: InterfaceCounters,
    drops: [u64; DROP_REASONS],
    /// ICMP fragmentation-needed messages sent to lan.
    pub icmp_frag_needed: u64,
    /// IPv4 fragments produced for the tunnel.
    pub fragments_out: u64,
    /// TCP SYNs whose MSS was clamped.
    pub mss_clamped: u64,
    /// ARP replies sent (own address and proxy).
    pub arp_replies: u64,
    /// ARP requests sent to resolve workloads.
    pub arp_requests: u64,
    /// Packets opened from one peer and re-sealed to another (transit).
    pub relayed: u64,
    /// Records kept by a finishing handshake because they overtook its last flight.
    pub buffered_early: u64,
    /// Frame path: packets for wan handed back without outer headers (next hop not
    /// known to the caller, or no headroom), for the caller's IP stack to send.
    pub wan_unframed: u64,
    /// Handshakes accepted (cookie returned) from addresses that were no peer's
    /// endpoint, and how many of them completed and went to the peer they
    /// authenticated as.
    pub roaming_handshakes: u64,
    pub roaming_handshakes_completed: u64,
    /// Peers' endpoints moved to a new address (after an authenticated handshake or
    /// record from it).
    pub endpoint_moves: u64,
    /// Records from a new address that opened but were older than one already opened
    /// (or a replaced session's): delivered, the endpoint left where it was.
    pub stale_moves_refused: u64,
    /// Packet bytes the engine itself copied (keeping a datagram for a second session,
    /// fragmenting, moving a late record); queues count their own, see
    /// `Gateway::bytes_copied`.
    pub bytes_copied: u64,
}

impl Counters {
    /// Counts a dropped packet.
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    /// Packets dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// All packets dropped.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Non-zero drop counters, for the console.
    pub fn drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|r| (*r, self.drops[*r as usize]))
            .filter(|(_, n)| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_distinct_and_counted_separately() {
        let mut c = Counters::default();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            for _ in 0..=i {
                c.drop(*r);
            }
        }
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(c.dropped(*r), i as u64 + 1);
        }
        let n = DROP_REASONS as u64;
        assert_eq!(c.dropped_total(), n * (n + 1) / 2);
        let mut names: alloc::vec::Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DROP_REASONS);
    }
}
