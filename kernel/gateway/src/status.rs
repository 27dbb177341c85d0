//! What the engine knows about each peer's tunnel, for the console (`peers`) and tests:
//! its state, since when, and why the last handshake failed, so that a wrong
//! fingerprint and a dead peer look different.

use crate::Instant;

/// The state of the tunnel to one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// No session needed yet: no packet has asked for one.
    Idle,
    /// No working session: handshakes are tried, with backoff after failures.
    Connecting,
    /// A session is established and the peer was heard from within `dead_after`.
    Up,
    /// The peer was up, then sent no authenticated record for `dead_after`:
    /// handshakes are retried with backoff.
    Down,
}

impl PeerState {
    /// The name shown on the console.
    pub fn name(self) -> &'static str {
        match self {
            PeerState::Idle => "idle",
            PeerState::Connecting => "connecting",
            PeerState::Up => "up",
            PeerState::Down => "down",
        }
    }
}

/// Why a handshake with a peer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    /// The peer authenticated with a key that is not the pinned one.
    PinMismatch,
    /// The peer answered, but the handshake did not complete in time.
    Timeout,
    /// Nothing came back from the peer (unreachable, or dead).
    NoResponse,
    /// The peer sent an authenticated fatal alert.
    AlertFromPeer,
    /// The peer broke the protocol after authenticating.
    Protocol,
}

impl FailureReason {
    /// The name shown on the console.
    pub fn name(self) -> &'static str {
        match self {
            FailureReason::PinMismatch => "pin-mismatch",
            FailureReason::Timeout => "timeout",
            FailureReason::NoResponse => "no-response",
            FailureReason::AlertFromPeer => "alert-from-peer",
            FailureReason::Protocol => "protocol",
        }
    }
}

/// A peer's tunnel at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub state: PeerState,
    /// When the peer entered `state`.
    pub since: Instant,
    /// When the last handshake with the peer completed.
    pub last_handshake: Option<Instant>,
    /// When the last authenticated record (data, keepalive, or a completed handshake)
    /// came from the peer. Nothing unauthenticated moves it.
    pub last_authenticated: Option<Instant>,
    /// Why the last failed handshake failed.
    pub last_failure: Option<FailureReason>,
    /// The cipher suite of the session in use (OpenSSL's name), while one is.
    pub suite: Option<&'static str>,
}
