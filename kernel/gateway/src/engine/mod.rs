//! The gateway engine: sans-IO, driven by the kernel's main loop (or a simulation).
//!
//! - [`Gateway::handle_lan_frame`]: an Ethernet frame from the protected lan.
//! - [`Gateway::handle_wan_datagram`]: a UDP payload from wan (a peer, or a peer that
//!   moved: `roam.rs`).
//! - [`Gateway::handle_wan_packet`]: a plaintext IPv4 packet arriving on wan.
//! - [`Gateway::poll_transmit`], [`Gateway::poll_timeout`], [`Gateway::handle_timeout`].
//!
//! Each `handle_*` returns a [`Verdict`] that borrows the caller's buffer: the packet is
//! transformed in place (sealed, opened, given an Ethernet header) and the caller sends
//! the slice. Buffers must leave [`Gateway::HEADROOM`] bytes before a lan frame's start
//! and [`Gateway::TAILROOM`] after its end, so that a record can be built around the
//! IPv4 packet. Forwarding an established flow allocates nothing.

mod config;
mod frame;
mod lan;
mod lifecycle;
mod peers;
mod roam;
mod routes;
mod transit;
mod transmit;
mod wan;

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::wire::{EthernetAddress, IpProtocol, TcpPacket, UdpPacket};

pub use config::GatewayConfig;
pub use frame::{FrameVerdict, WanNeighbours};
use peers::{slot_in, PeerSlot};
use roam::Stranger;

use crate::admission::SourceLimiter;
use crate::arp::Neighbours;
use crate::counters::{Counters, DropReason, PeerCounters};
use crate::flow::{FlowEvent, FlowKey, FlowStats, FlowTable};
use crate::flowlog::{pack_records, Direction, Encryption, FlowTuple, RecordMeta};
use crate::lpm::PrefixTable;
use crate::peer::{PeerConfig, PeerError, PeerId};
use crate::policy::SessionState;
use crate::queue::PacketQueue;
use crate::route::LanHop;
use crate::session::{Session, SessionLayer};
use crate::status::PeerStatus;
use crate::{Enforcement, Fingerprint, Instant, MAX_PEERS};

/// Largest packet (IPv4) or frame the engine queues with a standard wan MTU; a larger
/// `wan_mtu` (up to [`MAX_MTU`]) makes the engine's own queues that large (see
/// [`Gateway::frame_buffer_len`]), while packets waiting for a session keep slots of
/// this size (they are fragmented to it, or dropped and counted if DF is set).
pub const SLOT: usize = 1600;
/// The largest wan MTU the engine carries (jumbo frames); larger settings are capped.
pub const MAX_MTU: usize = 9000;

const ETH: usize = 14;
const OUTER: usize = 20 + 8; // outer IPv4 + UDP

/// What to do with the packet just handled. Slices borrow the caller's buffer.
#[derive(Debug)]
pub enum Verdict<'b> {
    /// Send this record as a UDP payload to a peer.
    ToPeer {
        to: SocketAddrV4,
        datagram: &'b mut [u8],
    },
    /// Send this IPv4 packet in the clear on wan.
    ToWanClear { packet: &'b mut [u8] },
    /// Send this Ethernet frame on lan.
    ToLan { frame: &'b mut [u8] },
    /// Consumed: queued or absorbed; [`Gateway::poll_transmit`] may have output now.
    Consumed,
    /// Dropped and counted.
    Dropped(DropReason),
}

/// Where a polled transmission goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A UDP payload for a peer's endpoint.
    Peer(SocketAddrV4),
    /// A plaintext IPv4 packet for wan.
    WanClear,
    /// An Ethernet frame for lan.
    Lan,
}

