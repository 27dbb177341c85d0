//! The narrow interface between the gateway and its secure-session layer (DTLS).
//!
//! The engine owns up to two sessions per peer (the current one and a handshake that may
//! replace it once it completes: make before break) and drives them sans-IO. Records are sealed and
//! opened in place in the caller's buffer: a session writes its record header in the
//! [`Session::HEADROOM`] bytes before the payload and its tag in the
//! [`Session::TAILROOM`] bytes after, so no packet is copied or allocated.
//!
//! Rekeying is a session matter: [`Session::start_rekey`] begins a new key epoch while
//! the old keys keep opening records for an overlap period, so continuous traffic loses
//! nothing.

use core::net::SocketAddrV4;
use core::ops::Range;

use crate::peer::PeerConfig;
use crate::status::FailureReason;
use crate::{Fingerprint, Instant};

/// What a datagram fed to a session turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// Handshake or rekey traffic, consumed by the session.
    Handshake,
    /// An application record, opened in place: the plaintext is at this range of the
    /// datagram slice given to [`Session::handle_datagram`], and starts at least
    /// `HEADROOM` bytes into it.
    Data(Range<usize>),
}

/// What [`Session::start_rekey`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rekey {
    /// A rekey began.
    Started,
    /// One is already running (or the session is not established): nothing new.
    InProgress,
    /// This session rekeys only by a new handshake.
    ByNewSession,
}

/// What [`SessionLayer::accept`] made of a datagram carrying a ClientHello.
#[derive(Debug)]
pub enum Accepted<S> {
    /// A new server session, having processed the datagram; drain its transmissions.
    Session(S),
    /// No state was kept: send the first `n` bytes of the reply buffer back to the peer
    /// (a stateless HelloVerifyRequest with a cookie).
    Reply(usize),
    /// Nothing to answer (not a ClientHello we accept): count and drop.
    Ignored,
}

/// Why a session refused a datagram or a seal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// The datagram belongs to no state of this session (another handshake, say): the
    /// session is unchanged and the engine may offer it elsewhere.
    NotThisSession,
    /// A handshake message of a handshake no state of this session runs (an abandoned
    /// or finished one): harmless, counted apart.
    StaleHandshake,
    /// Application data before keys are agreed.
    NotEstablished,
    /// A record already received.
    Replay,
    /// A record that failed authentication or could not be parsed.
    Invalid,
    /// The keys' usage limit is reached and no new keys are ready yet.
    LimitReached,
    /// The buffer has no room for the record header or tag.
    NoRoom,
}

/// One secure session with one peer.
pub trait Session {
    /// Bytes a sealed record needs before its payload (header, explicit nonce).
    const HEADROOM: usize;
    /// Bytes a sealed record needs after its payload (tag).
    const TAILROOM: usize;

    /// Keys are agreed: records can be sealed and opened.
    fn is_established(&self) -> bool;
    /// The handshake failed for good (timeout or authentication).
    fn is_failed(&self) -> bool;
    /// Why the handshake failed (once [`Session::is_failed`]), or what held it up when
    /// the engine gives up on it first: `None` then means the session cannot tell.
    fn failure(&self) -> Option<FailureReason>;

    /// Feeds one datagram received from the peer. The slice may be modified (records
    /// are decrypted in place), also when the result is an error (the engine restores
    /// it before offering it to another session of the same peer).
    fn handle_datagram(
        &mut self,
        now: Instant,
        datagram: &mut [u8],
    ) -> Result<Received, SessionError>;

    /// Writes the next handshake datagram to send into `buf`; its length.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// When [`Session::handle_timeout`] is next due.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Retransmits, gives up, or expires old keys.
    fn handle_timeout(&mut self, now: Instant);

    /// Seals `buf[HEADROOM..HEADROOM + len]` into a record that starts at `buf[0]`;
    /// returns the record's length. `buf` must hold `HEADROOM + len + TAILROOM` bytes.
    fn seal_in_place(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, SessionError>;

    /// Starts a rekey: new keys for sealing, old ones kept for opening during the
    /// overlap. A session that cannot rekey in place answers [`Rekey::ByNewSession`]:
    /// the engine then runs a new handshake and keeps the old session opening records
    /// for `rekey_overlap` once the new one takes over.
    fn start_rekey(&mut self, now: Instant) -> Rekey;
    /// The keys approach their AEAD usage limit: rekey now.
    fn rekey_due(&self) -> bool;

    /// The negotiated cipher suite's name once keys are agreed (for the operator's
    /// views); `None` for a layer that cannot tell.
    fn suite(&self) -> Option<&'static str> {
        None
    }

    /// Keeps an application record that arrived before this (handshaking) session's
    /// keys, having overtaken the handshake's last flight; its plaintext comes out of
    /// [`Session::poll_received`] once the keys exist. False if not kept.
    fn buffer_early(&mut self, _now: Instant, _datagram: &[u8]) -> bool {
        false
    }

    /// The plaintext of a record kept by [`Session::buffer_early`] and opened since,
    /// written into `buf`; its length.
    fn poll_received(&mut self, _buf: &mut [u8]) -> Option<usize> {
        None
    }

    /// Whether the record the last [`Session::handle_datagram`] opened was the newest
    /// this session has opened (no record with a higher sequence number came before
    /// it). Only such a record may move a peer's endpoint: a delayed one from an
    /// address the peer has left must not move it back. A session that cannot tell
    /// answers true.
    fn opened_newest(&self) -> bool {
        true
    }

    /// The pinned key the peer authenticated with, once established (`None` before,
    /// or from a layer that cannot tell). A session accepted from an address that is
    /// no peer's endpoint is given to the peer this names.
    fn peer_pin(&self) -> Option<Fingerprint> {
        None
    }
}

/// Creates sessions: the identity and credentials live here.
pub trait SessionLayer {
    /// The sessions this layer makes.
    type Session: Session;

    /// Starts a handshake towards `peer` (we send the first flight).
    fn connect(&mut self, now: Instant, peer: &PeerConfig) -> Self::Session;

    /// Answers a datagram that carries a ClientHello (see [`SessionLayer::is_initial`])
    /// from `from`. Anyone can forge that datagram: a layer that can keeps no state
    /// until the sender proves it receives at `from` (a cookie bound to the address
    /// and port), answering in `reply` instead. The session it makes accepts a peer
    /// that authenticates with one of `pins` (one peer's pins for its own endpoint,
    /// every peer's for an address that is no peer's endpoint). The datagram is
    /// consumed.
    fn accept(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        pins: &[Fingerprint],
        datagram: &mut [u8],
        reply: &mut [u8],
    ) -> Accepted<Self::Session>;

    /// The fingerprint of the identity new handshakes present. It breaks the tie when
    /// both sides start a handshake at once: each side knows its own and the other's
    /// pin, whatever addresses NAT shows either. `None`: the layer cannot tell, and
    /// the wan endpoints decide.
    fn own_pin(&self) -> Option<Fingerprint> {
        None
    }

    /// Whether a datagram is an application record (data or keepalive): what may be
    /// tried against the peers' established sessions when it comes from an address
    /// that is no peer's endpoint.
    fn is_data(datagram: &[u8]) -> bool {
        !Self::is_initial(datagram)
    }

    /// Whether a datagram opens a new handshake: a ClientHello in any of its records.
    /// Such a datagram is never offered to an established session.
    fn is_initial(datagram: &[u8]) -> bool;
}
