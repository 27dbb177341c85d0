//! Peers that move: datagrams from addresses that are no peer's endpoint.
//!
//! A peer is identified by the key it authenticates with, not by its address, so that
//! its endpoint can follow it (NAT, DHCP), as WireGuard's does. Such a datagram is
//! admitted by [`SourceLimiter`](crate::admission::SourceLimiter) first, then:
//! - a ClientHello goes to the session layer's front door with every peer's pins: it
//!   is answered statelessly (a cookie bound to the source address and port) until the
//!   sender proves it receives there; only a hello with a valid cookie makes a
//!   session, kept here (a bounded table, the oldest given up) until it completes;
//! - that handshake, once complete, has authenticated one pinned key: the session goes
//!   to the peer that pins it (as a handshake from its own endpoint would) and the
//!   peer's endpoint moves to the source. A key no peer pins never completes; it
//!   changes nothing;
//! - an application record is tried against the peers' established sessions (replay
//!   window first, then the tag); the first that opens it names the peer, and the
//!   peer's endpoint moves to the source if it is the newest record of a session in
//!   use (a delayed record from an address the peer has left, or one of the replaced
//!   session's stragglers, is delivered but moves nothing back). A replayed record
//!   fails the window and moves nothing; garbage fails the tag and moves nothing.
//!
//! Nothing else moves an endpoint. The cost of a forged datagram is bounded by the
//! admission buckets: at most one cookie, or one trial open per established session.

use core::net::SocketAddrV4;
use core::ops::Range;

use super::peers::PeerSlot;
use super::wan::install_theirs;
use super::{Gateway, TxItem};
use crate::counters::DropReason;
use crate::peer::PeerId;
use crate::session::{Accepted, Received, Session, SessionError, SessionLayer};
use crate::Instant;

/// Handshakes from unknown addresses run at once; a new one gives up the oldest.
pub(super) const MAX_STRANGERS: usize = 8;

/// A handshake accepted (cookie returned) from an address that is no peer's endpoint,
/// whose peer is not known until it authenticates.
#[derive(Debug)]
pub(super) struct Stranger<S> {
    pub from: SocketAddrV4,
    pub session: S,
    pub since: Instant,
}

/// What became of a datagram from an unknown address.
pub(super) enum FromStranger {
    /// It belongs to this peer (an opened record, or its completed handshake); the
    /// peer's endpoint has moved to the source.
    Peer(PeerId, Result<Received, SessionError>),
    /// Absorbed (a cookie answer, or a step of a handshake still running).
    Consumed,
    /// Dropped for this reason (counted by the caller).
    Dropped(DropReason),
}

enum Trial {
    /// Opened by this peer's session; `moves` if it may move the endpoint (the newest
    /// record of the session in use, not a straggler).
    Opened(PeerId, Range<usize>, bool),
    Replay,
    Nothing,
}

impl<L: SessionLayer> Gateway<L> {
    /// A datagram from `from`, which is no peer's current endpoint.
    pub(super) fn stranger_datagram(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        dg: &mut [u8],
    ) -> FromStranger {
        if !self.admission.admit(now, *from.ip()) {
            return FromStranger::Dropped(DropReason::SourceLimited);
        }
        let initial = L::is_initial(dg);
        if let Some(i) = self.strangers.iter().position(|s| s.from == from) {
            match self.strangers[i].session.handle_datagram(now, dg) {
                Ok(Received::Handshake) => {
                    if self.strangers[i].session.is_established() {
                        return self.adopt(now, i);
                    }
                    return FromStranger::Consumed;
                }
                // The handshake's keys do not open other records; a new hello (another
                // random) starts over below.
                Ok(Received::Data(_)) | Err(_) => {}
            }
        }
        if initial {
            return self.stranger_hello(now, from, dg);
        }
        if !L::is_data(dg) {
            return FromStranger::Dropped(DropReason::UnknownPeer);
        }
        match self.trial_open(now, dg) {
            Trial::Opened(id, r, moves) => {
                if moves {
                    self.move_endpoint(now, id, from);
                } else {
                    self.counters.stale_moves_refused += 1;
                }
                FromStranger::Peer(id, Ok(Received::Data(r)))
            }
            Trial::Replay => FromStranger::Dropped(DropReason::Replay),
            Trial::Nothing => FromStranger::Dropped(DropReason::UnknownPeer),
        }
    }

