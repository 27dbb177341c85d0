//! The gateway engine: sans-IO, driven by the kernel's main loop (or a simulation).
//!
//! - [`Gateway::handle_lan_frame`]: an Ethernet frame from the protected lan.
//! - [`Gateway::handle_wan_datagram`]: a UDP payload from a peer's wan endpoint.
//! - [`Gateway::handle_wan_packet`]: a plaintext IPv4 packet arriving on wan.
//! - [`Gateway::poll_transmit`], [`Gateway::poll_timeout`], [`Gateway::handle_timeout`].
//!
//! Each `handle_*` returns a [`Verdict`] that borrows the caller's buffer: the packet is
//! transformed in place (sealed, opened, given an Ethernet header) and the caller sends
//! the slice. Buffers must leave [`Gateway::HEADROOM`] bytes before a lan frame's start
//! and [`Gateway::TAILROOM`] after its end, so that a record can be built around the
//! IPv4 packet. Forwarding an established flow allocates nothing.

mod config;
mod lan;
mod peers;
mod wan;

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::wire::{EthernetAddress, IpProtocol, TcpPacket, UdpPacket};

pub use config::GatewayConfig;
use peers::PeerSlot;

use crate::arp::{self, Neighbours};
use crate::counters::{Counters, DropReason, PeerCounters};
use crate::flow::{FlowEvent, FlowKey, FlowStats, FlowTable};
use crate::flowlog::{pack_records, Direction, Encryption, FlowTuple, RecordMeta};
use crate::lpm::PrefixTable;
use crate::peer::{PeerConfig, PeerError, PeerId};
use crate::policy::{self, Enforcement, Outbound, SessionState};
use crate::prefix::Prefix;
use crate::queue::PacketQueue;
use crate::session::{Rekey, Session, SessionLayer};
use crate::time::Instant;

