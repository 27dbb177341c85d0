//! The receive path: records, handshake fragments, alerts, restarts and state
//! transitions.

use super::{Connection, Event, State, MAX_EARLY_RECORDS};
use crate::codec::Reader;
use crate::error::{AlertDescription, Error, RecordError};
use crate::handshake::fragment::{Accepted, FragmentHeader, Message};
use crate::handshake::msgs::{msg_type, ClientHello};
use crate::handshake::server::{self, ServerState};
use crate::handshake::{Action, Ctx};
use crate::record::{ContentType, RecordHeader, Records, HEADER_LEN};
use crate::time::Instant;
use alloc::vec::Vec;

impl Connection {
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
                self.last_record_seq = h.seq;
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
            self.failure = Some(crate::error::HandshakeFailure::AlertFromPeer(desc));
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
                // Part of the peer's current flight seen again is no reason to resend ours.
                Accepted::Old => *peer_retransmitted |= fh.message_seq < self.peer_flight_start,
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
        if fh.message_seq < self.peer_flight_start {
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
                self.peer_answered = true;
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

    pub(super) fn run_actions(&mut self, now: Instant, actions: Vec<Action>) {
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
                    self.peer_flight_start = self.reassembler.next_seq();
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
}
