//! A DTLS connection: one peer, driven by the caller (sans-IO).
//!
//! Feed received datagrams to [`Connection::handle_datagram`], call
//! [`Connection::handle_timeout`] when [`Connection::poll_timeout`] is reached, and drain
//! [`Connection::poll_transmit`] and [`Connection::poll_event`] after each call.
//! No input can make it panic; invalid records are dropped and counted in [`Stats`].

mod event;
mod flight;
mod receive;
mod trial;

pub use event::{Event, Stats};

use crate::config::Config;
use crate::cookie::CookieKey;
use crate::error::{AlertDescription, Error, HandshakeFailure, RecordError};
use crate::handshake::client::{self, ClientState};
use crate::handshake::common::Negotiated;
use crate::handshake::fragment::{Message, Reassembler};
use crate::handshake::server::{self, ServerState};
use crate::handshake::{Ctx, FlightItem};
use crate::record::{
    ContentType, OpeningKey, RecordHeader, SealingKey, DTLS_1_2, HEADER_ROOM, TAG_ROOM,
};
use crate::time::{Duration, Instant};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_core::CryptoRngCore;

/// Early epoch-1 records kept until keys exist.
const MAX_EARLY_RECORDS: usize = 16;
/// Records of one datagram looked at; the rest is dropped (bounded work per datagram).
const MAX_RECORDS_PER_DATAGRAM: usize = 32;
/// Handshake fragments of one datagram looked at.
const MAX_FRAGMENTS_PER_DATAGRAM: usize = 32;
/// Datagrams queued for sending before the oldest are dropped.
const MAX_QUEUED: usize = 256;

#[derive(Clone, Debug)]
enum State {
    Client(ClientState),
    Server(ServerState),
    Established(Negotiated),
    Closed,
}

