//! Taking in the peer's flights so that only verified input changes the handshake.
//!
//! Each complete message of the peer's flight runs on a *copy* of the handshake state (a
//! [`Trial`], with its own transcript and pending actions). The copy replaces the state
//! only when the flight's last message went through without error (a flight to send, the
//! keys of the client's flight 5, or the end of the handshake): that is the commit. A
//! message that fails (a Certificate with another key, a signature that does not verify,
//! bad parameters) throws the whole trial away: nothing reached the transcript, no flight
//! was sent, no keys were installed, and the reassembler offers the flight again from its
//! first message out of the candidates that remain (the genuine message next to a forged
//! one; the refused flight's messages except its first and the failing one go back), or
//! waits for the peer's retransmission. The reason is remembered for
//! [`super::Connection::failure`] should the handshake time out.
//!
//! A failing flight sent under the session's keys (a Finished in epoch 1) is the
//! authenticated peer, so that failure is final.

use super::{Connection, State};
use crate::error::Error;
use crate::handshake::client::ClientState;
use crate::handshake::fragment::Message;
use crate::handshake::msgs::msg_type as t;
use crate::handshake::server::ServerState;
use crate::handshake::{Action, Ctx};
use crate::time::Instant;
use alloc::vec::Vec;

/// A flight being taken in on a copy of the state.
pub(super) struct Trial {
    state: State,
    transcript: Vec<u8>,
    next_send_seq: u16,
    actions: Vec<Action>,
    /// The flight arrived under the session's keys.
    authenticated: bool,
    /// The datagram that brought the last message taken: the next is preferred from it.
    last_arrival: u64,
    /// The messages taken so far, with their datagrams (to put back if refused).
    taken: Vec<(Message, u64)>,
}

impl Trial {
    /// Whether the flight is over: the state machine has something to send, keys for the
    /// peer's Finished, or the handshake is done.
    fn complete(&self) -> bool {
        self.actions.iter().any(|a| {
            matches!(
                a,
                Action::Flight { .. } | Action::Stateless(_) | Action::Connected(_)
            )
        }) || matches!(self.state, State::Server(ServerState::ExpectFinished(_)))
    }
}

/// Whether the flight awaited in `state` has a message of `msg_type`, in a record of
/// `epoch`, at `offset` (its message_seq minus that of the flight's first message).
/// Fragments of anything else never reach the reassembler.
pub(super) fn expects(state: &State, offset: u16, msg_type: u8, epoch: u16) -> bool {
    match state {
        State::Client(ClientState::ExpectServerHello(_)) => {
            epoch == 0
                && match offset {
                    0 => msg_type == t::HELLO_VERIFY_REQUEST || msg_type == t::SERVER_HELLO,
                    1 => msg_type == t::CERTIFICATE,
                    2 => msg_type == t::SERVER_KEY_EXCHANGE,
                    3 => msg_type == t::CERTIFICATE_REQUEST || msg_type == t::SERVER_HELLO_DONE,
                    4 => msg_type == t::SERVER_HELLO_DONE,
                    _ => false,
                }
        }
        State::Client(ClientState::ExpectFinished(_))
        | State::Server(ServerState::ExpectFinished(_)) => {
            epoch == 1 && offset == 0 && msg_type == t::FINISHED
        }
        State::Server(ServerState::ExpectClientHello(_)) => {
            epoch == 0 && msg_type == t::CLIENT_HELLO
        }
        State::Server(ServerState::ExpectCertificate(_)) => {
            epoch == 0
                && match offset {
                    0 => msg_type == t::CERTIFICATE,
                    1 => msg_type == t::CLIENT_KEY_EXCHANGE,
                    2 => msg_type == t::CERTIFICATE_VERIFY,
                    _ => false,
                }
        }
        State::Server(ServerState::ExpectClientKeyExchange(_)) => {
            epoch == 0 && offset == 0 && msg_type == t::CLIENT_KEY_EXCHANGE
        }
        // States inside a flight are never committed; nothing is awaited once done.
        _ => false,
    }
}