/// A transmission written by [`Gateway::poll_transmit`] at the start of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub destination: Destination,
    pub len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxItem {
    /// An inner IPv4 packet to seal for this peer.
    Seal(PeerId),
    /// A plaintext IPv4 packet for wan, with the flow's encryption value already logged.
    WanClear,
    /// A complete Ethernet frame for lan.
    Lan,
    /// A datagram for this peer's endpoint, complete (a stateless cookie answer).
    Reply(PeerId),
    /// A stateless cookie answer to an address that is no peer's endpoint.
    ReplyTo(SocketAddrV4),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ArpWait {
    next_hop: Ipv4Addr,
    since: Instant,
}

/// The gateway engine over a session layer `L`.
pub struct Gateway<L: SessionLayer> {
    cfg: GatewayConfig,
    layer: L,
    peers: Vec<Option<PeerSlot<L::Session>>>,
    owners: PrefixTable<PeerId>,
    /// Each peer's current endpoint (configured or learned), to its peer.
    endpoints: BTreeMap<SocketAddrV4, PeerId>,
    /// Every peer's pins: what a handshake from an unknown address may authenticate
    /// with.
    all_pins: Vec<Fingerprint>,
    /// Handshakes from addresses that are no peer's endpoint, until they complete.
    strangers: Vec<Stranger<L::Session>>,
    /// Admits datagrams from unknown addresses, per source and in all.
    admission: SourceLimiter,
    /// The protected set: on-link prefixes and routed ones, and how each is reached.
    lan: PrefixTable<LanHop>,
    neighbours: Neighbours,
    arp_wait: PacketQueue<ArpWait>,
    arp_asked: heapless::FnvIndexMap<Ipv4Addr, Instant, 32>,
    tx: PacketQueue<TxItem>,
    /// Largest packet the engine's own queues and scratch take: `SLOT` or the wan MTU.
    slot: usize,
    /// IPv4 identification of the outer headers (frame path).
    ident: u16,
    scratch: Vec<u8>,
    /// Where the session layer writes a stateless answer to a hello.
    reply: Vec<u8>,
    flows: FlowTable,
    counters: Counters,
}

impl<L: SessionLayer> core::fmt::Debug for Gateway<L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gateway")
            .field("lan_ip", &self.cfg.lan_ip)
            .field("wan_endpoint", &self.cfg.wan_endpoint)
            .field("peers", &self.peers.iter().flatten().count())
            .finish_non_exhaustive()
    }
}

impl<L: SessionLayer> Gateway<L> {
    /// Bytes the caller leaves before a lan frame (for the record header).
    pub const HEADROOM: usize = <L::Session as Session>::HEADROOM;
    /// Bytes the caller leaves after a lan frame (for the record tag).
    pub const TAILROOM: usize = <L::Session as Session>::TAILROOM;
    /// A buffer size that fits every transmission and every lan frame plus room, for
    /// MTUs up to 1500 (see [`Gateway::buffer_len`] for the configured ones).
    pub const BUFFER_LEN: usize = Self::HEADROOM + ETH + SLOT + Self::TAILROOM;

    /// [`Gateway::BUFFER_LEN`] for the configured MTUs (jumbo frames need more).
    pub fn buffer_len(&self) -> usize {
        Self::HEADROOM + ETH + self.slot.max(self.cfg.lan_mtu) + Self::TAILROOM
    }