/// One DTLS 1.2 association.
pub struct Connection {
    config: Arc<Config>,
    is_client: bool,
    rng: ChaCha20Rng,
    state: State,
    /// The peer's flight being taken in, on a copy of the state until it verified.
    trial: Option<trial::Trial>,
    /// When the handshake fails whatever arrives (set once the time is known).
    deadline: Option<Instant>,
    /// Why the last refused flight was refused (reported if the handshake times out).
    last_refusal: Option<Error>,
    /// When the peer's retransmission last made us resend (rate limit).
    last_peer_resend: Option<Instant>,
    transcript: Vec<u8>,
    reassembler: Reassembler,
    next_send_seq: u16,
    writer: flight::Writer,
    write: Option<SealingKey>,
    read: Option<OpeningKey>,
    early: Vec<Vec<u8>>,
    flight: Vec<FlightItem>,
    timer: Option<Instant>,
    rto: Duration,
    retransmits: u32,
    /// The peer's next message_seq when we sent our current flight: older messages mean
    /// the peer retransmits its previous flight (it lost ours).
    peer_flight_start: u16,
    /// Sequence number of the epoch-0 record being processed.
    last_record_seq: u64,
    /// Handshake fragments left to look at in the datagram being processed.
    fragment_budget: usize,
    rekey_reported: bool,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    stats: Stats,
    /// Whether the peer said anything the handshake accepted (tells a dead peer from a
    /// failed handshake).
    peer_answered: bool,
    /// Why the connection failed for good.
    failure: Option<HandshakeFailure>,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("is_client", &self.is_client)
            .field("state", &self.state)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn new(config: Arc<Config>, is_client: bool, rng: &mut impl CryptoRngCore) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let rto = config.initial_rto;
        Connection {
            config,
            is_client,
            rng: ChaCha20Rng::from_seed(seed),
            state: State::Closed,
            trial: None,
            deadline: None,
            last_refusal: None,
            last_peer_resend: None,
            transcript: Vec::new(),
            reassembler: Reassembler::new(0),
            next_send_seq: 0,
            writer: flight::Writer::default(),
            write: None,
            read: None,
            early: Vec::new(),
            flight: Vec::new(),
            timer: None,
            rto,
            retransmits: 0,
            peer_flight_start: 0,
            last_record_seq: 0,
            fragment_budget: 0,
            rekey_reported: false,
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            peer_answered: false,
            failure: None,
        }
    }

    /// Starts a client handshake: flight 1 is ready in [`Connection::poll_transmit`].
    pub fn client(config: Arc<Config>, now: Instant, rng: &mut impl CryptoRngCore) -> Self {
        let mut c = Connection::new(config, true, rng);
        c.deadline = Some(now + c.config.handshake_timeout);
        let mut actions = Vec::new();
        let st = {
            let mut ctx = Ctx {
                config: &c.config,
                rng: &mut c.rng,
                transcript: &mut c.transcript,
                next_send_seq: &mut c.next_send_seq,
                actions: &mut actions,
            };
            client::start(&mut ctx)
        };
        c.state = State::Client(st);
        c.run_actions(now, actions);
        c
    }

    /// A server waiting for a ClientHello from `peer_addr` (any stable encoding of the
    /// peer's address and port, used to bind cookies). It answers hellos without a valid
    /// cookie with a HelloVerifyRequest and keeps no state for them. Prefer
    /// [`crate::Endpoint`], which creates connections only once a cookie came back. Like
    /// every handshake it fails after [`Config::handshake_timeout`], counted from the
    /// first datagram or timeout call it gets.
    pub fn server(config: Arc<Config>, peer_addr: &[u8], rng: &mut impl CryptoRngCore) -> Self {
        let key = CookieKey::generate(rng);
        Self::server_with_cookie_key(config, peer_addr, key, rng)
    }

    /// Like [`Connection::server`], with a cookie secret shared with other connections
    /// (an [`crate::Endpoint`] or the caller's own front door), so a cookie handed out by
    /// one is accepted by another.
    pub fn server_with_cookie_key(
        config: Arc<Config>,
        peer_addr: &[u8],
        cookie_key: CookieKey,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut c = Connection::new(config, false, rng);
        c.state = State::Server(ServerState::ExpectClientHello(server::ExpectClientHello {
            cookie_key,
            peer_addr: peer_addr.to_vec(),
        }));
        c
    }

    /// Whether the handshake completed and the connection is not closed.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// What was negotiated, once established.
    pub fn negotiated(&self) -> Option<Negotiated> {
        match self.state {
            State::Established(n) => Some(n),
            _ => None,
        }
    }

    /// Why the connection failed, once it has failed for good (`None` while it runs,
    /// and after an orderly close_notify).
    pub fn failure(&self) -> Option<HandshakeFailure> {
        self.failure
    }

    /// What [`Connection::failure`] would say if the handshake's time ran out now: the
    /// reason a refused flight was refused (a key that does not match the pin), else
    /// whether the peer answered at all. For a caller that gives up before the
    /// connection's own deadline and wants to tell a wrong pin from a dead peer.
    pub fn timeout_failure(&self) -> HandshakeFailure {
        match self.last_refusal {
            Some(Error::PeerKeyMismatch | Error::BadSignature) => HandshakeFailure::PinMismatch,
            _ if self.peer_answered => HandshakeFailure::Timeout,
            _ => HandshakeFailure::NoResponse,
        }
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The next datagram to send, copied into `buf`; returns its length. A datagram longer
    /// than `buf` is dropped (size `buf` to the MTU).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            let d = self.out.pop_front()?;
            if d.len() <= buf.len() {
                buf[..d.len()].copy_from_slice(&d);
                self.stats.datagrams_sent += 1;
                return Some(d.len());
            }
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Connection::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() || self.is_established() {
            return self.timer;
        }
        match (self.timer, self.deadline) {
            (Some(t), Some(d)) => Some(t.min(d)),
            (t, d) => t.or(d),
        }
    }

    /// Retransmits the current flight if its timer expired (doubling the timeout, RFC 6347
    /// §4.2.4.1), or fails the handshake after `max_retransmits` or once
    /// [`Config::handshake_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        self.start_clock(now);
        if !self.is_established() && self.deadline.is_some_and(|d| now >= d) {
            self.fail(Error::HandshakeTimeout);
            return;
        }
        let Some(deadline) = self.timer else { return };
        if now < deadline {
            return;
        }
        if self.retransmits >= self.config.max_retransmits {
            self.fail(Error::HandshakeTimeout);
            return;
        }
        self.retransmits += 1;
        self.stats.retransmits += 1;
        self.rto = crate::config::doubled_capped(self.rto, self.config.max_rto);
        self.resend_flight();
        self.timer = Some(now + self.rto);
    }

    /// Sends application data in one record (connection-level API; allocates).
    pub fn send_app_data(&mut self, data: &[u8]) -> Result<(), Error> {
        if !self.is_established() {
            return Err(if self.is_closed() {
                Error::Closed
            } else {
                Error::NotConnected
            });
        }
        let mut buf = vec![0u8; HEADER_ROOM + data.len() + TAG_ROOM];
        buf[HEADER_ROOM..HEADER_ROOM + data.len()].copy_from_slice(data);
        let n = self
            .seal_in_place(&mut buf, data.len())
            .map_err(|e| match e {
                RecordError::SequenceExhausted => Error::SequenceExhausted,
                _ => Error::BufferTooSmall,
            })?;
        buf.truncate(n);
        self.queue(buf);
        Ok(())
    }

    /// Data plane: seals the `payload_len` bytes at `buf[HEADER_ROOM..]` into one
    /// application_data record starting at `buf[0]` (the tag goes behind the payload, so
    /// `buf` needs `HEADER_ROOM + payload_len + TAG_ROOM` bytes). Returns the record
    /// length. Does not allocate.
    pub fn seal_in_place(
        &mut self,
        buf: &mut [u8],
        payload_len: usize,
    ) -> Result<usize, RecordError> {
        if !self.is_established() {
            return Err(RecordError::NotConnected);
        }
        let key = self.write.as_mut().ok_or(RecordError::NotConnected)?;
        let n = key.seal_in_place(ContentType::ApplicationData, buf, payload_len)?;
        if key.wants_rekey() && !self.rekey_reported {
            self.rekey_reported = true;
            self.events.push_back(Event::RekeyNeeded);
        }
        Ok(n)
    }

    /// Data plane: opens one application_data record (the whole datagram) in place and
    /// returns the plaintext's range in `record`. Any other record type is left untouched
    /// and refused with [`RecordError::NotApplicationData`]: pass that datagram to
    /// [`Connection::handle_datagram`]. Does not allocate.
    pub fn open_in_place(&mut self, record: &mut [u8]) -> Result<Range<usize>, RecordError> {
        let header = RecordHeader::parse(record).ok_or(RecordError::Malformed)?;
        if header.content_type != ContentType::ApplicationData {
            return Err(RecordError::NotApplicationData);
        }
        if !self.is_established() {
            return Err(RecordError::NotConnected);
        }
        let key = self.read.as_mut().ok_or(RecordError::NotConnected)?;
        let r = key.open_in_place(record);
        match r {
            Err(RecordError::BadTag) => self.stats.bad_tag += 1,
            Err(RecordError::Replayed) => self.stats.replayed += 1,
            Err(RecordError::Malformed) => self.stats.malformed += 1,
            Err(_) => self.stats.unexpected += 1,
            Ok(_) => {}
        }
        r.map(|(_, range)| range)
    }

    /// Sends close_notify and closes.
    pub fn close(&mut self) {
        if self.is_closed() {
            return;
        }
        self.send_alert(1, AlertDescription::CloseNotify);
        self.state = State::Closed;
        self.timer = None;
        self.events.push_back(Event::Closed(None));
    }

    fn resend_flight(&mut self) {
        let datagrams = self
            .writer
            .flight(&self.flight, self.config.mtu, self.write.as_mut());
        for d in datagrams {
            self.queue(d);
        }
    }

    /// Sends a HelloVerifyRequest with the record sequence number of the ClientHello it
    /// answers (RFC 6347 §4.2.1), leaving our own epoch-0 numbering alone.
    fn send_stateless(&mut self, m: &Message) {
        let ours = self.writer.epoch0_seq;
        self.writer.epoch0_seq = self.last_record_seq;
        let datagrams =
            self.writer
                .flight(&[FlightItem::Handshake(m.clone())], self.config.mtu, None);
        self.writer.epoch0_seq = ours;
        for d in datagrams {
            self.queue(d);
        }
    }

    fn send_alert(&mut self, level: u8, desc: AlertDescription) {
        let body = [level, desc.code()];
        let mut out = Vec::new();
        let mut p = flight::Packer {
            mtu: self.config.mtu,
            out: &mut out,
            current: Vec::new(),
        };
        let epoch = if self.write.is_some() { 1 } else { 0 };
        self.writer.record(
            &mut p,
            ContentType::Alert,
            epoch,
            &body,
            self.write.as_mut(),
            DTLS_1_2,
        );
        let last = core::mem::take(&mut p.current);
        out.push(last);
        for d in out {
            if !d.is_empty() {
                self.queue(d);
            }
        }
    }

    /// Starts the handshake's own clock for a server, which is created without a time.
    fn start_clock(&mut self, now: Instant) {
        if self.deadline.is_none() && !self.is_established() {
            self.deadline = Some(now + self.config.handshake_timeout);
        }
    }

    /// Ends the connection for good: on its own timeout, or on an authenticated failure
    /// (only those send an alert, protected by the keys).
    fn fail(&mut self, e: Error) {
        self.failure = Some(match e {
            Error::HandshakeTimeout => self.timeout_failure(),
            Error::PeerKeyMismatch | Error::BadSignature => HandshakeFailure::PinMismatch,
            Error::PeerAlert(d) => HandshakeFailure::AlertFromPeer(d),
            _ => HandshakeFailure::Protocol,
        });
        let reported = if e == Error::HandshakeTimeout {
            // The event names the last reason a flight was refused, if any.
            self.last_refusal.unwrap_or(e)
        } else {
            if self.write.is_some() {
                self.send_alert(2, e.alert());
            }
            e
        };
        self.state = State::Closed;
        self.trial = None;
        self.timer = None;
        self.events.push_back(Event::Closed(Some(reported)));
    }

    fn queue(&mut self, d: Vec<u8>) {
        if self.out.len() >= MAX_QUEUED {
            self.out.pop_front();
        }
        self.out.push_back(d);
    }
}
