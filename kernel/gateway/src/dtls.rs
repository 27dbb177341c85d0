//! The gateway's session layer over `vnetcrypt-dtls` (feature `dtls`): one DTLS 1.2
//! connection per session, pinned to the peer's fingerprint.
//!
//! - Records are sealed and opened in place by the connection's data-plane calls (no
//!   allocation); handshake datagrams go through the connection's handshake path.
//! - A ClientHello reaching an established connection (or one of ours) is refused as
//!   [`SessionError::NotThisSession`], so the engine answers it with a new session and
//!   keeps the current one until the new one is established (peer restart, rekey).
//! - The DTLS engine rekeys by a new handshake ([`Rekey::ByNewSession`]) when its write
//!   key reaches the soft limit (`Event::RekeyNeeded`) or on the engine's timer.
//! - Application records that overtake the last flight of the handshake that keys them
//!   are kept by the connection (up to its early-record limit) and handed back through
//!   `poll_received` once the keys exist.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::SocketAddrV4;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use vnetcrypt_dtls::{
    datagram_has_client_hello, Accept, Config, Connection, Endpoint, Event, Fingerprint,
    HandshakeFailure, Identity, PeerPolicy, RecordError,
};

use crate::peer::PeerConfig;
use crate::session::{Accepted, Received, Rekey, Session, SessionError, SessionLayer};
use crate::status::FailureReason;
use crate::Instant;

const HEADER_LEN: usize = 13;
const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
const CONTENT_APPLICATION_DATA: u8 = 23;

fn address_bytes(ep: SocketAddrV4) -> [u8; 6] {
    let mut b = [0u8; 6];
    b[..4].copy_from_slice(&ep.ip().octets());
    b[4..].copy_from_slice(&ep.port().to_be_bytes());
    b
}

/// The DTLS session layer: our identity and settings, and the randomness for new
/// connections (seeded by the caller from its entropy source).
pub struct DtlsLayer {
    template: Config,
    rng: ChaCha20Rng,
    /// The stateless front door: one cookie secret for every source address (cookies
    /// are bound to the address and port they were sent to).
    door: Option<Endpoint>,
    /// The randoms of the last hellos the door accepted (to refuse replays of them).
    accepted: VecDeque<[u8; 32]>,
}

impl core::fmt::Debug for DtlsLayer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DtlsLayer")
            .field("fingerprint", &self.template.identity.fingerprint())
            .finish_non_exhaustive()
    }
}

impl DtlsLayer {
    /// `template` carries our identity and DTLS settings; its peer policy is replaced
    /// per peer by the peer's pinned fingerprints.
    pub fn new(template: Config, seed: [u8; 32]) -> Self {
        Self {
            template,
            rng: ChaCha20Rng::from_seed(seed),
            door: None,
            accepted: VecDeque::new(),
        }
    }

    /// Our identity's fingerprint (what peers pin).
    pub fn fingerprint(&self) -> Fingerprint {
        self.template.identity.fingerprint()
    }

    /// Presents `identity` in every handshake from now on (an identity rotation).
    /// Sessions established keep their keys until their next rekey; handshakes
    /// already running finish with the identity they started with.
    pub fn set_identity(&mut self, identity: Identity) {
        self.template.identity = identity;
    }

    fn config_with(&self, pins: &[Fingerprint]) -> Arc<Config> {
        with_pins(&self.template, pins)
    }

    fn config_for(&self, peer: &PeerConfig) -> Arc<Config> {
        let pins: heapless::Vec<Fingerprint, 2> = peer.pins().collect();
        self.config_with(&pins)
    }
}

/// `template` pinning `pins`.
fn with_pins(template: &Config, pins: &[Fingerprint]) -> Arc<Config> {
    let mut c = template.clone();
    c.peers = PeerPolicy::Pinned(pins.to_vec());
    Arc::new(c)
}

/// One DTLS connection as a gateway session.
pub struct DtlsSession {
    conn: Box<Connection>,
    is_client: bool,
    /// A server session: the random of the ClientHello that made it (its
    /// retransmissions are answered; any other hello is not this session's).
    hello_random: Option<[u8; 32]>,
    rekey_needed: bool,
    closed: bool,
    /// Plaintext of early records, opened once the keys existed.
    received: VecDeque<Vec<u8>>,
    /// The highest epoch and sequence number opened, and whether the last record
    /// opened was it.
    newest: Option<u64>,
    last_opened_newest: bool,
}