impl Connection {
    /// Takes every message the reassembler has complete, in order, until a flight is
    /// waiting for more (called once per datagram, after all its fragments are in, so
    /// that a flight's messages are taken from the datagram that carried them).
    pub(super) fn take_messages(&mut self, now: Instant) {
        let mut prefer_now = false;
        if self.trial.is_some() && self.reassembler.has_alternative() {
            // The flight on trial waits for more, and this datagram completed another
            // candidate for a message it took (e.g. the genuine HelloVerifyRequest where a
            // forged ServerHello was taken): start the flight again, this datagram first.
            if let Some(trial) = self.trial.take() {
                self.reassembler.rewind();
                for (m, arrival) in trial.taken {
                    self.reassembler.restore(m, arrival);
                }
                self.stats.flights_restarted += 1;
                prefer_now = true;
            }
        }
        while !self.is_closed() && !self.is_established() {
            let prefer = match self.trial.as_ref() {
                Some(t) => Some(t.last_arrival),
                None if prefer_now => Some(self.reassembler.arrival()),
                None => None,
            };
            let Some((m, arrival)) = self.reassembler.pop_preferring(prefer) else {
                return;
            };
            self.take_message(now, m, arrival);
        }
    }

    /// Runs one complete message of the peer's current flight on the trial copy.
    fn take_message(&mut self, now: Instant, m: Message, arrival: u64) {
        let mut trial = self.trial.take().unwrap_or_else(|| Trial {
            state: self.state.clone(),
            transcript: self.transcript.clone(),
            next_send_seq: self.next_send_seq,
            actions: Vec::new(),
            authenticated: m.epoch >= 1,
            last_arrival: arrival,
            taken: Vec::new(),
        });
        trial.last_arrival = arrival;
        trial.taken.push((m.clone(), arrival));
        let state = core::mem::replace(&mut trial.state, State::Closed);
        let result = {
            let mut ctx = Ctx {
                config: &self.config,
                rng: &mut self.rng,
                transcript: &mut trial.transcript,
                next_send_seq: &mut trial.next_send_seq,
                actions: &mut trial.actions,
            };
            match state {
                State::Client(s) => s.handle(&mut ctx, &m).map(State::Client),
                State::Server(s) => s.handle(&mut ctx, &m).map(State::Server),
                other => Ok(other),
            }
        };
        match result {
            Ok(next) => {
                trial.state = next;
                if trial.complete() {
                    self.commit(now, trial);
                } else {
                    self.trial = Some(trial);
                }
            }
            Err(e) if trial.authenticated => self.fail(e),
            Err(e) => self.refuse(e, m.msg_type, trial.taken),
        }
    }

    fn commit(&mut self, now: Instant, trial: Trial) {
        self.reassembler.commit();
        // A hello without a cookie was answered statelessly: nothing of it is kept.
        let stateless = matches!(
            trial.state,
            State::Server(ServerState::ExpectClientHello(_))
        );
        self.state = trial.state;
        self.transcript = trial.transcript;
        self.next_send_seq = trial.next_send_seq;
        if stateless {
            self.reassembler.reset(0);
        } else {
            self.peer_answered = true;
            self.last_refusal = None;
        }
        self.run_actions(now, trial.actions);
        if self.is_established() && !self.early.is_empty() {
            self.replay_early(now);
        }
    }

    /// Throws a flight away. The message that failed and the flight's first one (which
    /// chose the datagram the others were preferred from: a forged ServerHello leads to a
    /// genuine ServerKeyExchange failing) are dropped; the others go back as candidates,
    /// so a genuine flight behind a forged message needs no retransmission.
    fn refuse(&mut self, e: Error, msg_type: u8, taken: Vec<(Message, u64)>) {
        let last = taken.len().saturating_sub(1);
        self.reassembler.rewind();
        for (i, (m, arrival)) in taken.into_iter().enumerate() {
            if i != 0 && i != last {
                self.reassembler.restore(m, arrival);
            }
        }
        self.stats.flights_refused += 1;
        if e == Error::PeerKeyMismatch {
            self.stats.pin_mismatch += 1;
        }
        if msg_type == t::HELLO_VERIFY_REQUEST {
            self.stats.hello_verify_ignored += 1;
        }
        // A well-formed flight claiming to be the peer's is an answer (a dead peer and a
        // refused flight look different in `failure()`); garbage is not.
        if !matches!(e, Error::Decode | Error::UnexpectedMessage) {
            self.peer_answered = true;
        }
        self.last_refusal = Some(e);
    }
}
