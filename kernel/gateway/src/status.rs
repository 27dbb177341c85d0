//! What the engine knows about each peer's tunnel, for the console (`peers`) and tests:
//! its state, since when, and why the last handshake failed, so that a wrong
//! fingerprint and a dead peer look different.

use core::net::SocketAddrV4;

use crate::{Fingerprint, Instant};

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
    /// No endpoint is configured and the peer has not called us: nothing to try.
    NoEndpoint,
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
            FailureReason::NoEndpoint => "no-endpoint",
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
    /// Where records to the peer go now: the configured endpoint, or the address the
    /// peer last authenticated from (a handshake or a record). `None`: not known yet.
    pub endpoint: Option<SocketAddrV4>,
    /// The configured endpoint, if any.
    pub configured_endpoint: Option<SocketAddrV4>,
    /// Times the endpoint moved to a new address ("endpoint moved" events).
    pub endpoint_moves: u64,
    /// When it last moved.
    pub last_move: Option<Instant>,
    /// The pin the peer authenticated with in its last completed handshake.
    pub pin_used: Option<Fingerprint>,
    /// The cipher suite of the session in use (OpenSSL's name), while one is.
    pub suite: Option<&'static str>,
}

impl PeerStatus {
    /// The endpoint was learned from the peer rather than configured.
    pub fn endpoint_learned(&self) -> bool {
        self.endpoint.is_some() && self.endpoint != self.configured_endpoint
    }
}