/// Early records kept at most (the connection keeps 16 before its keys exist).
const MAX_RECEIVED: usize = 32;

impl core::fmt::Debug for DtlsSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DtlsSession")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl DtlsSession {
    fn drain_events(&mut self) {
        while let Some(e) = self.conn.poll_event() {
            match e {
                Event::RekeyNeeded => self.rekey_needed = true,
                Event::Closed(_) => self.closed = true,
                Event::AppData(d) if self.received.len() < MAX_RECEIVED => {
                    self.received.push_back(d)
                }
                _ => {}
            }
        }
    }
}

impl Session for DtlsSession {
    const HEADROOM: usize = vnetcrypt_dtls::HEADER_ROOM;
    const TAILROOM: usize = vnetcrypt_dtls::TAG_ROOM;

    fn is_established(&self) -> bool {
        !self.closed && self.conn.is_established()
    }

    fn is_failed(&self) -> bool {
        self.closed || self.conn.is_closed()
    }

    fn suite(&self) -> Option<&'static str> {
        self.conn.negotiated().map(|n| n.suite.openssl_name())
    }

    fn failure(&self) -> Option<FailureReason> {
        match self.conn.failure() {
            Some(HandshakeFailure::NoResponse) => Some(FailureReason::NoResponse),
            Some(HandshakeFailure::Timeout) => Some(FailureReason::Timeout),
            Some(HandshakeFailure::PinMismatch) => Some(FailureReason::PinMismatch),
            Some(HandshakeFailure::AlertFromPeer(_)) => Some(FailureReason::AlertFromPeer),
            Some(HandshakeFailure::Protocol) => Some(FailureReason::Protocol),
            // Closed by the peer's close_notify, or our own give-up of a rekey.
            None if self.is_failed() => Some(FailureReason::Protocol),
            // Still running: what holds it up, for an engine that gives up first (the
            // engine's handshake timeout is shorter than the connection's own).
            None if !self.is_established() => Some(match self.conn.timeout_failure() {
                HandshakeFailure::PinMismatch => FailureReason::PinMismatch,
                HandshakeFailure::Timeout => FailureReason::Timeout,
                _ => FailureReason::NoResponse,
            }),
            None => None,
        }
    }

    fn handle_datagram(&mut self, now: Instant, d: &mut [u8]) -> Result<Received, SessionError> {
        if d.len() < HEADER_LEN {
            return Err(SessionError::Invalid);
        }
        // Not a DTLS content type at all (change_cipher_spec, alert, handshake,
        // application_data): garbage, counted by the engine rather than absorbed.
        if !(CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_APPLICATION_DATA).contains(&d[0]) {
            return Err(SessionError::Invalid);
        }
        if d[0] == CONTENT_APPLICATION_DATA {
            // Epoch and sequence number, in that order of significance.
            let mut at = [0u8; 8];
            at.copy_from_slice(&d[3..11]);
            let at = u64::from_be_bytes(at);
            return match self.conn.open_in_place(d) {
                Ok(r) => {
                    self.newest = self.newest.max(Some(at));
                    self.last_opened_newest = self.newest == Some(at);
                    Ok(Received::Data(r))
                }
                Err(RecordError::Replayed) => Err(SessionError::Replay),
                Err(RecordError::NotConnected) => Err(SessionError::NotEstablished),
                Err(_) => Err(SessionError::Invalid),
            };
        }
        if DtlsLayer::is_initial(d)
            && (self.is_client
                || self.conn.is_established()
                || hello_random(d) != self.hello_random)
        {
            return Err(SessionError::NotThisSession);
        }
        self.conn.handle_datagram(now, d);
        self.drain_events();
        Ok(Received::Handshake)
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.conn.poll_transmit(buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
        self.drain_events();
    }

    fn seal_in_place(
        &mut self,
        _now: Instant,
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, SessionError> {
        let r = self.conn.seal_in_place(buf, len).map_err(|e| match e {
            RecordError::NotConnected => SessionError::NotEstablished,
            RecordError::SequenceExhausted => SessionError::LimitReached,
            RecordError::BufferTooSmall => SessionError::NoRoom,
            _ => SessionError::Invalid,
        });
        if !self.rekey_needed {
            self.drain_events();
        }
        r
    }

    fn start_rekey(&mut self, _now: Instant) -> Rekey {
        Rekey::ByNewSession
    }

    fn rekey_due(&self) -> bool {
        self.rekey_needed
    }

    fn buffer_early(&mut self, now: Instant, d: &[u8]) -> bool {
        if self.conn.is_established() || self.is_failed() {
            return false;
        }
        self.conn.handle_datagram(now, d);
        self.drain_events();
        true
    }

    fn opened_newest(&self) -> bool {
        self.last_opened_newest
    }

    fn peer_pin(&self) -> Option<Fingerprint> {
        self.conn.negotiated().and_then(|n| n.peer)
    }

    fn poll_received(&mut self, buf: &mut [u8]) -> Option<usize> {
        let d = self.received.pop_front()?;
        let out = buf.get_mut(..d.len())?;
        out.copy_from_slice(&d);
        Some(d.len())
    }
}

/// Accepted hellos remembered (replays of older ones fail their cookie once the
/// source's address or our cookie secret changes, or are answered by a handshake that
/// cannot complete and times out).
const REMEMBERED_HELLOS: usize = 64;

/// The client random of the first ClientHello in a datagram (record header, handshake
/// header and version come before it).
fn hello_random(d: &[u8]) -> Option<[u8; 32]> {
    const RANDOM: core::ops::Range<usize> = HEADER_LEN + 12 + 2..HEADER_LEN + 12 + 2 + 32;
    let mut rest = d;
    while rest.len() >= HEADER_LEN {
        let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        let record = rest.get(..HEADER_LEN + len)?;
        if datagram_has_client_hello(record) {
            return record.get(RANDOM)?.try_into().ok();
        }
        rest = &rest[HEADER_LEN + len..];
    }
    None
}

impl SessionLayer for DtlsLayer {
    type Session = DtlsSession;

    fn connect(&mut self, now: Instant, peer: &PeerConfig) -> DtlsSession {
        let config = self.config_for(peer);
        DtlsSession {
            conn: Box::new(Connection::client(config, now, &mut self.rng)),
            is_client: true,
            hello_random: None,
            rekey_needed: false,
            closed: false,
            received: VecDeque::new(),
            newest: None,
            last_opened_newest: false,
        }
    }

    /// A hello without a valid cookie (bound to the source address and port) is
    /// answered with a HelloVerifyRequest and leaves no state; only one that returns
    /// with the cookie makes a session, pinning `pins`.
    fn accept(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        pins: &[Fingerprint],
        d: &mut [u8],
        reply: &mut [u8],
    ) -> Accepted<DtlsSession> {
        if !Self::is_initial(d) {
            return Accepted::Ignored;
        }
        // A hello that already made a session is a replay (a real client draws a new
        // random per handshake; its retransmissions go to the session it made).
        let random = hello_random(d);
        if random.is_some_and(|r| self.accepted.contains(&r)) {
            return Accepted::Ignored;
        }
        if self.door.is_none() {
            let door = Endpoint::new(self.config_with(&[]), &mut self.rng);
            self.door = Some(door);
        }
        let Some(door) = self.door.as_mut() else {
            return Accepted::Ignored;
        };
        let addr = address_bytes(from);
        // The connection's configuration is built only for a valid cookie.
        let template = &self.template;
        let config = || with_pins(template, pins);
        let conn = match door.handle_datagram_for(now, &addr, d, reply, &mut self.rng, config) {
            Accept::Reply(n) => return Accepted::Reply(n),
            Accept::Ignore => return Accepted::Ignored,
            Accept::Connection(c) => c,
        };
        if let Some(r) = random {
            if self.accepted.len() == REMEMBERED_HELLOS {
                self.accepted.pop_front();
            }
            self.accepted.push_back(r);
        }
        let mut s = DtlsSession {
            conn,
            is_client: false,
            hello_random: random,
            rekey_needed: false,
            closed: false,
            received: VecDeque::new(),
            newest: None,
            last_opened_newest: false,
        };
        s.drain_events();
        Accepted::Session(s)
    }

    fn own_pin(&self) -> Option<Fingerprint> {
        Some(self.fingerprint())
    }

    fn is_data(d: &[u8]) -> bool {
        d.first() == Some(&CONTENT_APPLICATION_DATA)
    }

    fn is_initial(d: &[u8]) -> bool {
        datagram_has_client_hello(d)
    }
}
