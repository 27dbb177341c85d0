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
    /// No longer emitted: an established connection never starts over (a ClientHello is
    /// ignored and counted in [`Stats::client_hellos_ignored`]; the owner runs a new
    /// connection next to it). Kept so that existing `match`es compile.
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
    /// Flights refused because the peer's key was not pinned.
    pub pin_mismatch: u64,
    /// Flights retransmitted (timer or peer retransmission).
    pub retransmits: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Plaintext (epoch-0) alerts, ignored: anyone can forge them. Only alerts under the
    /// session's keys count.
    pub alerts_ignored: u64,
    /// Handshake fragments of a type or position that the flight we wait for does not
    /// have (HelloVerifyRequests are counted apart).
    pub fragments_refused: u64,
    /// HelloVerifyRequests ignored: not answering our current ClientHello, or after it.
    pub hello_verify_ignored: u64,
    /// Fragments of an expected message dropped for lack of room: too long, too far
    /// ahead, or every candidate slot or range for that message taken.
    pub fragments_dropped: u64,
    /// Records or fragments beyond the per-datagram work limit, not looked at.
    pub over_budget: u64,
    /// Complete flights that did not verify (a forged or inconsistent message: wrong
    /// key, bad signature, bad parameters) and were discarded; the handshake goes on
    /// waiting for the genuine flight. `pin_mismatch` counts those refused for the key.
    pub flights_refused: u64,
    /// Flights on trial started again because a datagram brought an alternative for a
    /// message they had taken (they were waiting for more; nothing was refused).
    pub flights_restarted: u64,
    /// Epoch-0 ClientHellos this connection did not take: it is established, or past its
    /// own hello. The owner may start a new connection for them (make before break).
    pub client_hellos_ignored: u64,
}