    fn stranger_hello(&mut self, now: Instant, from: SocketAddrV4, dg: &mut [u8]) -> FromStranger {
        if self.all_pins.is_empty() {
            return FromStranger::Dropped(DropReason::UnknownPeer);
        }
        match self
            .layer
            .accept(now, from, &self.all_pins, dg, &mut self.reply)
        {
            Accepted::Reply(n) => {
                let reply = self.reply.get(..n).unwrap_or_default();
                if self.tx.push(TxItem::ReplyTo(from), reply).is_err() {
                    return FromStranger::Dropped(DropReason::TxQueueFull);
                }
                FromStranger::Consumed
            }
            Accepted::Session(session) => {
                self.counters.roaming_handshakes += 1;
                self.strangers.retain(|s| s.from != from);
                if self.strangers.len() >= MAX_STRANGERS {
                    self.strangers.remove(0);
                }
                self.strangers.push(Stranger {
                    from,
                    session,
                    since: now,
                });
                FromStranger::Consumed
            }
            Accepted::Ignored => FromStranger::Dropped(DropReason::HelloIgnored),
        }
    }

    /// A stranger's handshake completed: its session goes to the peer whose pin it
    /// authenticated, and the peer's endpoint to its address.
    fn adopt(&mut self, now: Instant, i: usize) -> FromStranger {
        let Stranger { from, session, .. } = self.strangers.remove(i);
        let pin = session.peer_pin();
        let id = self.peers.iter().enumerate().find_map(|(i, s)| {
            let s = s.as_ref()?;
            pin.filter(|p| s.cfg.pins_key(p)).map(|_| PeerId(i as u16))
        });
        // The pins changed while it ran: nobody's.
        let Some(id) = id else {
            return FromStranger::Dropped(DropReason::UnknownPeer);
        };
        self.counters.roaming_handshakes_completed += 1;
        if let Some(slot) = self.slot_mut(id) {
            slot.counters.handshakes_started += 1;
            install_theirs(slot, session, now);
        }
        self.move_endpoint(now, id, from);
        FromStranger::Peer(id, Ok(Received::Handshake))
    }

    /// Offers an application record to every established session, the replay window
    /// before the tag; the datagram is restored between tries (a refused open may
    /// overwrite it).
    fn trial_open(&mut self, now: Instant, dg: &mut [u8]) -> Trial {
        if dg.len() > self.scratch.len() {
            return Trial::Nothing;
        }
        self.scratch[..dg.len()].copy_from_slice(dg);
        self.counters.bytes_copied += dg.len() as u64;
        let mut replay = false;
        let mut tried = false;
        for (i, slot) in self.peers.iter_mut().enumerate() {
            let Some(slot) = slot.as_mut() else { continue };
            let PeerSlot {
                current,
                pending,
                previous,
                pending_opened,
                ..
            } = slot;
            // (session, is pending, is a straggler's)
            let sessions = [
                (current.as_mut(), false, false),
                (pending.as_mut(), true, false),
                (previous.as_mut().map(|(s, _)| s), false, true),
            ];
            for (s, is_pending, straggler) in sessions {
                let Some(s) = s.filter(|s| s.is_established()) else {
                    continue;
                };
                if tried {
                    dg.copy_from_slice(&self.scratch[..dg.len()]);
                    self.counters.bytes_copied += dg.len() as u64;
                }
                tried = true;
                match s.handle_datagram(now, dg) {
                    Ok(Received::Data(r)) => {
                        *pending_opened |= is_pending;
                        let moves = !straggler && s.opened_newest();
                        return Trial::Opened(PeerId(i as u16), r, moves);
                    }
                    Err(SessionError::Replay) => replay = true,
                    Ok(Received::Handshake) | Err(_) => {}
                }
            }
        }
        if replay {
            Trial::Replay
        } else {
            Trial::Nothing
        }
    }

    /// Peer `id` authenticated from `to`: records go there from now on.
    pub(super) fn move_endpoint(&mut self, now: Instant, id: PeerId, to: SocketAddrV4) {
        if self.slot(id).is_none_or(|s| s.endpoint == Some(to)) {
            return;
        }
        self.bind_endpoint(id, to);
        self.counters.endpoint_moves += 1;
        if let Some(s) = self.slot_mut(id) {
            s.moves += 1;
            s.last_move = Some(now);
        }
    }

    /// Runs the strangers' timers; a handshake that failed or ran out of time goes.
    pub(super) fn stranger_timers(&mut self, now: Instant) {
        let timeout = self.cfg.handshake_timeout;
        for st in &mut self.strangers {
            if st.session.poll_timeout().is_some_and(|t| t <= now) {
                st.session.handle_timeout(now);
            }
        }
        self.strangers
            .retain(|s| !s.session.is_failed() && now.saturating_since(s.since) < timeout);
    }

    /// When the strangers' timers are next due.
    pub(super) fn stranger_timeout(&self) -> Option<Instant> {
        let timeout = self.cfg.handshake_timeout;
        self.strangers
            .iter()
            .flat_map(|s| [s.session.poll_timeout(), Some(s.since + timeout)])
            .flatten()
            .min()
    }

    /// The next handshake datagram of a stranger's handshake, to its address.
    pub(super) fn poll_stranger(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(SocketAddrV4, usize)> {
        self.strangers
            .iter_mut()
            .find_map(|s| s.session.poll_transmit(now, buf).map(|n| (s.from, n)))
    }
}