    /// A gateway with no peers. Allocates all its queues and tables now.
    pub fn new(mut cfg: GatewayConfig, layer: L) -> Self {
        cfg.wan_mtu = cfg.wan_mtu.min(MAX_MTU);
        cfg.lan_mtu = cfg.lan_mtu.min(MAX_MTU);
        let slot = SLOT.max(cfg.wan_mtu);
        let mut lan = PrefixTable::new();
        for p in &cfg.lan_prefixes {
            lan.insert(*p, LanHop::OnLink);
        }
        Self {
            neighbours: Neighbours::new(cfg.neighbour_lifetime),
            arp_wait: PacketQueue::new(cfg.arp_queue, slot),
            arp_asked: heapless::FnvIndexMap::new(),
            tx: PacketQueue::new(cfg.tx_queue, slot + ETH),
            slot,
            ident: 0,
            scratch: vec![0; slot],
            reply: vec![0; 256],
            flows: FlowTable::new(cfg.flow_capacity, cfg.flow_idle),
            counters: Counters::default(),
            peers: Vec::new(),
            owners: PrefixTable::new(),
            endpoints: BTreeMap::new(),
            all_pins: Vec::new(),
            strangers: Vec::new(),
            admission: SourceLimiter::new(),
            lan,
            layer,
            cfg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.cfg
    }

    /// Changes the global enforcement mode.
    pub fn set_enforcement(&mut self, e: Enforcement) {
        self.cfg.enforcement = e;
    }

    /// The session layer (identity, credentials).
    pub fn layer_mut(&mut self) -> &mut L {
        &mut self.layer
    }

    /// Adds a peer.
    pub fn add_peer(&mut self, cfg: PeerConfig) -> Result<PeerId, PeerError> {
        for p in self.peers.iter().flatten() {
            if p.cfg.name == cfg.name {
                return Err(PeerError::DuplicateName);
            }
            if cfg.endpoint.is_some() && p.cfg.endpoint == cfg.endpoint {
                return Err(PeerError::DuplicateEndpoint);
            }
        }
        for prefix in &cfg.prefixes {
            if self.owners.iter().any(|(p, _)| p == prefix) {
                return Err(PeerError::PrefixTaken(*prefix));
            }
            if self.lan.iter().any(|(l, _)| l.overlaps(prefix)) {
                return Err(PeerError::OverlapsLan(*prefix));
            }
        }
        let idx = match self.peers.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.peers.len() < MAX_PEERS => {
                self.peers.push(None);
                self.peers.len() - 1
            }
            None => return Err(PeerError::TooMany),
        };
        let id = PeerId(idx as u16);
        for prefix in &cfg.prefixes {
            self.owners.insert(*prefix, id);
        }
        let endpoint = cfg.endpoint;
        self.peers[idx] = Some(PeerSlot::new(cfg, self.cfg.session_queue, SLOT));
        if let Some(ep) = endpoint {
            self.bind_endpoint(id, ep);
        }
        self.collect_pins();
        Ok(id)
    }

    /// Removes a peer, its sessions and waiting packets.
    pub fn remove_peer(&mut self, id: PeerId) -> Result<PeerConfig, PeerError> {
        let slot = self
            .peers
            .get_mut(usize::from(id.0))
            .and_then(Option::take)
            .ok_or(PeerError::Unknown)?;
        self.owners.retain(|_, owner| *owner != id);
        self.endpoints.retain(|_, owner| *owner != id);
        self.collect_pins();
        Ok(slot.cfg)
    }

    /// Sets a peer's configured endpoint (`None`: it calls us). Its sessions keep
    /// running; records go to the new endpoint from now on (a learned address is
    /// replaced by it).
    pub fn set_peer_endpoint(
        &mut self,
        id: PeerId,
        endpoint: Option<SocketAddrV4>,
    ) -> Result<(), PeerError> {
        let taken = self
            .peers()
            .any(|(other, p)| other != id && endpoint.is_some() && p.endpoint == endpoint);
        if taken {
            return Err(PeerError::DuplicateEndpoint);
        }
        let s = self.slot_mut(id).ok_or(PeerError::Unknown)?;
        s.cfg.endpoint = endpoint;
        match endpoint {
            Some(ep) => self.bind_endpoint(id, ep),
            None => {
                // Keep an address the peer authenticated from (a learned one, or the
                // configured one its tunnel runs on); forget one nobody confirmed.
                let confirmed = s.moves > 0 || s.link == peers::Link::Up;
                if !confirmed {
                    s.endpoint = None;
                    self.endpoints.retain(|_, owner| *owner != id);
                }
            }
        }
        Ok(())
    }

