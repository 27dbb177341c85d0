//! A DTLS connection: one peer, driven by the caller (sans-IO).
//!
//! Feed received datagrams to [`Connection::handle_datagram`], call
//! [`Connection::handle_timeout`] when [`Connection::poll_timeout`] is reached, and drain
//! [`Connection::poll_transmit`] and [`Connection::poll_event`] after each call.
//! No input can make it panic; invalid records are dropped and counted in [`Stats`].

mod event;
mod flight;

pub use event::{Event, Stats};

use crate::codec::Reader;
use crate::config::Config;
use crate::cookie::CookieKey;
use crate::error::{AlertDescription, Error, RecordError};
use crate::handshake::client::{self, ClientState};
use crate::handshake::common::Negotiated;
use crate::handshake::fragment::{Accepted, FragmentHeader, Message, Reassembler};
use crate::handshake::msgs::{msg_type, ClientHello};
use crate::handshake::server::{self, ServerState};
use crate::handshake::{Action, Ctx, FlightItem};
use crate::record::{
    ContentType, OpeningKey, RecordHeader, Records, SealingKey, DTLS_1_2, HEADER_LEN, HEADER_ROOM,
    TAG_ROOM,
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
/// Datagrams queued for sending before the oldest are dropped.
const MAX_QUEUED: usize = 256;

#[derive(Debug)]
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
    peer_addr: Vec<u8>,
    cookie_key: Option<CookieKey>,
    rng: ChaCha20Rng,
    state: State,
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
    client_random: Option<[u8; 32]>,
    rekey_reported: bool,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    stats: Stats,
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
            peer_addr: Vec::new(),
            cookie_key: None,
            rng: ChaCha20Rng::from_seed(seed),
            state: State::Closed,
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
            client_random: None,
            rekey_reported: false,
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Starts a client handshake: flight 1 is ready in [`Connection::poll_transmit`].
    pub fn client(config: Arc<Config>, now: Instant, rng: &mut impl CryptoRngCore) -> Self {
        let mut c = Connection::new(config, true, rng);
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
    /// peer's address, used to bind cookies). It answers hellos without a valid cookie
    /// with a HelloVerifyRequest and keeps no state for them. Prefer [`crate::Endpoint`],
    /// which creates connections only once a cookie came back.
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
        c.peer_addr = peer_addr.to_vec();
        c.cookie_key = Some(cookie_key.clone());
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
        self.timer
    }

    /// Retransmits the current flight if its timer expired (doubling the timeout, RFC 6347
    /// §4.2.4.1), or fails the handshake after `max_retransmits`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.timer else { return };
        if now < deadline {
            return;
        }
        if self.retransmits >= self.config.max_retransmits {
            self.fail(Error::HandshakeTimeout);
            return;
        }
        self.retransmits += 1;
        self.rto = self.rto.doubled_capped(self.config.max_rto);
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

    /// Processes one received datagram.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        if self.is_closed() {
            return;
        }
        let mut peer_retransmitted = false;
        let mut records = Records::new(datagram);
        for (header, record) in &mut records {
            self.handle_record(now, header, record, &mut peer_retransmitted);
            if self.is_closed() {
                return;
            }
        }
        if records.malformed() {
            self.stats.malformed += 1;
        }
        if peer_retransmitted && !self.flight.is_empty() && !self.awaiting_timer_only() {
            self.stats.retransmits += 1;
            self.resend_flight();
        }
    }

    /// A client that already sent its last flight only retransmits on its timer; a server
    /// answers the client's retransmissions (RFC 6347 §4.2.4).
    fn awaiting_timer_only(&self) -> bool {
        self.is_client && self.is_established()
    }

    fn handle_record(
        &mut self,
        now: Instant,
        h: RecordHeader,
        record: &[u8],
        peer_retransmitted: &mut bool,
    ) {
        match h.epoch {
            0 => {
                let body = &record[HEADER_LEN..];
                if self.read.is_some() {
                    match h.content_type {
                        ContentType::Handshake => {}
                        // The peer's CCS, possibly retransmitted: carries nothing.
                        ContentType::ChangeCipherSpec => return,
                        // Plaintext alerts or data after keys are in place could be forged.
                        _ => {
                            self.stats.unexpected += 1;
                            return;
                        }
                    }
                }
                self.handle_plaintext(now, h, body, peer_retransmitted);
            }
            1 => {
                let Some(key) = self.read.as_mut() else {
                    if self.early.len() < MAX_EARLY_RECORDS && !self.is_established() {
                        self.stats.buffered_early += 1;
                        self.early.push(record.to_vec());
                    } else {
                        self.stats.unexpected += 1;
                    }
                    return;
                };
                let mut copy = record.to_vec();
                match key.open_in_place(&mut copy) {
                    Ok((h, range)) => {
                        let plain = copy[range].to_vec();
                        self.handle_plaintext(now, h, &plain, peer_retransmitted);
                    }
                    Err(RecordError::BadTag) => {
                        self.stats.bad_tag += 1;
                        if key.exhausted() {
                            self.fail(Error::TooManyDecryptFailures);
                        }
                    }
                    Err(RecordError::Replayed) => self.stats.replayed += 1,
                    Err(_) => self.stats.malformed += 1,
                }
            }
            _ => self.stats.unexpected += 1,
        }
    }

    fn handle_plaintext(
        &mut self,
        now: Instant,
        h: RecordHeader,
        body: &[u8],
        peer_retransmitted: &mut bool,
    ) {
        match h.content_type {
            ContentType::Handshake => self.handle_handshake(now, h, body, peer_retransmitted),
            ContentType::ChangeCipherSpec => {
                // Keys switch when they are derived; the record itself carries nothing.
                if body != [1] {
                    self.stats.malformed += 1;
                }
            }
            ContentType::Alert => self.handle_alert(body),
            ContentType::ApplicationData => {
                if h.epoch >= 1 && self.is_established() {
                    self.events.push_back(Event::AppData(body.to_vec()));
                } else {
                    self.stats.unexpected += 1;
                }
            }
        }
    }

    fn handle_alert(&mut self, body: &[u8]) {
        let [level, code] = body else {
            self.stats.malformed += 1;
            return;
        };
        let desc = AlertDescription::from_code(*code);
        if desc == AlertDescription::CloseNotify {
            if self.is_established() {
                self.send_alert(1, AlertDescription::CloseNotify);
            }
            self.state = State::Closed;
            self.timer = None;
            self.events.push_back(Event::Closed(None));
        } else if *level == 2 {
            self.state = State::Closed;
            self.timer = None;
            self.events
                .push_back(Event::Closed(Some(Error::PeerAlert(desc))));
        } else {
            self.events.push_back(Event::Alert(desc));
        }
    }

    fn handle_handshake(
        &mut self,
        now: Instant,
        h: RecordHeader,
        body: &[u8],
        peer_retransmitted: &mut bool,
    ) {
        let mut r = Reader::new(body);
        while !r.is_empty() {
            let Ok((fh, data)) = FragmentHeader::parse(&mut r) else {
                self.stats.malformed += 1;
                return;
            };
            if self.is_established() {
                self.handshake_after_established(now, h, &fh, data, peer_retransmitted);
                continue;
            }
            if let State::Server(ServerState::ExpectClientHello(_)) = self.state {
                // Stateless until a cookie returns: follow the client's numbering.
                if fh.msg_type == msg_type::CLIENT_HELLO
                    && fh.message_seq != self.reassembler.next_seq()
                {
                    self.reassembler.reset(fh.message_seq);
                }
            }
            match self.reassembler.insert(&fh, data, h.epoch) {
                Accepted::Old => *peer_retransmitted = true,
                Accepted::Dropped => self.stats.unexpected += 1,
                Accepted::Buffered => {}
            }
            while let Some(m) = self.reassembler.pop() {
                self.handle_message(now, m);
                if self.is_closed() || self.is_established() {
                    return;
                }
            }
        }
    }

    fn handshake_after_established(
        &mut self,
        now: Instant,
        h: RecordHeader,
        fh: &FragmentHeader,
        data: &[u8],
        peer_retransmitted: &mut bool,
    ) {
        let whole = fh.fragment_offset == 0 && fh.fragment_length == fh.length;
        if h.epoch == 0 && !self.is_client && fh.msg_type == msg_type::CLIENT_HELLO && whole {
            self.maybe_restart(now, fh, data);
            return;
        }
        if h.epoch >= 1
            && (fh.msg_type == msg_type::HELLO_REQUEST || fh.msg_type == msg_type::CLIENT_HELLO)
        {
            // Renegotiation is refused (RFC 5746 §4.4, §4.5).
            self.send_alert(1, AlertDescription::NoRenegotiation);
            return;
        }
        if fh.message_seq < self.reassembler.next_seq() {
            *peer_retransmitted = true;
        } else {
            self.stats.unexpected += 1;
        }
    }

    /// An epoch-0 ClientHello on an established server connection: a retransmission of
    /// the current session's hello, or a restarted peer. A restart is accepted only with
    /// a valid cookie; until then it is answered statelessly.
    fn maybe_restart(&mut self, now: Instant, fh: &FragmentHeader, data: &[u8]) {
        let Some(key) = self.cookie_key.clone() else {
            return;
        };
        let Ok(ch) = ClientHello::parse(data) else {
            self.stats.malformed += 1;
            return;
        };
        if Some(ch.random) == self.client_random {
            // Our client retransmitting flight 3: it lost flight 4 or 6.
            self.stats.retransmits += 1;
            self.resend_flight();
            return;
        }
        if !key.verify(&self.peer_addr, &ch) {
            let hvr = server::hello_verify_request(&key, &self.peer_addr, &ch, fh.message_seq);
            self.send_stateless(&hvr);
            return;
        }
        // A new session from a restarted peer replaces this one.
        let config = self.config.clone();
        let mut fresh =
            Connection::server_with_cookie_key(config, &self.peer_addr, key, &mut self.rng);
        fresh.stats = self.stats;
        *self = fresh;
        self.events.push_back(Event::PeerRestarted);
        let m = Message {
            epoch: 0,
            msg_type: fh.msg_type,
            message_seq: fh.message_seq,
            body: data.to_vec(),
        };
        self.reassembler.reset(fh.message_seq.wrapping_add(1));
        self.handle_message(now, m);
    }

    fn handle_message(&mut self, now: Instant, m: Message) {
        let mut actions = Vec::new();
        let state = core::mem::replace(&mut self.state, State::Closed);
        let is_hello = m.msg_type == msg_type::CLIENT_HELLO;
        let result = {
            let mut ctx = Ctx {
                config: &self.config,
                rng: &mut self.rng,
                transcript: &mut self.transcript,
                next_send_seq: &mut self.next_send_seq,
                actions: &mut actions,
            };
            match state {
                State::Client(s) => s.handle(&mut ctx, &m).map(State::Client),
                State::Server(s) => s.handle(&mut ctx, &m).map(State::Server),
                other => Ok(other),
            }
        };
        match result {
            Ok(next) => {
                if let State::Server(ServerState::ExpectClientHello(_)) = next {
                    // No cookie yet: forget this hello entirely.
                    self.reassembler.reset(0);
                } else if is_hello && !self.is_client {
                    if let Ok(ch) = ClientHello::parse(&m.body) {
                        self.client_random = Some(ch.random);
                    }
                }
                self.state = next;
                self.run_actions(now, actions);
                if self.is_established() && !self.early.is_empty() {
                    self.replay_early(now);
                }
            }
            Err(e) => self.fail(e),
        }
    }

    fn run_actions(&mut self, now: Instant, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::InstallKeys(keys) => {
                    let keys = *keys;
                    self.write = Some(keys.write);
                    self.read = Some(keys.read);
                    if !self.early.is_empty() {
                        self.replay_early(now);
                    }
                }
                Action::Flight { items, retransmit } => {
                    self.flight = items;
                    self.retransmits = 0;
                    self.rto = self.config.initial_rto;
                    self.timer = retransmit.then(|| now + self.rto);
                    self.resend_flight();
                }
                Action::Stateless(m) => self.send_stateless(&m),
                Action::Connected(n) => {
                    if !self.is_client {
                        // Keep flight 6 for the client's retransmissions; no timer.
                    } else {
                        self.flight.clear();
                    }
                    self.timer = None;
                    self.state = State::Established(n);
                    self.events.push_back(Event::Connected {
                        peer_fingerprint: n.peer,
                        suite: n.suite,
                        extended_master_secret: n.extended_master_secret,
                    });
                }
            }
        }
    }

    fn replay_early(&mut self, now: Instant) {
        let early = core::mem::take(&mut self.early);
        let mut dummy = false;
        for rec in early {
            if let Some(h) = RecordHeader::parse(&rec) {
                self.handle_record(now, h, &rec, &mut dummy);
            }
            if self.is_closed() {
                return;
            }
        }
    }

    fn resend_flight(&mut self) {
        let datagrams = self
            .writer
            .flight(&self.flight, self.config.mtu, self.write.as_mut());
        for d in datagrams {
            self.queue(d);
        }
    }

    fn send_stateless(&mut self, m: &Message) {
        let datagrams =
            self.writer
                .flight(&[FlightItem::Handshake(m.clone())], self.config.mtu, None);
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

    fn fail(&mut self, e: Error) {
        if e == Error::PeerKeyMismatch {
            self.stats.pin_mismatch += 1;
        }
        if e != Error::HandshakeTimeout {
            self.send_alert(2, e.alert());
        }
        self.state = State::Closed;
        self.timer = None;
        self.events.push_back(Event::Closed(Some(e)));
    }

    fn queue(&mut self, d: Vec<u8>) {
        if self.out.len() >= MAX_QUEUED {
            self.out.pop_front();
        }
        self.out.push_back(d);
    }
}
