//! Session lifecycle per peer: handshakes started on demand, timers, promotion of
//! established handshakes, failures and their enforcement fallback, rekeys.

use super::peers::slot_in;
use super::peers::PeerSlot;
use super::{flow_event, Gateway, TxItem};
use crate::counters::DropReason;
use crate::flowlog::Direction;
use crate::peer::PeerId;
use crate::policy::{self, Outbound};
use crate::session::{Rekey, Session, SessionLayer};
use crate::time::Instant;

impl<L: SessionLayer> Gateway<L> {
    /// Starts our own handshake with a peer.
    pub(super) fn start_handshake(&mut self, now: Instant, id: PeerId) {
        let Some(slot) = slot_in(&mut self.peers, id) else {
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
    pub(super) fn update_peer(&mut self, now: Instant, id: PeerId) {
        let overlap = self.cfg.rekey_overlap;
        let Some(slot) = slot_in(&mut self.peers, id) else {
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
    pub(super) fn handshake_failed(&mut self, now: Instant, id: PeerId) {
        let global = self.cfg.enforcement;
        let retry = self.cfg.handshake_retry;
        let Some(slot) = slot_in(&mut self.peers, id) else {
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
}

/// Starts a rekey: inside the session if it can (new keys, old ones overlapping), else
/// by a new handshake whose session replaces the current one when established (the old
/// one then keeps opening records for the overlap).
pub(super) fn rekey<L: SessionLayer>(layer: &mut L, slot: &mut PeerSlot<L::Session>, now: Instant) {
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
