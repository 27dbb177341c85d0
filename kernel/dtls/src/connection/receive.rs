//! The receive path: records, handshake fragments, alerts and keys.
//!
//! Before the peer authenticated, nothing unauthenticated changes the handshake:
//! plaintext alerts are ignored, fragments the awaited flight does not have never reach
//! the reassembler, and a complete flight changes the state only once it verified
//! (`trial.rs`). Every drop is counted in [`super::Stats`].

use super::{
    trial, Connection, Event, State, MAX_EARLY_RECORDS, MAX_FRAGMENTS_PER_DATAGRAM,
    MAX_RECORDS_PER_DATAGRAM,
};
use crate::codec::Reader;
use crate::error::{AlertDescription, Error, RecordError};
use crate::handshake::fragment::{Accepted, FragmentHeader};
use crate::handshake::msgs::msg_type;
use crate::handshake::server::ServerState;
use crate::handshake::Action;
use crate::record::{ContentType, RecordHeader, Records, HEADER_LEN};
use crate::time::Instant;
use alloc::vec::Vec;

impl Connection {
    /// Processes one received datagram. At most [`MAX_RECORDS_PER_DATAGRAM`] records and
    /// [`MAX_FRAGMENTS_PER_DATAGRAM`] handshake fragments of it are looked at.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        if self.is_closed() {
            return;
        }
        self.start_clock(now);
        let mut peer_retransmitted = false;
        self.fragment_budget = MAX_FRAGMENTS_PER_DATAGRAM;
        self.reassembler.next_datagram();
        // Epoch-1 records that come before their keys wait for the end of the datagram:
        // its handshake messages (taken all at once) may install the keys (the client's
        // Finished behind its key exchange).
        let mut later = Vec::new();
        let mut records = Records::new(datagram);
        for (i, (header, record)) in records.by_ref().enumerate() {
            if i == MAX_RECORDS_PER_DATAGRAM {
                self.stats.over_budget += 1;
                break;
            }
            if header.epoch == 1 && self.read.is_none() {
                later.push((header, record));
                continue;
            }
            self.handle_record(header, record, &mut peer_retransmitted);
            if self.is_closed() {
                return;
            }
        }
        if records.malformed() {
            self.stats.malformed += 1;
        }
        self.take_messages(now);
        for (header, record) in later {
            if self.is_closed() {
                return;
            }
            self.handle_record(header, record, &mut peer_retransmitted);
        }
        self.take_messages(now);
        if self.is_closed() {
            return;
        }
        if peer_retransmitted && !self.flight.is_empty() && !self.awaiting_timer_only() {
            self.resend_for_peer(now);
        }
    }

    /// The peer retransmitted its previous flight: it lost ours. Resent at most once a
    /// quarter of the initial timeout, so that replayed old messages do not make us
    /// reflect whole flights at the peer.
    fn resend_for_peer(&mut self, now: Instant) {
        let gap = self.config.initial_rto / 4;
        if self.last_peer_resend.is_some_and(|t| now < t + gap) {
            return;
        }
        self.last_peer_resend = Some(now);
        self.stats.retransmits += 1;
        self.resend_flight();
    }

    /// A client that already sent its last flight only retransmits on its timer; a server
    /// answers the client's retransmissions (RFC 6347 §4.2.4).
    fn awaiting_timer_only(&self) -> bool {
        self.is_client && self.is_established()
    }

    fn handle_record(&mut self, h: RecordHeader, record: &[u8], peer_retransmitted: &mut bool) {
        match h.epoch {
            0 => {
                self.last_record_seq = h.seq;
                let body = &record[HEADER_LEN..];
                if self.read.is_some() {
                    match h.content_type {
                        ContentType::Handshake => {}
                        // The peer's CCS, possibly retransmitted: carries nothing.
                        ContentType::ChangeCipherSpec => return,
                        ContentType::Alert => {
                            self.stats.alerts_ignored += 1;
                            return;
                        }
                        // Plaintext data after keys are in place could be forged.
                        ContentType::ApplicationData => {
                            self.stats.unexpected += 1;
                            return;
                        }
                    }
                }
                self.handle_plaintext(h, body, peer_retransmitted);
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
                        self.handle_plaintext(h, &plain, peer_retransmitted);
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

    fn handle_plaintext(&mut self, h: RecordHeader, body: &[u8], peer_retransmitted: &mut bool) {
        match h.content_type {
            ContentType::Handshake => self.handle_handshake(h, body, peer_retransmitted),
            ContentType::ChangeCipherSpec => {
                // Keys switch when they are derived; the record itself carries nothing.
                if body != [1] {
                    self.stats.malformed += 1;
                }
            }
            ContentType::Alert => self.handle_alert(body, h.epoch >= 1),
            ContentType::ApplicationData => {
                if h.epoch >= 1 && self.is_established() {
                    self.events.push_back(Event::AppData(body.to_vec()));
                } else {
                    self.stats.unexpected += 1;
                }
            }
        }
    }

    /// Only alerts under the session's keys act: anyone can forge a plaintext one.
    fn handle_alert(&mut self, body: &[u8], authenticated: bool) {
        if !authenticated {
            self.stats.alerts_ignored += 1;
            return;
        }
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
            self.trial = None;
            self.timer = None;
            self.events.push_back(Event::Closed(None));
        } else if *level == 2 {
            self.failure = Some(crate::error::HandshakeFailure::AlertFromPeer(desc));
            self.state = State::Closed;
            self.trial = None;
            self.timer = None;
            self.events
                .push_back(Event::Closed(Some(Error::PeerAlert(desc))));
        } else {
            self.events.push_back(Event::Alert(desc));
        }
    }

    fn handle_handshake(&mut self, h: RecordHeader, body: &[u8], peer_retransmitted: &mut bool) {
        let mut r = Reader::new(body);
        while !r.is_empty() {
            if self.fragment_budget == 0 {
                self.stats.over_budget += 1;
                return;
            }
            self.fragment_budget -= 1;
            let Ok((fh, data)) = FragmentHeader::parse(&mut r) else {
                self.stats.malformed += 1;
                return;
            };
            if self.is_established() {
                self.handshake_after_established(h, &fh, peer_retransmitted);
                continue;
            }
            if let State::Server(ServerState::ExpectClientHello(_)) = self.state {
                // Stateless until a cookie returns: follow the client's numbering.
                if fh.msg_type == msg_type::CLIENT_HELLO
                    && fh.message_seq != self.reassembler.floor()
                {
                    self.reassembler.reset(fh.message_seq);
                }
            }
            let floor = self.reassembler.floor();
            if fh.msg_type == msg_type::HELLO_VERIFY_REQUEST
                && !trial::expects(
                    &self.state,
                    fh.message_seq.wrapping_sub(floor),
                    fh.msg_type,
                    h.epoch,
                )
            {
                // Never a sign of a retransmitted flight: only the answer to our hello.
                self.stats.hello_verify_ignored += 1;
                continue;
            }
            if fh.message_seq < floor {
                // Part of the peer's previous flight: it lost ours (its current flight
                // seen again is no reason to resend).
                *peer_retransmitted |= fh.message_seq < self.peer_flight_start;
                continue;
            }
            if !trial::expects(&self.state, fh.message_seq - floor, fh.msg_type, h.epoch) {
                match fh.msg_type {
                    msg_type::HELLO_VERIFY_REQUEST => self.stats.hello_verify_ignored += 1,
                    msg_type::CLIENT_HELLO => self.stats.client_hellos_ignored += 1,
                    _ => self.stats.fragments_refused += 1,
                }
                continue;
            }
            match self.reassembler.insert(&fh, data, h.epoch) {
                Accepted::Old => *peer_retransmitted |= fh.message_seq < self.peer_flight_start,
                Accepted::Dropped => self.stats.fragments_dropped += 1,
                Accepted::Buffered => {}
            }
        }
    }

    /// Handshake fragments on an established connection: retransmissions of the peer's
    /// last flight (it lost ours), refused renegotiations, and ClientHellos, which are
    /// never this connection's business: it does not start over (the owner may run a new
    /// connection next to it, see [`crate::datagram_has_client_hello`]).
    fn handshake_after_established(
        &mut self,
        h: RecordHeader,
        fh: &FragmentHeader,
        peer_retransmitted: &mut bool,
    ) {
        if h.epoch == 0 && fh.msg_type == msg_type::CLIENT_HELLO {
            self.stats.client_hellos_ignored += 1;
            return;
        }
        if fh.msg_type == msg_type::HELLO_VERIFY_REQUEST {
            self.stats.hello_verify_ignored += 1;
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

    pub(super) fn replay_early(&mut self, now: Instant) {
        let early = core::mem::take(&mut self.early);
        let mut dummy = false;
        // At most MAX_EARLY_RECORDS records, each within its own fragment budget.
        self.fragment_budget = MAX_FRAGMENTS_PER_DATAGRAM;
        self.reassembler.next_datagram();
        for rec in early {
            if let Some(h) = RecordHeader::parse(&rec) {
                self.handle_record(h, &rec, &mut dummy);
            }
            if self.is_closed() {
                return;
            }
        }
        self.take_messages(now);
    }
}
