//! Session lifecycle per peer: handshakes started on demand and retried with backoff,
//! promotion of completed handshakes (make before break), keepalive and dead-peer
//! timers, failures and their enforcement fallback, rekeys.
//!
//! Only the engine's own timers and authenticated input move a peer's [`Link`]: a
//! handshake ends by completing or by the handshake timeout, and a peer goes down only
//! when nothing authenticated came from it for `dead_after`.

use core::time::Duration;

use super::peers::{slot_in, Attempt, Link, PeerSlot};
use super::{flow_event, Gateway, TxItem};
use crate::counters::DropReason;
use crate::flowlog::Direction;
use crate::peer::PeerId;
use crate::policy::{self, Outbound};
use crate::session::{Rekey, Session, SessionLayer};
use crate::status::FailureReason;
use crate::Instant;

impl<L: SessionLayer> Gateway<L> {
    /// Starts our own handshake with a peer that is not up.
    pub(super) fn start_handshake(&mut self, now: Instant, id: PeerId) {
        let Some(slot) = slot_in(&mut self.peers, id) else {
            return;
        };
        if slot.link == Link::Up {
            return;
        }
        if slot.endpoint.is_none() {
            // Nowhere to call: the peer calls us (its handshake comes through the
            // front door for unknown addresses); packets wait as for a handshake.
            slot.current = None;
            slot.set_attempt(Attempt::Awaiting { started: now }, now);
            return;
        }
        slot.current = Some(self.layer.connect(now, &slot.cfg));
        slot.pending = None;
        slot.set_attempt(
            Attempt::Running {
                started: now,
                ours: true,
            },
            now,
        );
        slot.counters.handshakes_started += 1;
    }

    /// Rekeys every up tunnel now, by a new handshake where the session layer needs
    /// one (make before break: the current session carries traffic until the new one
    /// takes over). After an identity rotation, so that new sessions authenticate
    /// with the new key. Returns how many tunnels started a rekey.
    pub fn rekey_all(&mut self, now: Instant) -> usize {
        let layer = &mut self.layer;
        let mut n = 0;
        for slot in self.peers.iter_mut().flatten() {
            if slot.link == Link::Up {
                rekey(layer, slot, now);
                n += 1;
            }
        }
        n
    }