/// Largest packet (IPv4) or frame the engine queues.
pub const SLOT: usize = 1600;
/// Most peers.
pub const MAX_PEERS: usize = 1024;

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
    endpoints: BTreeMap<SocketAddrV4, PeerId>,
    lan: PrefixTable<()>,
    neighbours: Neighbours,
    arp_wait: PacketQueue<ArpWait>,
    arp_asked: heapless::FnvIndexMap<Ipv4Addr, Instant, 32>,
    tx: PacketQueue<TxItem>,
    scratch: Vec<u8>,
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
    /// A buffer size that fits every transmission and every lan frame plus room.
    pub const BUFFER_LEN: usize = Self::HEADROOM + ETH + SLOT + Self::TAILROOM;

    /// A gateway with no peers. Allocates all its queues and tables now.
    pub fn new(cfg: GatewayConfig, layer: L) -> Self {
        let mut lan = PrefixTable::new();
        for p in &cfg.lan_prefixes {
            lan.insert(*p, ());
        }
        Self {
            neighbours: Neighbours::new(cfg.neighbour_lifetime),
            arp_wait: PacketQueue::new(cfg.arp_queue, SLOT),
            arp_asked: heapless::FnvIndexMap::new(),
            tx: PacketQueue::new(cfg.tx_queue, SLOT + ETH),
            scratch: vec![0; SLOT],
            flows: FlowTable::new(cfg.flow_capacity, cfg.flow_idle),
            counters: Counters::default(),
            peers: Vec::new(),
            owners: PrefixTable::new(),
            endpoints: BTreeMap::new(),
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
            if p.cfg.endpoint == cfg.endpoint {
                return Err(PeerError::DuplicateEndpoint);
            }
        }
        for prefix in &cfg.prefixes {
            if self.owners.iter().any(|(p, _)| p == prefix) {
                return Err(PeerError::PrefixTaken(*prefix));
            }
            let overlaps =
                |a: &Prefix, b: &Prefix| a.contains(b.network()) || b.contains(a.network());
            if self.cfg.lan_prefixes.iter().any(|l| overlaps(l, prefix)) {
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
        self.endpoints.insert(cfg.endpoint, id);
        self.peers[idx] = Some(PeerSlot::new(cfg, self.cfg.session_queue, SLOT));
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
        self.endpoints.remove(&slot.cfg.endpoint);
        Ok(slot.cfg)
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

    /// Global counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// A peer's counters.
    pub fn peer_counters(&self, id: PeerId) -> Option<&PeerCounters> {
        self.slot(id).map(|s| &s.counters)
    }

    /// Flow-table statistics (evictions).
    pub fn flow_stats(&self) -> FlowStats {
        self.flows.stats()
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
        self.peers
            .get_mut(usize::from(id.0))
            .and_then(Option::as_mut)
    }

    fn peer_by_endpoint(&self, ep: SocketAddrV4) -> Option<PeerId> {
        self.endpoints.get(&ep).copied()
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

    /// Starts our own handshake with a peer.
    fn start_handshake(&mut self, now: Instant, id: PeerId) {
        let Some(slot) = self
            .peers
            .get_mut(usize::from(id.0))
            .and_then(Option::as_mut)
        else {
            return;
        };
        let session = self.layer.connect(now, &slot.cfg);
        slot.current = Some(session);
        slot.pending = None;
        slot.pending_initiated = false;
        slot.pending_drained = false;
        slot.pending_opened = false;
        slot.pending_switch_at = None;
        slot.initiated = true;
        slot.established_seen = false;
        slot.retry_at = None;
        slot.handshake_started = now;
        slot.counters.handshakes_started += 1;
    }

    /// Seals the IPv4 packet at `buf[ip_off..ip_off + ip_len]` for a peer; the record's
    /// range in `buf`.
    fn seal(
        &mut self,
        now: Instant,
        id: PeerId,
        buf: &mut [u8],
        ip_off: usize,
        ip_len: usize,
    ) -> Result<core::ops::Range<usize>, DropReason> {
        let start = ip_off
            .checked_sub(Self::HEADROOM)
            .ok_or(DropReason::SealFailed)?;
        let end = ip_off + ip_len + Self::TAILROOM;
        let region = buf.get_mut(start..end).ok_or(DropReason::SealFailed)?;
        let interval = self.cfg.rekey_interval;
        let slot = self
            .peers
            .get_mut(usize::from(id.0))
            .and_then(Option::as_mut)
            .ok_or(DropReason::SealFailed)?;
        let session = slot.current.as_mut().ok_or(DropReason::SealFailed)?;
        let n = session
            .seal_in_place(now, region, ip_len)
            .map_err(|_| DropReason::SealFailed)?;
        slot.counters.sealed_packets += 1;
        slot.counters.sealed_bytes += ip_len as u64;
        if session.rekey_due() || now.saturating_since(slot.keyed_at) >= interval {
            rekey(&mut self.layer, slot, now);
        }
        Ok(start..start + n)
    }

    /// Writes the next transmission into `buf` (of at least [`Gateway::BUFFER_LEN`]
    /// bytes): handshake flights, queued frames and fragments, then packets that waited
    /// for a session now established.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        for i in 0..self.peers.len() {
            let Some(slot) = self.peers[i].as_mut() else {
                continue;
            };
            for s in [slot.current.as_mut(), slot.pending.as_mut()]
                .into_iter()
                .flatten()
            {
                if let Some(n) = s.poll_transmit(now, buf) {
                    self.counters.wan.tx(n);
                    return Some(Transmit {
                        destination: Destination::Peer(slot.cfg.endpoint),
                        len: n,
                    });
                }
            }
            // Records that overtook a handshake, opened now that it has keys.
            let h = Self::HEADROOM + ETH;
            let mut late = None;
            for s in [slot.current.as_mut(), slot.pending.as_mut()]
                .into_iter()
                .flatten()
            {
                if let Some(n) = s.poll_received(&mut buf[h..]) {
                    late = Some(n);
                    break;
                }
            }
            if let Some(n) = late {
                let id = PeerId(i as u16);
                if let Some(s) = self.slot_mut(id) {
                    s.counters.opened_packets += 1;
                    s.counters.opened_bytes += n as u64;
                }
                let base = buf.as_ptr() as usize;
                let frame = match self.forward_inner(now, id, buf, h, n) {
                    Verdict::ToLan { frame } => Some((frame.as_ptr() as usize - base, frame.len())),
                    _ => None,
                };
                if let Some((start, len)) = frame {
                    buf.copy_within(start..start + len, 0);
                    return Some(Transmit {
                        destination: Destination::Lan,
                        len,
                    });
                }
                // Parked for ARP or dropped (counted): look for more.
                return self.poll_transmit(now, buf);
            }
            // A handshake the peer started is established and its last flight is out:
            // only now may records sealed with it follow that flight.
            if slot.pending.as_ref().is_some_and(|s| s.is_established()) && !slot.pending_drained {
                slot.pending_drained = true;
                // The handshake's own duration (two round trips for DTLS with a
                // cookie) bounds how long its last flight takes to arrive.
                let took = now.saturating_since(slot.pending_started);
                let grace = took.clamp(core::time::Duration::from_millis(1), self.cfg.switch_grace);
                slot.pending_switch_at = Some(now + grace);
                self.update_peer(now, PeerId(i as u16));
            }
        }
        while let Some((item, _)) = self.tx.front() {
            match item {
                TxItem::Lan | TxItem::WanClear => {
                    let (_, n) = self.tx.pop_into(buf, 0)?;
                    if n == 0 {
                        self.counters.drop(DropReason::TxQueueFull);
                        continue;
                    }
                    let destination = if item == TxItem::Lan {
                        self.counters.lan.tx(n);
                        Destination::Lan
                    } else {
                        self.counters.wan.tx(n);
                        Destination::WanClear
                    };
                    return Some(Transmit {
                        destination,
                        len: n,
                    });
                }
                TxItem::Seal(id) => {
                    let (_, n) = self.tx.pop_into(buf, Self::HEADROOM)?;
                    if let Some(t) = self.seal_polled(now, id, buf, n) {
                        return Some(t);
                    }
                }
            }
        }
        for i in 0..self.peers.len() {
            let id = PeerId(i as u16);
            let ready = self
                .slot(id)
                .is_some_and(|s| s.established() && !s.waiting.is_empty());
            if !ready {
                continue;
            }
            let Some((_, n)) = self
                .slot_mut(id)
                .and_then(|s| s.waiting.pop_into(buf, Self::HEADROOM))
            else {
                continue;
            };
            if n > 0 {
                let h = Self::HEADROOM;
                self.record_flow(
                    now,
                    &buf[h..h + n],
                    Direction::Outbound,
                    Encryption::Encrypted,
                    false,
                );
            }
            if let Some(t) = self.seal_polled(now, id, buf, n) {
                return Some(t);
            }
        }
        None
    }

    fn seal_polled(
        &mut self,
        now: Instant,
        id: PeerId,
        buf: &mut [u8],
        n: usize,
    ) -> Option<Transmit> {
        if n == 0 {
            self.drop_for(DropReason::TxQueueFull, Some(id));
            return None;
        }
        let to = self.slot(id)?.cfg.endpoint;
        match self.seal(now, id, buf, Self::HEADROOM, n) {
            Ok(r) => {
                debug_assert_eq!(r.start, 0);
                self.counters.wan.tx(r.len());
                Some(Transmit {
                    destination: Destination::Peer(to),
                    len: r.len(),
                })
            }
            Err(reason) => {
                self.drop_for(reason, Some(id));
                None
            }
        }
    }

    /// When [`Gateway::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for slot in self.peers.iter().flatten() {
            min(slot.current.as_ref().and_then(|s| s.poll_timeout()));
            min(slot.pending.as_ref().and_then(|s| s.poll_timeout()));
            min(slot.retry_at);
            min(slot.pending_switch_at);
            if slot.current.as_ref().is_some_and(|s| !s.is_established()) {
                min(Some(slot.handshake_started + self.cfg.handshake_timeout));
            }
            min(slot.previous.as_ref().map(|(_, until)| *until));
            if slot.established() {
                min(Some(slot.keyed_at + self.cfg.rekey_interval));
            }
        }
        min(self
            .arp_wait
            .front()
            .map(|(w, _)| w.since + self.cfg.arp_timeout));
        t
    }

    /// Runs timers: session retransmissions and failures, rekeys, retry of failed
    /// peers, ARP expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.peers.len() {
            let id = PeerId(i as u16);
            let interval = self.cfg.rekey_interval;
            if let Some(slot) = self.slot_mut(id) {
                for s in [slot.current.as_mut(), slot.pending.as_mut()]
                    .into_iter()
                    .flatten()
                {
                    if s.poll_timeout().is_some_and(|t| t <= now) {
                        s.handle_timeout(now);
                    }
                }
                if slot
                    .previous
                    .as_ref()
                    .is_some_and(|(_, until)| *until <= now)
                {
                    slot.previous = None;
                }
            }
            // A handshake that takes too long counts as failed (the session layer's own
            // give-up may be minutes away: DTLS doubles its timer 7 times).
            let timeout = self.cfg.handshake_timeout;
            let timed_out = self.slot(id).is_some_and(|slot| {
                slot.current.as_ref().is_some_and(|s| !s.is_established())
                    && now.saturating_since(slot.handshake_started) >= timeout
            });
            if timed_out {
                if let Some(slot) = self.slot_mut(id) {
                    slot.current = None;
                    slot.initiated = false;
                    slot.counters.handshakes_failed += 1;
                }
                self.handshake_failed(now, id);
            }
            let layer = &mut self.layer;
            let mut retry = false;
            if let Some(slot) = self.peers.get_mut(i).and_then(Option::as_mut) {
                if slot.established() && now.saturating_since(slot.keyed_at) >= interval {
                    rekey(layer, slot, now);
                }
                retry = slot.current.is_none() && slot.retry_at.is_some_and(|t| t <= now);
            }
            if retry {
                // In the background: packets keep the fallback until it succeeds.
                self.start_handshake(now, id);
            }
            self.update_peer(now, id);
        }
        self.expire_arp(now);
    }

    /// Promotes established handshakes, retires failed ones, and applies the
    /// enforcement fallback to packets that waited for a failed handshake.
    fn update_peer(&mut self, now: Instant, id: PeerId) {
        let overlap = self.cfg.rekey_overlap;
        let Some(slot) = self
            .peers
            .get_mut(usize::from(id.0))
            .and_then(Option::as_mut)
        else {
            return;
        };
        // Our own new handshake is used as soon as it is established. One the peer
        // started replaces a working session only once the peer uses it (or after a
        // grace period, for a peer with nothing to send): records sealed with it could
        // otherwise overtake its last flight and reach a peer not yet able to open them.
        let switch = slot.pending_opened || slot.pending_switch_at.is_some_and(|t| t <= now);
        let pending_ready = slot.pending.as_ref().is_some_and(|s| s.is_established())
            && (slot.pending_initiated || !slot.established() || (slot.pending_drained && switch));
        if pending_ready {
            slot.pending_drained = false;
            slot.pending_opened = false;
            slot.pending_switch_at = None;
            let replaced = slot.current.take();
            slot.current = slot.pending.take();
            slot.established_seen = false;
            if let Some(old) = replaced.filter(|s| s.is_established()) {
                // A peer's own new handshake means a restart; ours, a rekey.
                if !slot.pending_initiated {
                    slot.counters.sessions_replaced += 1;
                }
                slot.previous = Some((old, now + overlap));
            }
            slot.pending_initiated = false;
        }
        if slot.pending.as_ref().is_some_and(|s| s.is_failed()) {
            slot.pending = None;
            slot.pending_initiated = false;
            slot.counters.handshakes_failed += 1;
        }
        if slot.established() && !slot.established_seen {
            slot.established_seen = true;
            slot.initiated = false;
            slot.keyed_at = now;
            slot.failed = false;
            slot.retry_at = None;
            slot.counters.handshakes_completed += 1;
        }
        if !slot.current.as_ref().is_some_and(|s| s.is_failed()) {
            return;
        }
        slot.current = None;
        slot.initiated = false;
        slot.counters.handshakes_failed += 1;
        if slot.pending.is_some() {
            return;
        }
        self.handshake_failed(now, id);
    }

    /// Enters the fallback after a failed handshake (retry later), and applies it to
    /// the packets that waited.
    fn handshake_failed(&mut self, now: Instant, id: PeerId) {
        let global = self.cfg.enforcement;
        let retry = self.cfg.handshake_retry;
        let Some(slot) = self
            .peers
            .get_mut(usize::from(id.0))
            .and_then(Option::as_mut)
        else {
            return;
        };
        slot.failed = true;
        slot.retry_at = Some(now + retry);
        let disposition = policy::after_failed_handshake(slot.enforcement(global));
        // Flush the waiting packets per enforcement.
        while let Some((_, pkt)) = slot.waiting.front() {
            match disposition {
                Outbound::Clear(enc) => {
                    if let Some(mut ev) = flow_event(pkt) {
                        ev.direction = Direction::Outbound;
                        ev.encryption = enc;
                        self.flows.record(now, &ev);
                    }
                    if self.tx.push(TxItem::WanClear, pkt).is_err() {
                        self.counters.drop(DropReason::TxQueueFull);
                        slot.counters.drops += 1;
                    }
                }
                Outbound::Drop(reason, enc) => {
                    if let Some(mut ev) = flow_event(pkt) {
                        ev.direction = Direction::Outbound;
                        ev.encryption = enc;
                        ev.denied = true;
                        self.flows.record(now, &ev);
                    }
                    self.counters.drop(reason);
                    slot.counters.drops += 1;
                }
                // Not produced for a failed handshake; count rather than lose silently.
                Outbound::Seal | Outbound::Wait { .. } => {
                    self.counters.drop(DropReason::HandshakeFailed);
                    slot.counters.drops += 1;
                }
            }
            slot.waiting.pop();
        }
    }

    /// Asks lan who has `ip`, at most once per ARP timeout.
    fn arp_request(&mut self, now: Instant, ip: Ipv4Addr) {
        if let Some(t) = self.arp_asked.get(&ip) {
            if now.saturating_since(*t) < self.cfg.arp_timeout {
                return;
            }
        }
        if self.arp_asked.len() == self.arp_asked.capacity() {
            self.arp_asked.clear();
        }
        let _ = self.arp_asked.insert(ip, now);
        let req = arp::request(self.cfg.lan_mac, self.cfg.lan_ip, ip);
        let pushed = self.tx.push_with(TxItem::Lan, arp::ARP_FRAME_LEN, |b| {
            let _ = arp::emit(b, EthernetAddress::BROADCAST, &req);
        });
        match pushed {
            Ok(()) => self.counters.arp_requests += 1,
            Err(_) => self.counters.drop(DropReason::TxQueueFull),
        }
    }

    fn expire_arp(&mut self, now: Instant) {
        let timeout = self.cfg.arp_timeout;
        let counters = &mut self.counters;
        self.arp_wait.retain(
            |w, _| now.saturating_since(w.since) < timeout,
            |_, _| counters.drop(DropReason::ArpUnresolved),
        );
    }

    /// Moves packets waiting for `ip`'s MAC to the output queue.
    fn arp_resolved(&mut self, ip: Ipv4Addr, mac: EthernetAddress) {
        let our = self.cfg.lan_mac;
        let tx = &mut self.tx;
        let counters = &mut self.counters;
        self.arp_wait.retain(
            |w, _| w.next_hop != ip,
            |_, pkt| {
                let r = tx.push_with(TxItem::Lan, ETH + pkt.len(), |b| {
                    write_eth(&mut b[..ETH], mac, our);
                    b[ETH..].copy_from_slice(pkt);
                });
                if r.is_err() {
                    counters.drop(DropReason::TxQueueFull);
                }
            },
        );
    }
}

/// Starts a rekey: inside the session if it can (new keys, old ones overlapping), else
/// by a new handshake whose session replaces the current one when established (the old
/// one then keeps opening records for the overlap).
fn rekey<L: SessionLayer>(layer: &mut L, slot: &mut PeerSlot<L::Session>, now: Instant) {
    slot.keyed_at = now;
    let Some(current) = slot.current.as_mut() else {
        return;
    };
    let by_new_session = match current.start_rekey(now) {
        Rekey::Started => {
            slot.counters.rekeys += 1;
            false
        }
        Rekey::InProgress => false,
        Rekey::ByNewSession => true,
    };
    if by_new_session && slot.pending.is_none() {
        slot.pending = Some(layer.connect(now, &slot.cfg));
        slot.pending_initiated = true;
        slot.counters.rekeys += 1;
        slot.counters.handshakes_started += 1;
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
