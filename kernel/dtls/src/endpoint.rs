//! The server side's front door: stateless cookie exchange for unknown addresses.
//!
//! The caller keeps its own map from peer address to [`Connection`]. Datagrams from a
//! known address go to that connection; datagrams from an unknown address go to
//! [`Endpoint::handle_datagram`], which either writes a HelloVerifyRequest into the
//! caller's buffer (keeping no state), returns a new connection (the ClientHello carried a
//! valid cookie), or ignores the datagram.
//!
//! Cookies are bound to the peer's address bytes (give it address *and* port) and expire:
//! the secret is replaced every [`Endpoint::cookie_lifetime`] on the caller's clock, and
//! only cookies of the current and the previous secret are accepted, so a cookie lives at
//! least one and at most two lifetimes. A connection created for a valid cookie fails
//! after its handshake timeout unless it completes.

use crate::codec::Reader;
use crate::config::Config;
use crate::connection::Connection;
use crate::cookie::CookieKey;
use crate::handshake::fragment::FragmentHeader;
use crate::handshake::msgs::{msg_type, ClientHello, HelloVerifyRequest};
use crate::record::{ContentType, RecordHeader, Records, DTLS_1_0, HEADER_LEN};
use crate::time::{Duration, Instant};
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use rand_core::CryptoRngCore;

/// Whether any record of `datagram` is an epoch-0 handshake record whose first message is
/// a ClientHello fragment: what a peer that starts a new handshake sends. Callers use it
/// to route such a datagram to a new connection next to an established one (an
/// established [`Connection`] ignores ClientHellos). Never panics; framing stops at the
/// first malformed record, as it does in [`Connection::handle_datagram`].
pub fn datagram_has_client_hello(datagram: &[u8]) -> bool {
    Records::new(datagram).any(|(h, record)| {
        h.epoch == 0
            && h.content_type == ContentType::Handshake
            && record.get(HEADER_LEN) == Some(&msg_type::CLIENT_HELLO)
    })
}

/// What became of a datagram from an unknown address.
#[derive(Debug)]
pub enum Accept {
    /// Send the first `n` bytes of the reply buffer back (a HelloVerifyRequest).
    Reply(usize),
    /// A ClientHello with a valid cookie: the new connection has processed it; drain its
    /// `poll_transmit`.
    Connection(Box<Connection>),
    /// Not a ClientHello we answer: drop it.
    Ignore,
}

/// Counters of the front door.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// HelloVerifyRequests sent.
    pub cookies_sent: u64,
    /// Connections accepted with a valid cookie.
    pub accepted: u64,
    /// Datagrams ignored.
    pub ignored: u64,
    /// Cookie secrets replaced.
    pub rotations: u64,
}

/// How long one cookie secret is used by default.
pub const DEFAULT_COOKIE_LIFETIME: Duration = Duration::from_secs(30);

/// A DTLS server's shared state: configuration and cookie secrets.
#[derive(Debug)]
pub struct Endpoint {
    config: Arc<Config>,
    cookie_key: CookieKey,
    /// The secret before the current one: its cookies are still accepted.
    previous_key: Option<CookieKey>,
    /// When the current secret was made (set by the first datagram).
    key_since: Option<Instant>,
    cookie_lifetime: Duration,
    stats: EndpointStats,
}

impl Endpoint {
    /// An endpoint with a fresh cookie secret, replaced every [`DEFAULT_COOKIE_LIFETIME`].
    pub fn new(config: Arc<Config>, rng: &mut impl CryptoRngCore) -> Self {
        Endpoint {
            config,
            cookie_key: CookieKey::generate(rng),
            previous_key: None,
            key_since: None,
            cookie_lifetime: DEFAULT_COOKIE_LIFETIME,
            stats: EndpointStats::default(),
        }
    }

    /// How long one cookie secret is used.
    pub fn cookie_lifetime(&self) -> Duration {
        self.cookie_lifetime
    }

    /// Sets how long one cookie secret is used (a cookie is accepted for at least that
    /// long and at most twice that).
    pub fn set_cookie_lifetime(&mut self, lifetime: Duration) {
        self.cookie_lifetime = lifetime;
    }

    /// Replaces the cookie secret once its lifetime is over (the old one stays valid for
    /// one more lifetime; both are forgotten after a long silence).
    fn rotate(&mut self, now: Instant, rng: &mut impl CryptoRngCore) {
        let since = *self.key_since.get_or_insert(now);
        let age = now.saturating_since(since).as_micros();
        let life = self.cookie_lifetime.as_micros().max(1);
        if age < life {
            return;
        }
        let fresh = CookieKey::generate(rng);
        let old = core::mem::replace(&mut self.cookie_key, fresh);
        self.previous_key = (age < 2 * life).then_some(old);
        self.key_since = Some(now);
        self.stats.rotations += 1;
    }

