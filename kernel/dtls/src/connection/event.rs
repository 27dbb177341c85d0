//! What a connection reports to its owner, and its counters.

use crate::crypto::CipherSuite;
use crate::error::{AlertDescription, Error};
use crate::identity::Fingerprint;
use alloc::vec::Vec;

/// Something the owner of a connection should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed. `peer_fingerprint` is the pinned key of the peer (None
    /// only on a server that accepted a client without a certificate).
    Connected {
        peer_fingerprint: Option<Fingerprint>,
        suite: CipherSuite,
        extended_master_secret: bool,
    },
    /// Application data received through [`crate::Connection::handle_datagram`].
    AppData(Vec<u8>),
    /// The peer sent a warning alert (fatal alerts end in [`Event::Closed`]).
    Alert(AlertDescription),
    /// A new handshake from the same address with a valid cookie replaced the session
    /// (the peer restarted). A new [`Event::Connected`] follows when it completes.
    PeerRestarted,
    /// The write key reached its soft limit: establish a new session soon.
    RekeyNeeded,
    /// The connection ended: `None` after close_notify, otherwise why.
    Closed(Option<Error>),
}

/// Counters; every dropped input is counted under one reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records or fragments that did not parse.
    pub malformed: u64,
    /// Records whose tag did not verify.
    pub bad_tag: u64,
    /// Records already seen (replay window).
    pub replayed: u64,
    /// Records of an epoch we have no keys for, or that the state does not allow.
    pub unexpected: u64,
    /// Early epoch-1 records buffered until keys were ready.
    pub buffered_early: u64,
    /// Handshakes refused because the peer's key was not pinned.
    pub pin_mismatch: u64,
    /// Flights retransmitted (timer or peer retransmission).
    pub retransmits: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
}