    /// When [`Gateway::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        let cfg = &self.cfg;
        for slot in self.peers.iter().flatten() {
            min(slot.current.as_ref().and_then(|s| s.poll_timeout()));
            min(slot.pending.as_ref().and_then(|s| s.poll_timeout()));
            min(slot.pending_switch_at);
            if slot.pending.as_ref().is_some_and(|s| !s.is_established()) {
                min(Some(slot.pending_started + cfg.handshake_timeout));
            }
            min(slot.previous.as_ref().map(|(_, until)| *until));
            match slot.attempt() {
                Some(Attempt::Running { started, .. } | Attempt::Awaiting { started }) => {
                    min(Some(started + cfg.handshake_timeout))
                }
                Some(Attempt::Backoff { until }) => min(Some(until)),
                None => {}
            }
            if slot.link == Link::Up {
                min(Some(slot.keyed_at + cfg.rekey_interval));
                min(Some(slot.last_sent + cfg.keepalive_interval));
                min(slot.last_authenticated.map(|t| t + cfg.dead_after));
            }
        }
        min(self
            .arp_wait
            .front()
            .map(|(w, _)| w.since + self.cfg.arp_timeout));
        min(self.stranger_timeout());
        t
    }

    /// Runs timers: session retransmissions, handshake timeouts and retries, dead-peer
    /// detection, rekeys, ARP expiry. (Keepalives due go out of `poll_transmit`.)
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.peers.len() {
            let id = PeerId(i as u16);
            self.peer_timers(now, id);
            self.update_peer(now, id);
        }
        self.stranger_timers(now);
        self.expire_arp(now);
    }

    fn peer_timers(&mut self, now: Instant, id: PeerId) {
        let cfg = &self.cfg;
        let layer = &mut self.layer;
        let Some(slot) = slot_in(&mut self.peers, id) else {
            return;
        };
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
        // A replacing handshake that does not complete is given up: it never blocks
        // rekeys, and the current session goes on meanwhile.
        let pending_stuck = slot.pending.as_ref().is_some_and(|s| !s.is_established())
            && now.saturating_since(slot.pending_started) >= cfg.handshake_timeout;
        if pending_stuck {
            // Say why (a key no longer pinned after the peer's identity rotation
            // reads `pin-mismatch`), though the current session goes on.
            slot.last_failure = slot.pending.as_ref().and_then(|s| s.failure());
            slot.pending = None;
            slot.pending_initiated = false;
            slot.counters.handshakes_failed += 1;
        }
        let mut retry = false;
        let mut failed = None;
        match slot.attempt() {
            // The session layer's own give-up may be minutes away (DTLS doubles its
            // timer 7 times): the engine's timeout ends the attempt.
            Some(Attempt::Running { started, .. })
                if now.saturating_since(started) >= cfg.handshake_timeout =>
            {
                let reason = slot.current.as_ref().and_then(|s| s.failure());
                failed = Some(reason.unwrap_or(FailureReason::Timeout));
            }
            Some(Attempt::Awaiting { started })
                if now.saturating_since(started) >= cfg.handshake_timeout =>
            {
                failed = Some(FailureReason::NoEndpoint);
            }
            Some(Attempt::Backoff { until }) if until <= now => retry = true,
            _ => {}
        }
        if slot.link == Link::Up {
            let silent = slot
                .last_authenticated
                .is_none_or(|t| now.saturating_since(t) >= cfg.dead_after);
            if silent {
                // Dead peer: its session is useless; keep it only to open stragglers.
                if let Some(s) = slot.current.take() {
                    slot.previous = Some((s, now + cfg.rekey_overlap));
                }
                slot.pending = None;
                slot.pending_initiated = false;
                slot.counters.went_down += 1;
                slot.last_failure = Some(FailureReason::NoResponse);
                slot.set_link(
                    Link::Down {
                        since: now,
                        attempt: Attempt::Backoff { until: now },
                    },
                    now,
                );
                retry = true;
            } else if now.saturating_since(slot.keyed_at) >= cfg.rekey_interval {
                rekey(layer, slot, now);
            }
        }
        if let Some(reason) = failed {
            self.attempt_failed(now, id, reason);
        }
        if retry {
            self.start_handshake(now, id);
        }
    }

    /// Promotes completed handshakes, retires failed ones, and notes a peer that came
    /// up.
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
            && (slot.pending_initiated || (slot.pending_drained && switch));
        if pending_ready {
            slot.pending_drained = false;
            slot.pending_opened = false;
            slot.pending_switch_at = None;
            let replaced = slot.current.take();
            slot.current = slot.pending.take();
            if let Some(old) = replaced.filter(|s| s.is_established()) {
                // A peer's own new handshake means a restart; ours, a rekey.
                if !slot.pending_initiated {
                    slot.counters.sessions_replaced += 1;
                }
                slot.previous = Some((old, now + overlap));
            }
            slot.pending_initiated = false;
            came_up(slot, now);
        }
        if slot.pending.as_ref().is_some_and(|s| s.is_failed()) {
            slot.last_failure = slot.pending.as_ref().and_then(|s| s.failure());
            slot.pending = None;
            slot.pending_initiated = false;
            slot.counters.handshakes_failed += 1;
        }
        let current_up = slot.current.as_ref().is_some_and(|s| s.is_established());
        if current_up && slot.link != Link::Up {
            slot.set_link(Link::Up, now);
            slot.failures = 0;
            came_up(slot, now);
        }
        if !slot.current.as_ref().is_some_and(|s| s.is_failed()) {
            return;
        }
        // Failed for good: authenticated (pin mismatch, the peer's alert) or the
        // session layer's own timeout.
        let reason = slot
            .current
            .as_ref()
            .and_then(|s| s.failure())
            .unwrap_or(FailureReason::Protocol);
        if slot.link == Link::Up {
            // An established session that the peer closed: connect again.
            slot.current = None;
            slot.set_link(
                Link::Connecting {
                    since: now,
                    attempt: Attempt::Backoff { until: now },
                },
                now,
            );
            slot.last_failure = Some(reason);
            self.start_handshake(now, id);
        } else {
            self.attempt_failed(now, id, reason);
        }
    }

    /// Ends the running attempt of a peer that is not up: backoff before the next one,
    /// and the waiting packets take the enforcement's way.
    pub(super) fn attempt_failed(&mut self, now: Instant, id: PeerId, reason: FailureReason) {
        let global = self.cfg.enforcement;
        let (first, most) = (self.cfg.handshake_retry, self.cfg.handshake_retry_max);
        let fallback_after = self.cfg.fallback_after;
        let Some(slot) = slot_in(&mut self.peers, id) else {
            return;
        };
        slot.current = None;
        slot.failures = slot.failures.saturating_add(1);
        slot.last_failure = Some(reason);
        slot.counters.handshakes_failed += 1;
        let until = now + backoff(first, most, slot.failures);
        slot.set_attempt(Attempt::Backoff { until }, now);
        let due = slot.fallback_due(now, fallback_after);
        let disposition = policy::after_failed_attempt(slot.enforcement(global), due);
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
                // Not produced for a failed attempt; count rather than lose silently.
                Outbound::Seal | Outbound::Wait { .. } => {
                    self.counters.drop(DropReason::HandshakeFailed);
                    slot.counters.drops += 1;
                }
            }
            slot.waiting.pop();
        }
    }
}