    /// Sets the identities a peer may authenticate with. Its sessions keep running
    /// unless they were authenticated with a key no longer pinned: those end now, and
    /// a new handshake follows on demand.
    pub fn set_peer_pins(
        &mut self,
        now: Instant,
        id: PeerId,
        fingerprint: Fingerprint,
        second: Option<Fingerprint>,
    ) -> Result<(), PeerError> {
        let s = self.slot_mut(id).ok_or(PeerError::Unknown)?;
        s.cfg.fingerprint = fingerprint;
        s.cfg.second_pin = second.filter(|p| *p != fingerprint);
        let unpinned = |sess: &L::Session| {
            sess.peer_pin()
                .is_some_and(|fp| fp != fingerprint && Some(fp) != second)
        };
        let ended = s.current.as_ref().is_some_and(unpinned);
        if ended {
            s.current = None;
            s.pending = None;
            s.pin_used = None;
            s.set_link(peers::Link::Idle, now);
        }
        if s.pending.as_ref().is_some_and(unpinned) {
            s.pending = None;
        }
        if s.previous.as_ref().is_some_and(|(p, _)| unpinned(p)) {
            s.previous = None;
        }
        self.collect_pins();
        if ended {
            self.start_handshake(now, id);
        }
        Ok(())
    }

    /// A peer's configuration.
    pub fn peer(&self, id: PeerId) -> Option<&PeerConfig> {
        self.slot(id).map(|s| &s.cfg)
    }

    /// Sets a peer's enforcement override.
    pub fn set_peer_enforcement(
        &mut self,
        id: PeerId,
        e: Option<Enforcement>,
    ) -> Result<(), PeerError> {
        let s = self.slot_mut(id).ok_or(PeerError::Unknown)?;
        s.cfg.enforcement = e;
        Ok(())
    }

    /// The configured peers.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, &PeerConfig)> {
        self.peers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (PeerId(i as u16), &p.cfg)))
    }

    /// A peer's session state, as the data path sees it now.
    pub fn session_state(&self, now: Instant, id: PeerId) -> Option<SessionState> {
        self.slot(id).map(|s| s.state(now))
    }

    /// A peer's tunnel at a glance: state, since when, last handshake, last
    /// authenticated record, and why the last handshake failed.
    pub fn peer_status(&self, id: PeerId) -> Option<PeerStatus> {
        self.slot(id).map(|s| s.status())
    }

    /// Global counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Packet bytes copied by the engine so far: into, out of and within its queues,
    /// and by itself (see [`Counters::bytes_copied`]). Zero per packet on the
    /// established data path.
    pub fn bytes_copied(&self) -> u64 {
        let waiting: u64 = self
            .peers
            .iter()
            .flatten()
            .map(|s| s.waiting.bytes_copied())
            .sum();
        self.counters.bytes_copied + self.tx.bytes_copied() + self.arp_wait.bytes_copied() + waiting
    }

    /// A peer's counters.
    pub fn peer_counters(&self, id: PeerId) -> Option<&PeerCounters> {
        self.slot(id).map(|s| &s.counters)
    }

    /// Flow-table statistics (evictions).
    pub fn flow_stats(&self) -> FlowStats {
        self.flows.stats()
    }

    /// Flows tracked now, and how many the table holds at most.
    pub fn flow_table_use(&self) -> (usize, usize) {
        (self.flows.len(), self.flows.capacity())
    }

    /// Produces the flow tuples due now (see [`FlowTable::export`]); `epoch_ms` is the
    /// Unix time in milliseconds at `Instant::ZERO`.
    pub fn export_flows(&mut self, now: Instant, epoch_ms: u64, out: impl FnMut(FlowTuple)) {
        self.flows.export(now, epoch_ms, out);
    }

    /// Exports the flow tuples due now as JSON-line records of at most `max_len` bytes,
    /// each handed to `send` (one UDP datagram to the collector each). Periodic, not per
    /// packet: it may allocate. Returns the number of tuples exported.
    pub fn export_flow_records(
        &mut self,
        now: Instant,
        epoch_ms: u64,
        meta: &RecordMeta<'_>,
        max_len: usize,
        send: impl FnMut(&[u8]),
    ) -> usize {
        let mut tuples = Vec::new();
        self.flows.export(now, epoch_ms, |t| tuples.push(t));
        let mut scratch = vec![0u8; max_len];
        pack_records(meta, &tuples, &mut scratch, max_len, send)
    }

    /// The current flows, for the console.
    pub fn flows(&self, now: Instant, epoch_ms: u64) -> impl Iterator<Item = FlowTuple> + '_ {
        self.flows.snapshot(now, epoch_ms)
    }

    /// The largest inner IPv4 packet a record can carry on wan.
    pub fn tunnel_mtu(&self) -> usize {
        self.cfg
            .wan_mtu
            .saturating_sub(OUTER + Self::HEADROOM + Self::TAILROOM)
    }

    /// The MSS that TCP SYNs through the tunnel are clamped to.
    pub fn clamped_mss(&self) -> u16 {
        u16::try_from(self.tunnel_mtu().saturating_sub(40)).unwrap_or(u16::MAX)
    }

    fn slot(&self, id: PeerId) -> Option<&PeerSlot<L::Session>> {
        self.peers.get(usize::from(id.0)).and_then(Option::as_ref)
    }

    fn slot_mut(&mut self, id: PeerId) -> Option<&mut PeerSlot<L::Session>> {
        slot_in(&mut self.peers, id)
    }

    fn peer_by_endpoint(&self, ep: SocketAddrV4) -> Option<PeerId> {
        self.endpoints.get(&ep).copied()
    }

    /// Makes `ep` peer `id`'s current endpoint (and no other peer's).
    fn bind_endpoint(&mut self, id: PeerId, ep: SocketAddrV4) {
        self.endpoints.retain(|_, owner| *owner != id);
        if let Some(other) = self.endpoints.insert(ep, id).filter(|o| *o != id) {
            if let Some(s) = self.slot_mut(other) {
                s.endpoint = None;
            }
        }
        if let Some(s) = self.slot_mut(id) {
            s.endpoint = Some(ep);
        }
    }

    fn collect_pins(&mut self) {
        let pins: Vec<Fingerprint> = self
            .peers
            .iter()
            .flatten()
            .flat_map(|s| s.cfg.pins())
            .collect();
        self.all_pins = pins;
    }

    fn drop_for(&mut self, reason: DropReason, peer: Option<PeerId>) -> Verdict<'static> {
        self.counters.drop(reason);
        if let Some(s) = peer.and_then(|p| self.slot_mut(p)) {
            s.counters.drops += 1;
        }
        Verdict::Dropped(reason)
    }

    fn record_flow(
        &mut self,
        now: Instant,
        ip: &[u8],
        direction: Direction,
        encryption: Encryption,
        denied: bool,
    ) {
        if let Some(mut ev) = flow_event(ip) {
            ev.direction = direction;
            ev.encryption = encryption;
            ev.denied = denied;
            self.flows.record(now, &ev);
        }
    }
}

