//! Per-peer runtime state: sessions, the tunnel's state, the queue of packets waiting
//! for a session, counters.

use core::net::SocketAddrV4;
use core::time::Duration;

use crate::counters::PeerCounters;
use crate::peer::{PeerConfig, PeerId};
use crate::policy::SessionState;
use crate::queue::PacketQueue;
use crate::session::Session;
use crate::status::{FailureReason, PeerState, PeerStatus};
use crate::Instant;
use crate::{Enforcement, Fingerprint};

/// The tunnel to one peer. Only authenticated input (a completed handshake, an opened
/// record) or the engine's own timers move it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    /// No packet has asked for a session yet.
    Idle,
    /// No working session since `since`: handshakes are tried.
    Connecting { since: Instant, attempt: Attempt },
    /// `current` is established and the peer is heard from.
    Up,
    /// The peer fell silent at `since` (no authenticated record for `dead_after`):
    /// handshakes are tried.
    Down { since: Instant, attempt: Attempt },
}

/// Where the handshake attempts of a peer that is not up stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The handshake in `current` runs since `started`; `ours` if we sent its first
    /// flight (it then wins a simultaneous start when our endpoint is lower).
    Running { started: Instant, ours: bool },
    /// The last attempt failed: the next one starts at `until`.
    Backoff { until: Instant },
    /// No address to call (no endpoint configured, none learned): we wait since
    /// `started` for the peer to call us; after the handshake timeout this counts as
    /// a failed attempt (the waiting packets take the enforcement's way).
    Awaiting { started: Instant },
}

/// One configured peer and its sessions.
#[derive(Debug)]
pub(crate) struct PeerSlot<S> {
    pub cfg: PeerConfig,
    /// Where records to the peer go: the configured endpoint until the peer
    /// authenticates from another address, then that one (as WireGuard roams).
    pub endpoint: Option<SocketAddrV4>,
    /// Times `endpoint` moved, and when it last did.
    pub moves: u64,
    pub last_move: Option<Instant>,
    /// The pin the peer authenticated with in its last completed handshake.
    pub pin_used: Option<Fingerprint>,
    pub link: Link,
    /// When `link` last changed state.
    pub since: Instant,
    /// Failed attempts since the peer was last up (for the backoff).
    pub failures: u32,
    /// The session in use when up; the running handshake otherwise.
    pub current: Option<S>,
    /// A handshake that replaces `current` (established) once it completes: a rekey of
    /// ours, or the peer's restart. Make before break: until then `current` is used.
    pub pending: Option<S>,
    /// The session `pending` replaced, kept until this time to open records still in
    /// flight (the overlap of a rekey by new session, or of a restart).
    pub previous: Option<(S, Instant)>,
    /// `pending` was started by us (a rekey by new session).
    pub pending_initiated: bool,
    /// `pending` (started by the peer) is established and its last flight was sent.
    pub pending_drained: bool,
    /// The peer has sent a record on `pending`: it uses the new keys.
    pub pending_opened: bool,
    /// When we switch to `pending` even if the peer has not used it yet.
    pub pending_switch_at: Option<Instant>,
    /// When `pending` began (it is given up after the handshake timeout).
    pub pending_started: Instant,
    /// When the current keys were made (handshake or last rekey).
    pub keyed_at: Instant,
    /// Records sealed under the current keys (for `rekey_records`).
    pub sealed_since_rekey: u64,
    /// When we last sent a record to the peer (for keepalives).
    pub last_sent: Instant,
    /// The peer's keepalive found us silent: answer it with one of ours.
    pub keepalive_owed: bool,
    pub last_handshake: Option<Instant>,
    pub last_authenticated: Option<Instant>,
    pub last_failure: Option<FailureReason>,
    /// Inner packets waiting for the session (metadata: when queued).
    pub waiting: PacketQueue<Instant>,
    pub counters: PeerCounters,
}

impl<S: Session> PeerSlot<S> {
    pub fn new(cfg: PeerConfig, queue: usize, slot: usize) -> Self {
        Self {
            endpoint: cfg.endpoint,
            moves: 0,
            last_move: None,
            pin_used: None,
            cfg,
            link: Link::Idle,
            since: Instant::ZERO,
            failures: 0,
            current: None,
            pending: None,
            previous: None,
            pending_initiated: false,
            pending_drained: false,
            pending_opened: false,
            pending_switch_at: None,
            pending_started: Instant::ZERO,
            keyed_at: Instant::ZERO,
            sealed_since_rekey: 0,
            last_sent: Instant::ZERO,
            keepalive_owed: false,
            last_handshake: None,
            last_authenticated: None,
            last_failure: None,
            waiting: PacketQueue::new(queue, slot),
            counters: PeerCounters::default(),
        }
    }

    pub fn enforcement(&self, global: Enforcement) -> Enforcement {
        self.cfg.effective_enforcement(global)
    }

    /// Records can be sealed to the peer.
    pub fn established(&self) -> bool {
        self.link == Link::Up && self.current.as_ref().is_some_and(|s| s.is_established())
    }

    pub fn peer_state(&self) -> PeerState {
        match self.link {
            Link::Idle => PeerState::Idle,
            Link::Connecting { .. } => PeerState::Connecting,
            Link::Up => PeerState::Up,
            Link::Down { .. } => PeerState::Down,
        }
    }

    /// Enters `link`, noting when if the state changes.
    pub fn set_link(&mut self, link: Link, now: Instant) {
        if core::mem::discriminant(&link) != core::mem::discriminant(&self.link) {
            self.since = now;
        }
        self.link = link;
    }

    /// The attempt of a peer that is not up.
    pub fn attempt(&self) -> Option<Attempt> {
        match self.link {
            Link::Connecting { attempt, .. } | Link::Down { attempt, .. } => Some(attempt),
            Link::Idle | Link::Up => None,
        }
    }

    /// Replaces the attempt of a peer that is not up (entering `Connecting` from idle).
    pub fn set_attempt(&mut self, attempt: Attempt, now: Instant) {
        let link = match self.link {
            Link::Down { since, .. } => Link::Down { since, attempt },
            Link::Connecting { since, .. } => Link::Connecting { since, attempt },
            Link::Idle | Link::Up => Link::Connecting {
                since: now,
                attempt,
            },
        };
        self.set_link(link, now);
    }

    /// The peer has failed every handshake for `after`: AllowUnencrypted may send its
    /// traffic clear.
    pub fn fallback_due(&self, now: Instant, after: Duration) -> bool {
        match self.link {
            Link::Connecting { since, .. } | Link::Down { since, .. } => {
                now.saturating_since(since) >= after
            }
            Link::Idle | Link::Up => false,
        }
    }

    pub fn status(&self) -> PeerStatus {
        PeerStatus {
            state: self.peer_state(),
            since: self.since,
            last_handshake: self.last_handshake,
            last_authenticated: self.last_authenticated,
            last_failure: self.last_failure,
            suite: self
                .current
                .as_ref()
                .filter(|s| s.is_established())
                .and_then(|s| s.suite()),
            endpoint: self.endpoint,
            configured_endpoint: self.cfg.endpoint,
            endpoint_moves: self.moves,
            last_move: self.last_move,
            pin_used: self.pin_used,
        }
    }

    /// The older, coarser view (kept for the console's `sessions`).
    pub fn state(&self, _now: Instant) -> SessionState {
        match self.link {
            Link::Up => SessionState::Established,
            Link::Idle => SessionState::Absent,
            Link::Connecting { .. } => SessionState::Handshaking,
            Link::Down { .. } => SessionState::Failed,
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
