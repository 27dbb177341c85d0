//! wan → lan: records from peers (opened, replay-checked, anti-spoofed) and plaintext
//! packets (enforcement), then delivery to workloads through ARP.

use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;

use super::peers::{slot_in, Attempt, Link, PeerSlot};
use super::roam::FromStranger;
use super::{write_eth, ArpWait, Gateway, TxItem, Verdict, ETH};
use crate::antispoof::{self, InnerDestination};
use crate::counters::DropReason;
use crate::flowlog::{Direction, Encryption};
use crate::mss;
use crate::peer::PeerId;
use crate::policy::{self, InboundClear};
use crate::session::{Accepted, Received, Session, SessionError, SessionLayer};
use crate::{Fingerprint, Instant};

/// Whether our own handshake wins when both sides started one at once. Both sides must
/// come to opposite answers from what each knows: its own identity and the other's
/// pin (the one it last authenticated with, else the first) are the same pair seen
/// from both ends, whatever NAT does to the addresses, and whether or not either knows
/// the other's endpoint. A layer without an identity to tell falls back to the wan
/// endpoints (the lower one wins), which only agree when nobody translates them.
fn wins_tie<S>(own_pin: Option<Fingerprint>, ours: SocketAddrV4, slot: &PeerSlot<S>) -> bool {
    match own_pin {
        Some(own) => own.0 < slot.pin_used.unwrap_or(slot.cfg.fingerprint).0,
        None => slot.endpoint.is_some_and(|theirs| ours < theirs),
    }
}

/// Takes a handshake the peer started (its hello carried a valid cookie): the running
/// attempt of a peer that is not up, or, make before break, the pending session of
/// one that is (the current session stays in use until this completes).
pub(super) fn install_theirs<S: Session>(slot: &mut PeerSlot<S>, session: S, now: Instant) {
    if slot.link == Link::Up {
        // A hello replacing an unfinished one of the peer's keeps its start time, so
        // that a stream of hellos cannot keep a pending handshake alive.
        let theirs_unfinished =
            !slot.pending_initiated && slot.pending.as_ref().is_some_and(|s| !s.is_established());
        if !theirs_unfinished {
            slot.pending_started = now;
        }
        slot.pending = Some(session);
        slot.pending_initiated = false;
        slot.pending_drained = false;
        slot.pending_opened = false;
        slot.pending_switch_at = None;
    } else {
        slot.current = Some(session);
        slot.pending = None;
        slot.set_attempt(
            Attempt::Running {
                started: now,
                ours: false,
            },
            now,
        );
    }
}

/// A keepalive received this long after our last record to its sender is answered.
const KEEPALIVE_ANSWER_GAP: Duration = Duration::from_secs(1);