fn write_eth(hdr: &mut [u8], dst: EthernetAddress, src: EthernetAddress) {
    hdr[0..6].copy_from_slice(dst.as_bytes());
    hdr[6..12].copy_from_slice(src.as_bytes());
    hdr[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
}

/// The flow event of an IPv4 packet (direction and encryption filled by the caller).
fn flow_event(ip: &[u8]) -> Option<FlowEvent> {
    let p = crate::ipv4::checked(ip)?;
    let proto = p.next_header();
    let first = p.frag_offset() == 0;
    let payload = p.payload();
    let (sp, dp, fin, rst) = match proto {
        IpProtocol::Tcp if first => match TcpPacket::new_checked(payload) {
            Ok(t) => (t.src_port(), t.dst_port(), t.fin(), t.rst()),
            Err(_) => (0, 0, false, false),
        },
        IpProtocol::Udp if first => match UdpPacket::new_checked(payload) {
            Ok(u) => (u.src_port(), u.dst_port(), false, false),
            Err(_) => (0, 0, false, false),
        },
        _ => (0, 0, false, false),
    };
    Some(FlowEvent {
        key: FlowKey {
            src: p.src_addr(),
            dst: p.dst_addr(),
            src_port: sp,
            dst_port: dp,
            protocol: u8::from(proto),
        },
        direction: Direction::Outbound,
        encryption: Encryption::Encrypted,
        denied: false,
        bytes: usize::from(p.total_len()),
        fin,
        rst,
    })
}