/// The wait before attempt `failures + 1`: `first`, doubled per failure, at most `most`.
fn backoff(first: Duration, most: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    first.saturating_mul(1 << doublings).min(most.max(first))
}

/// A handshake completed: fresh keys, and the peer has just authenticated (with the pin
/// its session names).
fn came_up<S: Session>(slot: &mut PeerSlot<S>, now: Instant) {
    if let Some(pin) = slot.current.as_ref().and_then(|s| s.peer_pin()) {
        slot.pin_used = Some(pin);
    }
    slot.keyed_at = now;
    slot.sealed_since_rekey = 0;
    slot.last_sent = now;
    slot.last_handshake = Some(now);
    slot.last_authenticated = Some(now);
    slot.counters.handshakes_completed += 1;
}

/// How long a handshake the peer started may hold off our rekey.
const PEER_HANDSHAKE_YIELDS_AFTER: Duration = Duration::from_secs(1);

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
            slot.sealed_since_rekey = 0;
            false
        }
        Rekey::InProgress => false,
        Rekey::ByNewSession => true,
    };
    // A handshake the peer started that has not completed within a second (a real one
    // takes two round trips) yields to our rekey: an unauthenticated hello must not
    // hold rekeys off.
    let theirs_unfinished = !slot.pending_initiated
        && slot.pending.as_ref().is_some_and(|s| !s.is_established())
        && now.saturating_since(slot.pending_started) >= PEER_HANDSHAKE_YIELDS_AFTER;
    if by_new_session && slot.endpoint.is_some() && (slot.pending.is_none() || theirs_unfinished) {
        slot.pending = Some(layer.connect(now, &slot.cfg));
        slot.pending_initiated = true;
        slot.pending_started = now;
        slot.counters.rekeys += 1;
        slot.counters.handshakes_started += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use core::time::Duration;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let s = Duration::from_secs;
        let b = |n| backoff(s(1), s(30), n);
        assert_eq!(
            [b(1), b(2), b(3), b(5), b(6), b(40)],
            [s(1), s(2), s(4), s(16), s(30), s(30)]
        );
    }
}