impl<L: SessionLayer> Gateway<L> {
    /// Handles a UDP payload from `from` at `buf[off..off + len]` (a DTLS datagram).
    pub fn handle_wan_datagram<'b>(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        buf: &'b mut [u8],
        off: usize,
        len: usize,
    ) -> Verdict<'b> {
        self.counters.wan.rx(len);
        let Some(end) = off.checked_add(len).filter(|e| *e <= buf.len()) else {
            return self.drop_for(DropReason::OpenFailed, None);
        };
        let (id, outcome) = match self.peer_by_endpoint(from) {
            Some(id) => {
                let outcome = self.feed_sessions(now, id, from, &mut buf[off..end]);
                (id, outcome)
            }
            // Not a peer's endpoint: perhaps a peer that moved (see `roam.rs`).
            None => match self.stranger_datagram(now, from, &mut buf[off..end]) {
                FromStranger::Peer(id, outcome) => (id, outcome),
                FromStranger::Consumed => return Verdict::Consumed,
                FromStranger::Dropped(reason) => return self.drop_for(reason, None),
            },
        };
        self.update_peer(now, id);
        match outcome {
            Ok(Received::Handshake) => Verdict::Consumed,
            Ok(Received::Data(r)) => {
                // Opened: the peer authenticated this record.
                if let Some(s) = self.slot_mut(id) {
                    s.last_authenticated = Some(now);
                    if r.is_empty() {
                        s.counters.keepalives_received += 1;
                        // Answered when we have been silent, so that each side hears
                        // the other at its own keepalive rate, whatever the peer's
                        // interval; an answer to our own keepalive finds us having just
                        // sent, so the exchange ends there (at most one answer a
                        // second, and only to authenticated records).
                        if now.saturating_since(s.last_sent) >= KEEPALIVE_ANSWER_GAP {
                            s.keepalive_owed = true;
                        }
                        return Verdict::Consumed;
                    }
                    s.counters.opened_packets += 1;
                    s.counters.opened_bytes += r.len() as u64;
                }
                if r.start < ETH || r.end > len {
                    return self.drop_for(DropReason::OpenFailed, Some(id));
                }
                self.forward_inner(now, id, buf, off + r.start, r.len())
            }
            Err(SessionError::Replay) => self.drop_for(DropReason::Replay, Some(id)),
            Err(SessionError::StaleHandshake) => {
                self.drop_for(DropReason::StaleHandshake, Some(id))
            }
            Err(SessionError::NotEstablished) | Err(SessionError::NotThisSession) => {
                // We restarted while the peer kept its session: handshake so that
                // traffic resumes by itself. (Only from idle: a forged record must not
                // cut a retry's backoff short.)
                if self.slot(id).is_some_and(|s| s.link == Link::Idle) {
                    self.start_handshake(now, id);
                }
                self.drop_for(DropReason::NoSession, Some(id))
            }
            Err(SessionError::Invalid) if L::is_initial(&buf[off..end]) => {
                self.drop_for(DropReason::HelloIgnored, Some(id))
            }
            Err(_) => self.drop_for(DropReason::OpenFailed, Some(id)),
        }
    }

    /// Offers a datagram to the peer's sessions, or, if it carries a ClientHello, to the
    /// session layer's front door. A hello never reaches an established session, and a
    /// new handshake never replaces the current session before it completes.
    fn feed_sessions(
        &mut self,
        now: Instant,
        id: PeerId,
        from: SocketAddrV4,
        dg: &mut [u8],
    ) -> Result<Received, SessionError> {
        if L::is_initial(dg) {
            return self.hello(now, id, from, dg);
        }
        self.offer(now, id, dg)
    }

    /// Offers a datagram to the peer's sessions in turn.
    fn offer(&mut self, now: Instant, id: PeerId, dg: &mut [u8]) -> Result<Received, SessionError> {
        let Some(slot) = slot_in(&mut self.peers, id) else {
            return Err(SessionError::NotThisSession);
        };
        let mut last = Err(SessionError::NotThisSession);
        // A refused open may leave the datagram overwritten (some AEADs zero it): keep a
        // copy when another session will be offered it too.
        let several = usize::from(slot.current.is_some())
            + usize::from(slot.pending.is_some())
            + usize::from(slot.previous.is_some())
            > 1;
        let keep = several && dg.len() <= self.scratch.len();
        if keep {
            self.scratch[..dg.len()].copy_from_slice(dg);
            self.counters.bytes_copied += dg.len() as u64;
        }
        let previous = slot.previous.as_mut().map(|(s, _)| s);
        // A handshake in progress is offered datagrams first: an established session
        // may otherwise take (and ignore) the messages of the handshake replacing it.
        let pending_first = slot.pending.as_ref().is_some_and(|s| !s.is_established());
        let order = if pending_first {
            [
                (slot.pending.as_mut(), true),
                (slot.current.as_mut(), false),
                (previous, false),
            ]
        } else {
            [
                (slot.current.as_mut(), false),
                (slot.pending.as_mut(), true),
                (previous, false),
            ]
        };
        let mut too_early = false;
        let mut opened_on_pending = false;
        let mut result = None;
        for (s, is_pending) in order {
            let Some(s) = s else { continue };
            match s.handle_datagram(now, dg) {
                Ok(r) => {
                    opened_on_pending = is_pending && matches!(r, Received::Data(_));
                    result = Some(r);
                    break;
                }
                // Refusals let the next session try: a replay check (made before the
                // tag is verified) can refuse another session's record, whose sequence
                // numbers are unrelated. A replay is reported only if no session opens it.
                Err(e) => {
                    too_early |= e == SessionError::NotEstablished;
                    if last == Err(SessionError::NotThisSession) || e == SessionError::Replay {
                        last = Err(e);
                    }
                    if keep {
                        dg.copy_from_slice(&self.scratch[..dg.len()]);
                        self.counters.bytes_copied += dg.len() as u64;
                    }
                }
            }
        }
        if let Some(r) = result {
            slot.pending_opened |= opened_on_pending;
            return Ok(r);
        }
        // No established session took it, but a handshake is finishing: the record may
        // have overtaken that handshake's last flight. Let the handshake keep it.
        if too_early {
            for s in [slot.pending.as_mut(), slot.current.as_mut()]
                .into_iter()
                .flatten()
            {
                if !s.is_established() && s.buffer_early(now, dg) {
                    self.counters.buffered_early += 1;
                    return Ok(Received::Handshake);
                }
            }
        }
        last
    }

    /// A datagram with a ClientHello from the peer's endpoint (anyone can forge one).
    /// The layer answers it statelessly until the sender proves its address; a session
    /// it makes only ever becomes the running handshake or the pending one.
    fn hello(
        &mut self,
        now: Instant,
        id: PeerId,
        from: SocketAddrV4,
        dg: &mut [u8],
    ) -> Result<Received, SessionError> {
        let ours = self.cfg.wan_endpoint;
        let own_pin = self.layer.own_pin();
        let Some(slot) = slot_in(&mut self.peers, id) else {
            return Err(SessionError::NotThisSession);
        };
        // Simultaneous initiation (first contact, or rekeys by new handshake): one side
        // keeps its own handshake, the other answers.
        let racing = matches!(slot.attempt(), Some(Attempt::Running { ours: true, .. }))
            || (slot.pending_initiated
                && slot.pending.as_ref().is_some_and(|s| !s.is_established()));
        if racing && wins_tie(own_pin, ours, slot) {
            return Ok(Received::Handshake);
        }
        // A hello the peer retransmits (our answer was lost) belongs to the handshake
        // we run as its server, which answers again.
        let answering = matches!(slot.attempt(), Some(Attempt::Running { ours: false, .. }))
            || (!slot.pending_initiated
                && slot.pending.as_ref().is_some_and(|s| !s.is_established()));
        if answering {
            let server = if slot.link == Link::Up {
                slot.pending.as_mut()
            } else {
                slot.current.as_mut()
            };
            if let Some(Ok(r)) = server.map(|s| s.handle_datagram(now, dg)) {
                return Ok(r);
            }
        }
        let pins: heapless::Vec<Fingerprint, 2> = slot.cfg.pins().collect();
        let session = match self.layer.accept(now, from, &pins, dg, &mut self.reply) {
            Accepted::Session(s) => s,
            Accepted::Reply(n) => {
                slot.counters.cookies_sent += 1;
                let reply = self.reply.get(..n).unwrap_or_default();
                if self.tx.push(TxItem::Reply(id), reply).is_err() {
                    self.counters.drop(DropReason::TxQueueFull);
                }
                return Ok(Received::Handshake);
            }
            Accepted::Ignored => return Err(SessionError::Invalid),
        };
        slot.counters.handshakes_started += 1;
        install_theirs(slot, session, now);
        Ok(Received::Handshake)
    }

    pub(super) fn forward_inner<'b>(
        &mut self,
        now: Instant,
        id: PeerId,
        buf: &'b mut [u8],
        ip_off: usize,
        len: usize,
    ) -> Verdict<'b> {
        let Some(p) = crate::ipv4::checked(&buf[ip_off..ip_off + len]) else {
            return self.drop_for(DropReason::MalformedPacket, Some(id));
        };
        if !crate::ipv4::checksum_ok(&p) {
            return self.drop_for(DropReason::MalformedPacket, Some(id));
        }
        let ip_len = usize::from(p.total_len());
        let (src, dst) = (p.src_addr(), p.dst_addr());
        let tcp = p.next_header() == smoltcp::wire::IpProtocol::Tcp;
        match antispoof::check_inner(id, src, dst, &self.owners, &self.lan) {
            Ok(InnerDestination::Lan) => {}
            Ok(InnerDestination::Peer(to)) => {
                return self.relay(now, id, to, buf, ip_off, ip_len, tcp)
            }
            Err(reason) => return self.drop_for(reason, Some(id)),
        }
        if tcp && mss::clamp(&mut buf[ip_off..ip_off + ip_len], self.clamped_mss()) {
            self.counters.mss_clamped += 1;
        }
        self.record_flow(
            now,
            &buf[ip_off..ip_off + ip_len],
            Direction::Inbound,
            Encryption::Encrypted,
            false,
        );
        self.deliver_lan(now, buf, ip_off, ip_len, dst, Some(id))
    }

    /// Handles a plaintext IPv4 packet from wan at `buf[ip_off..ip_off + len]`;
    /// `ip_off >= 14` leaves room for the lan Ethernet header.
    pub fn handle_wan_packet<'b>(
        &mut self,
        now: Instant,
        buf: &'b mut [u8],
        ip_off: usize,
        len: usize,
    ) -> Verdict<'b> {
        self.counters.wan.rx(len);
        let Some(pkt) = ip_off.checked_add(len).and_then(|e| buf.get(ip_off..e)) else {
            return self.drop_for(DropReason::MalformedPacket, None);
        };
        let Some(p) = crate::ipv4::checked(pkt) else {
            return self.drop_for(DropReason::MalformedPacket, None);
        };
        if !crate::ipv4::checksum_ok(&p) || ip_off < ETH {
            return self.drop_for(DropReason::MalformedPacket, None);
        }
        let ip_len = usize::from(p.total_len());
        let (src, dst) = (p.src_addr(), p.dst_addr());
        let global = self.cfg.enforcement;
        let src_peer = self.owners.lookup(src).copied();
        let src_slot = src_peer.and_then(|id| self.slot(id));
        let src_enf = src_slot.map(|s| s.enforcement(global));
        let tunnel = src_slot.is_some_and(|s| s.link == Link::Up);
        let decision = policy::inbound_clear(
            self.cfg.private.contains(src),
            src_enf,
            tunnel,
            self.lan.contains(dst) && dst != self.cfg.lan_ip,
            global,
        );
        match decision {
            InboundClear::Forward => {
                self.record_flow(
                    now,
                    &buf[ip_off..ip_off + ip_len],
                    Direction::Inbound,
                    Encryption::NotEncrypted,
                    false,
                );
                self.deliver_lan(now, buf, ip_off, ip_len, dst, None)
            }
            InboundClear::Drop(reason) => {
                if reason == DropReason::PlaintextForProtected {
                    self.record_flow(
                        now,
                        &buf[ip_off..ip_off + ip_len],
                        Direction::Inbound,
                        Encryption::NotAccepted,
                        true,
                    );
                }
                self.drop_for(reason, src_peer)
            }
        }
    }

    /// Gives the packet an Ethernet header for its workload (or, for a routed
    /// destination, its router), or parks it for ARP.
    fn deliver_lan<'b>(
        &mut self,
        now: Instant,
        buf: &'b mut [u8],
        ip_off: usize,
        ip_len: usize,
        dst: Ipv4Addr,
        peer: Option<PeerId>,
    ) -> Verdict<'b> {
        // Our own lan address is the appliance's, not a workload's (an ICMP error
        // about a flow record we exported through the tunnel, say): nobody would
        // answer an ARP for it, and the packet would wait for nothing.
        if dst == self.cfg.lan_ip {
            return self.drop_for(DropReason::ToAppliance, peer);
        }
        // Routed destinations go to their router; the caller checked that `dst` is
        // protected.
        let next_hop = self.lan_next_hop(dst).unwrap_or(dst);
        match self.neighbours.lookup(now, next_hop) {
            Some(mac) => {
                let start = ip_off - ETH;
                write_eth(&mut buf[start..ip_off], mac, self.cfg.lan_mac);
                self.counters.lan.tx(ETH + ip_len);
                Verdict::ToLan {
                    frame: &mut buf[start..ip_off + ip_len],
                }
            }
            None => {
                let wait = ArpWait {
                    next_hop,
                    since: now,
                };
                if self
                    .arp_wait
                    .push(wait, &buf[ip_off..ip_off + ip_len])
                    .is_err()
                {
                    return self.drop_for(DropReason::ArpQueueFull, peer);
                }
                self.arp_request(now, next_hop);
                Verdict::Consumed
            }
        }
    }
}
