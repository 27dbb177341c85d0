//! Per-peer runtime state: sessions, the queue of packets waiting for one, counters.

use crate::counters::PeerCounters;
use crate::peer::{PeerConfig, PeerId};
use crate::policy::{Enforcement, SessionState};
use crate::queue::PacketQueue;
use crate::session::Session;
use crate::status::{PeerState, PeerStatus};
use crate::time::Instant;

/// One configured peer and its sessions.
#[derive(Debug)]
pub(crate) struct PeerSlot<S> {
    pub cfg: PeerConfig,
    /// The session in use (established, or our own handshake in progress).
    pub current: Option<S>,
    /// A handshake the peer started while `current` is established (a restart): it
    /// replaces `current` once established.
    pub pending: Option<S>,
    /// The session `pending` replaced, kept until this time to open records still in
    /// flight (the overlap of a rekey by new session, or of a restart).
    pub previous: Option<(S, Instant)>,
    /// `current` was started by us and is not yet established.
    pub initiated: bool,
    /// `pending` was started by us (a rekey by new session) and is not yet established.
    pub pending_initiated: bool,
    /// `pending` (started by the peer) is established and its last flight was sent.
    pub pending_drained: bool,
    /// The peer has sent a record on `pending`: it uses the new keys.
    pub pending_opened: bool,
    /// When we switch to `pending` even if the peer has not used it yet.
    pub pending_switch_at: Option<Instant>,
    /// When the peer's handshake in `pending` began.
    pub pending_started: Instant,
    /// `current` has been seen established.
    pub established_seen: bool,
    /// When the current keys were made (handshake or last rekey).
    pub keyed_at: Instant,
    /// The last handshake failed: the enforcement fallback applies until one succeeds.
    pub failed: bool,
    /// When to try again after a failure (in the background: the fallback goes on).
    pub retry_at: Option<Instant>,
    /// When our current handshake started (for the engine's handshake timeout).
    pub handshake_started: Instant,
    /// Inner packets waiting for the session (metadata: when queued).
    pub waiting: PacketQueue<Instant>,
    pub counters: PeerCounters,
}

impl<S: Session> PeerSlot<S> {
    pub fn new(cfg: PeerConfig, queue: usize, slot: usize) -> Self {
        Self {
            cfg,
            current: None,
            pending: None,
            previous: None,
            initiated: false,
            pending_initiated: false,
            pending_drained: false,
            pending_opened: false,
            pending_switch_at: None,
            pending_started: Instant::ZERO,
            established_seen: false,
            keyed_at: Instant::ZERO,
            failed: false,
            retry_at: None,
            handshake_started: Instant::ZERO,
            waiting: PacketQueue::new(queue, slot),
            counters: PeerCounters::default(),
        }
    }

    pub fn enforcement(&self, global: Enforcement) -> Enforcement {
        self.cfg.effective_enforcement(global)
    }

    pub fn established(&self) -> bool {
        self.current.as_ref().is_some_and(|s| s.is_established())
    }

    pub fn status(&self) -> PeerStatus {
        let state = match self.state(Instant::ZERO) {
            SessionState::Established => PeerState::Up,
            SessionState::Handshaking => PeerState::Connecting,
            SessionState::Failed => PeerState::Down,
            SessionState::Absent => PeerState::Idle,
        };
        PeerStatus {
            state,
            since: self.keyed_at,
            last_handshake: None,
            last_authenticated: None,
            last_failure: None,
        }
    }

    pub fn state(&self, _now: Instant) -> SessionState {
        if self.established() {
            SessionState::Established
        } else if self.failed {
            SessionState::Failed
        } else if self.current.is_some() || self.pending.is_some() {
            SessionState::Handshaking
        } else {
            SessionState::Absent
        }
    }
}

/// The slot of peer `id`. A free function over the engine's `peers` field, so that
/// callers can hold other fields of the engine (its session layer, its queues) at the
/// same time.
pub(super) fn slot_in<S>(
    peers: &mut [Option<PeerSlot<S>>],
    id: PeerId,
) -> Option<&mut PeerSlot<S>> {
    peers.get_mut(usize::from(id.0)).and_then(Option::as_mut)
}