    fn cookie_valid(&self, peer_addr: &[u8], hello: &ClientHello) -> bool {
        self.cookie_key.verify(peer_addr, hello)
            || self
                .previous_key
                .as_ref()
                .is_some_and(|k| k.verify(peer_addr, hello))
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Handles a datagram from an address with no connection. `reply` should hold at
    /// least 60 bytes (a HelloVerifyRequest record).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        peer_addr: &[u8],
        datagram: &[u8],
        reply: &mut [u8],
        rng: &mut impl CryptoRngCore,
    ) -> Accept {
        let config = self.config.clone();
        self.handle_datagram_for(now, peer_addr, datagram, reply, rng, move || config)
    }

    /// [`Endpoint::handle_datagram`] with the configuration of the connection it may
    /// make chosen by the caller: one front door serves addresses whose peer is not
    /// known until it authenticates (a peer that moved, or one behind NAT), whose
    /// connection pins every configured key. `config` is called only for a hello whose
    /// cookie is valid, so a forged hello costs no allocation.
    pub fn handle_datagram_for(
        &mut self,
        now: Instant,
        peer_addr: &[u8],
        datagram: &[u8],
        reply: &mut [u8],
        rng: &mut impl CryptoRngCore,
        config: impl FnOnce() -> Arc<Config>,
    ) -> Accept {
        self.rotate(now, rng);
        let Some((h, record)) = Records::new(datagram).next() else {
            self.stats.ignored += 1;
            return Accept::Ignore;
        };
        if h.epoch != 0 || h.content_type != ContentType::Handshake {
            self.stats.ignored += 1;
            return Accept::Ignore;
        }
        let mut r = Reader::new(&record[HEADER_LEN..]);
        let Ok((fh, data)) = FragmentHeader::parse(&mut r) else {
            self.stats.ignored += 1;
            return Accept::Ignore;
        };
        // A ClientHello must fit one fragment for a stateless answer.
        if fh.msg_type != msg_type::CLIENT_HELLO
            || fh.fragment_offset != 0
            || fh.fragment_length != fh.length
        {
            self.stats.ignored += 1;
            return Accept::Ignore;
        }
        let Ok(hello) = ClientHello::parse(data) else {
            self.stats.ignored += 1;
            return Accept::Ignore;
        };
        if self.cookie_valid(peer_addr, &hello) {
            self.stats.accepted += 1;
            let mut c = Connection::server_with_cookie_key(
                config(),
                peer_addr,
                self.cookie_key.clone(),
                rng,
            );
            c.handle_datagram(now, datagram);
            return Accept::Connection(Box::new(c));
        }
        match self.hello_verify(&h, &fh, peer_addr, &hello, reply) {
            Some(n) => {
                self.stats.cookies_sent += 1;
                Accept::Reply(n)
            }
            None => {
                self.stats.ignored += 1;
                Accept::Ignore
            }
        }
    }

    /// Writes the HelloVerifyRequest record, reusing the ClientHello's record sequence
    /// number (RFC 6347 §4.2.1).
    fn hello_verify(
        &self,
        h: &RecordHeader,
        fh: &FragmentHeader,
        peer_addr: &[u8],
        hello: &ClientHello,
        reply: &mut [u8],
    ) -> Option<usize> {
        let body = HelloVerifyRequest {
            server_version: DTLS_1_0,
            cookie: self.cookie_key.cookie(peer_addr, hello).to_vec(),
        }
        .encode();
        let mut frag = Vec::with_capacity(12 + body.len());
        FragmentHeader {
            msg_type: msg_type::HELLO_VERIFY_REQUEST,
            length: body.len() as u32,
            message_seq: fh.message_seq,
            fragment_offset: 0,
            fragment_length: body.len() as u32,
        }
        .encode(&mut frag);
        frag.extend_from_slice(&body);
        let mut out = Vec::with_capacity(HEADER_LEN + frag.len());
        RecordHeader {
            content_type: ContentType::Handshake,
            version: DTLS_1_0,
            epoch: 0,
            seq: h.seq,
            length: frag.len() as u16,
        }
        .encode(&mut out);
        out.extend_from_slice(&frag);
        let dst = reply.get_mut(..out.len())?;
        dst.copy_from_slice(&out);
        Some(out.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A ChangeCipherSpec record, then an epoch-0 handshake record whose fragment is a
    /// ClientHello (type 1); both well framed.
    fn ccs_then_hello() -> Vec<u8> {
        let mut d = vec![20, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1];
        d.extend_from_slice(&[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 2, 0, 12]);
        d.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        d
    }

    #[test]
    fn client_hello_is_found_in_any_record() {
        let d = ccs_then_hello();
        assert!(datagram_has_client_hello(&d));
        assert!(datagram_has_client_hello(&d[14..]));
        // The same record in epoch 1, or as another message type: no.
        let mut e = d.clone();
        e[14 + 4] = 1;
        assert!(!datagram_has_client_hello(&e));
        let mut t = d.clone();
        t[27] = 2;
        assert!(!datagram_has_client_hello(&t));
        // Truncated or garbage input never panics.
        for n in 0..d.len() {
            let _ = datagram_has_client_hello(&d[..n]);
        }
        assert!(!datagram_has_client_hello(&d[..14 + 13]));
        assert!(!datagram_has_client_hello(&[0xff; 40]));
        assert!(!datagram_has_client_hello(&[]));
    }
}
