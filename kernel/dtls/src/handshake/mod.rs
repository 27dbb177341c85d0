//! The DTLS 1.2 handshake, one type per "what we expect next" state.
//!
//! A state consumes itself in `handle(self, ctx, msg)` and returns the next state plus
//! [`Action`]s for the connection (flights to send, keys to install), so a message out of
//! order cannot be processed: every state refuses what it does not expect.

pub mod client;
pub mod common;
pub mod fragment;
pub mod msgs;
pub mod server;

use crate::config::Config;
use crate::handshake::common::{EpochKeys, Negotiated};
use crate::handshake::fragment::Message;
use alloc::vec::Vec;
use rand_chacha::ChaCha20Rng;

/// One message of an outgoing flight.
#[derive(Clone, Debug)]
pub enum FlightItem {
    /// A handshake message, sent in `Message::epoch`.
    Handshake(Message),
    /// ChangeCipherSpec (always epoch 0).
    ChangeCipherSpec,
}

/// What a state transition asks the connection to do, in order.
#[derive(Debug)]
pub enum Action {
    /// Install epoch-1 keys.
    InstallKeys(alloc::boxed::Box<EpochKeys>),
    /// Send a new flight; `retransmit` arms the timer.
    Flight {
        items: Vec<FlightItem>,
        retransmit: bool,
    },
    /// Send one message once, without keeping it for retransmission (HelloVerifyRequest).
    Stateless(Message),
    /// The handshake is complete.
    Connected(Negotiated),
}

/// What every state handler gets to work with.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub rng: &'a mut ChaCha20Rng,
    /// The handshake messages so far, as hashed (RFC 5246 §7.4.9 with DTLS headers).
    pub transcript: &'a mut Vec<u8>,
    /// Our next handshake message_seq.
    pub next_send_seq: &'a mut u16,
    pub actions: &'a mut Vec<Action>,
}

impl Ctx<'_> {
    /// Builds one of our messages, adds it to the transcript and returns it.
    pub fn message(&mut self, msg_type: u8, body: Vec<u8>, epoch: u16) -> FlightItem {
        let m = Message {
            epoch,
            msg_type,
            message_seq: *self.next_send_seq,
            body,
        };
        *self.next_send_seq = self.next_send_seq.wrapping_add(1);
        m.transcript_bytes(self.transcript);
        FlightItem::Handshake(m)
    }

    /// Adds a received message to the transcript.
    pub fn absorb(&mut self, m: &Message) {
        m.transcript_bytes(self.transcript);
    }
}
