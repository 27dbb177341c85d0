//! A test double of the DTLS session layer: a small handshake that agrees real AES-GCM
//! keys (from a per-test secret generated at test time and both randoms), pinned
//! fingerprints, retransmission, anti-replay, and rekeying with overlapping old and new
//! keys. Its records have DTLS 1.2's AES-GCM layout (13-byte header, 8-byte explicit
//! nonce, 16-byte tag), so the gateway's MTU arithmetic is the real one.
#![allow(dead_code)]

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use vnetcrypt_gateway::{
    Accepted, FailureReason, Fingerprint, Instant, PeerConfig, Received, Rekey, Session,
    SessionError, SessionLayer,
};

const HDR: usize = 13;
const EXPLICIT: usize = 8;
const TAG: usize = 16;
const HANDSHAKE: u8 = 22;
const APPDATA: u8 = 23;
const CH: u8 = 1;
const SH: u8 = 2;
const RK: u8 = 3;
const RA: u8 = 4;
const RC: u8 = 5;
const CF: u8 = 6;

/// Deterministic randomness for the double (seeded per test).
#[derive(Clone, Debug)]
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for c in b.chunks_mut(8) {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        b
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Tunables shared by a layer's sessions.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub retransmit: Duration,
    pub max_retries: u32,
    /// Records sealed under one key before `rekey_due`.
    pub soft_limit: u64,
    /// Records sealed under one key before sealing is refused.
    pub hard_limit: u64,
    /// How long old keys keep opening records after the switch.
    pub overlap: Duration,
    /// Rekey inside the session (like renegotiation); when false, answer
    /// `Rekey::ByNewSession` (like the DTLS engine, which rekeys by a new handshake).
    pub rekey_in_place: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            retransmit: Duration::from_millis(200),
            max_retries: 5,
            soft_limit: 1 << 40,
            hard_limit: 1 << 41,
            overlap: Duration::from_secs(2),
            rekey_in_place: true,
        }
    }
}

/// What the sessions of one layer did, for tests to check that rekeys really
/// overlapped.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records opened with the previous epoch's keys after new ones were installed.
    pub opened_with_previous: AtomicU64,
    /// Rekeys completed (new sending keys in use).
    pub rekeys_completed: AtomicU64,
}

impl Stats {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// The layer: this appliance's identity and the shared test secret.
#[derive(Debug)]
pub struct TestLayer {
    pub stats: Arc<Stats>,
    pub fingerprint: Fingerprint,
    secret: [u8; 32],
    rng: Rng,
    pub params: Params,
}

impl TestLayer {
    pub fn new(fingerprint: Fingerprint, secret: [u8; 32], seed: u64) -> Self {
        TestLayer {
            stats: Arc::default(),
            fingerprint,
            secret,
            rng: Rng::new(seed),
            params: Params::default(),
        }
    }

    /// The shared test secret (to build a rebooted appliance's layer).
    pub fn secret(&self) -> [u8; 32] {
        self.secret
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Handshaking,
    Established,
    Failed,
}

struct Key {
    epoch: u16,
    cipher: Aes128Gcm,
    salt: [u8; 4],
}

struct RecvKey {
    key: Key,
    top: u64,
    bitmap: u64,
    seen_any: bool,
    expires: Option<Instant>,
}

impl RecvKey {
    fn new(key: Key) -> Self {
        RecvKey {
            key,
            top: 0,
            bitmap: 0,
            seen_any: false,
            expires: None,
        }
    }
    fn is_replay(&self, seq: u64) -> bool {
        if !self.seen_any || seq > self.top {
            return false;
        }
        let d = self.top - seq;
        d >= 64 || self.bitmap & (1 << d) != 0
    }
    fn mark(&mut self, seq: u64) {
        if !self.seen_any {
            self.seen_any = true;
            self.top = seq;
            self.bitmap = 1;
        } else if seq > self.top {
            let shift = seq - self.top;
            self.bitmap = if shift >= 64 {
                1
            } else {
                (self.bitmap << shift) | 1
            };
            self.top = seq;
        } else {
            self.bitmap |= 1 << (self.top - seq);
        }
    }
}

/// A session of the double.
pub struct TestSession {
    role: Role,
    state: State,
    secret: [u8; 32],
    peer_fp: Fingerprint,
    my_fp: Fingerprint,
    crand: [u8; 32],
    srand: [u8; 32],
    params: Params,
    rng: Rng,
    flight: Vec<u8>,
    flight_due: bool,
    next_retx: Option<Instant>,
    retries: u32,
    send: Option<Key>,
    send_seq: u64,
    /// Responder of a rekey: the new sending key, used once the peer uses its pair.
    next_send: Option<Key>,
    recv: Option<RecvKey>,
    prev: Option<RecvKey>,
    /// Our outstanding rekey request's random.
    rekeying: Option<[u8; 32]>,
    /// The last rekey we answered: (their random, our answer flight).
    answered: Option<([u8; 32], Vec<u8>)>,
    /// The last rekey we initiated and completed: (our random, our confirmation).
    confirmed: Option<([u8; 32], Vec<u8>)>,
    stats: Arc<Stats>,
    /// A valid handshake message came from the peer (for `failure`).
    heard: bool,
    /// The peer authenticated with an identity that is not the pinned one.
    pin_mismatch: bool,
}

impl std::fmt::Debug for TestSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestSession({:?}, {:?})", self.role, self.state)
    }
}

fn mac(secret: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(secret);
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn derive(secret: &[u8; 32], label: &[u8], epoch: u16, r1: &[u8; 32], r2: &[u8; 32]) -> Key {
    let d = mac(secret, &[b"key", label, &epoch.to_be_bytes(), r1, r2]);
    let mut salt = [0u8; 4];
    salt.copy_from_slice(&d[16..20]);
    Key {
        epoch,
        cipher: Aes128Gcm::new_from_slice(&d[..16]).expect("16-byte key"),
        salt,
    }
}

fn target_epoch(r: &[u8; 32]) -> u16 {
    u16::from_be_bytes([r[0], r[1]])
}

fn record(ty: u8, epoch: u16, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + body.len());
    v.push(ty);
    v.extend_from_slice(&[0xfe, 0xfd]);
    v.extend_from_slice(&epoch.to_be_bytes());
    v.extend_from_slice(&[0; 6]);
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn parse_header(d: &[u8]) -> Option<(u8, u16, u64, usize)> {
    if d.len() < HDR || d[1..3] != [0xfe, 0xfd] {
        return None;
    }
    let epoch = u16::from_be_bytes([d[3], d[4]]);
    let mut s = [0u8; 8];
    s[2..].copy_from_slice(&d[5..11]);
    let len = usize::from(u16::from_be_bytes([d[11], d[12]]));
    if HDR + len != d.len() {
        return None;
    }
    Some((d[0], epoch, u64::from_be_bytes(s), len))
}

fn aad(epoch: u16, seq: u64, plen: usize) -> [u8; 13] {
    let mut a = [0u8; 13];
    a[0..2].copy_from_slice(&epoch.to_be_bytes());
    a[2..8].copy_from_slice(&seq.to_be_bytes()[2..]);
    a[8] = APPDATA;
    a[9..11].copy_from_slice(&[0xfe, 0xfd]);
    a[11..13].copy_from_slice(&(plen as u16).to_be_bytes());
    a
}

fn nonce(salt: &[u8; 4], explicit: &[u8]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(explicit);
    n
}

impl TestSession {
    fn labels(&self) -> (&'static [u8], &'static [u8]) {
        match self.role {
            Role::Client => (b"c2s", b"s2c"),
            Role::Server => (b"s2c", b"c2s"),
        }
    }

    fn install_initial(&mut self) {
        let (out, inn) = self.labels();
        self.send = Some(derive(&self.secret, out, 1, &self.crand, &self.srand));
        self.recv = Some(RecvKey::new(derive(
            &self.secret,
            inn,
            1,
            &self.crand,
            &self.srand,
        )));
        self.send_seq = 0;
    }

    fn epoch(&self) -> u16 {
        self.send.as_ref().map_or(0, |k| k.epoch)
    }

    /// The peer uses the new keys: a responder switches to its new sending key, and
    /// the old receiving key now only covers stragglers for the overlap.
    fn switch_to_next_send(&mut self, now: Instant) {
        if let Some(k) = self.next_send.take() {
            self.send = Some(k);
            self.send_seq = 0;
            self.next_retx = None;
            self.stats.rekeys_completed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(p) = self.prev.as_mut() {
            if p.expires.is_none() {
                p.expires = Some(now + self.params.overlap);
            }
        }
    }

    fn recv_epoch(&self) -> u16 {
        self.recv.as_ref().map_or(1, |k| k.key.epoch)
    }

    /// New keys for the epoch the initiator's random names.
    fn rekey_keys(&self, r1: &[u8; 32], r2: &[u8; 32]) -> (Key, Key) {
        let e = target_epoch(r1);
        let (out, inn) = self.labels();
        (
            derive(&self.secret, out, e, r1, r2),
            derive(&self.secret, inn, e, r1, r2),
        )
    }

    fn rk_mac(&self, kind: &[u8], r1: &[u8; 32], r2: &[u8; 32]) -> [u8; 32] {
        mac(&self.secret, &[kind, &self.crand, &self.srand, r1, r2])
    }

    fn handshake(
        &mut self,
        now: Instant,
        _epoch: u16,
        body: &[u8],
    ) -> Result<Received, SessionError> {
        let kind = *body.first().ok_or(SessionError::Invalid)?;
        match (kind, self.role) {
            (CH, Role::Server) if body.len() >= 33 && body[1..33] == self.crand => {
                self.flight_due = true; // the client lost our answer
                Ok(Received::Handshake)
            }
            (CH, _) => Err(SessionError::NotThisSession),
            (SH, Role::Client) => {
                if body.len() < 98 || body[1..33] != self.crand {
                    return Err(SessionError::StaleHandshake);
                }
                if self.state != State::Handshaking {
                    // A duplicate: our confirmation may have been lost; send it again.
                    self.flight_due = true;
                    return Ok(Received::Handshake);
                }
                let mut srand = [0u8; 32];
                srand.copy_from_slice(&body[33..65]);
                let fl = usize::from(body[65]);
                if body.len() != 66 + fl + 32 {
                    return Err(SessionError::Invalid);
                }
                let fp = &body[66..66 + fl];
                if mac(&self.secret, &[b"sh", &self.crand, &srand, fp]) != body[66 + fl..] {
                    return Err(SessionError::Invalid);
                }
                self.heard = true;
                if fp != self.peer_fp.0 {
                    self.pin_mismatch = true;
                    self.state = State::Failed; // authentication failure
                    self.next_retx = None;
                    return Err(SessionError::Invalid);
                }
                self.srand = srand;
                self.install_initial();
                self.state = State::Established;
                self.next_retx = None;
                let mut b = vec![CF];
                b.extend_from_slice(&self.crand);
                b.extend_from_slice(&mac(&self.secret, &[b"cf", &self.crand, &self.srand]));
                self.flight = record(HANDSHAKE, 1, &b);
                self.flight_due = true;
                Ok(Received::Handshake)
            }
            (SH, Role::Server) => Err(SessionError::StaleHandshake),
            (CF, Role::Server) if body.len() == 65 => {
                if body[1..33] != self.crand {
                    return Err(SessionError::StaleHandshake);
                }
                if mac(&self.secret, &[b"cf", &self.crand, &self.srand]) != body[33..65] {
                    return Err(SessionError::Invalid);
                }
                if self.state == State::Handshaking {
                    self.state = State::Established;
                    self.next_retx = None;
                }
                Ok(Received::Handshake)
            }
            (CF, Role::Client) => Err(SessionError::StaleHandshake),
            (RK, _) if self.state == State::Established && body.len() == 65 => {
                let mut r1 = [0u8; 32];
                r1.copy_from_slice(&body[1..33]);
                if self.rk_mac(b"rk", &r1, &[0; 32]) != body[33..65] {
                    return Err(SessionError::Invalid);
                }
                // A retransmitted request we already answered: answer again.
                if let Some((r, ref flight)) = self.answered {
                    if r == r1 {
                        self.flight = flight.clone();
                        self.flight_due = true;
                        return Ok(Received::Handshake);
                    }
                }
                // The first two bytes of a rekey random name the epoch it creates; a
                // request for an epoch we already have is stale (it lost a race).
                if target_epoch(&r1) != self.recv_epoch() + 1 {
                    return Ok(Received::Handshake);
                }
                // The initiator of a new rekey has our previous answer's keys: if we
                // still waited to switch to them, do it now.
                self.switch_to_next_send(now);
                if let Some(mine) = self.rekeying {
                    if mine > r1 {
                        return Ok(Received::Handshake); // ours wins; they will answer it
                    }
                    self.rekeying = None;
                    self.next_retx = None;
                }
                let r2 = self.rng.bytes32();
                let (send, recv) = self.rekey_keys(&r1, &r2);
                self.prev = self.recv.take();
                self.recv = Some(RecvKey::new(recv));
                self.next_send = Some(send);
                let mut b = vec![RA];
                b.extend_from_slice(&r1);
                b.extend_from_slice(&r2);
                b.extend_from_slice(&self.rk_mac(b"ra", &r1, &r2));
                self.flight = record(HANDSHAKE, self.epoch(), &b);
                self.flight_due = true;
                // Repeat the answer until the initiator confirms (or uses) the new keys.
                self.next_retx = Some(now + self.params.retransmit);
                self.answered = Some((r1, self.flight.clone()));
                Ok(Received::Handshake)
            }
            (RA, _) if body.len() == 97 => {
                let Some(mine) = self.rekeying else {
                    // A repeated answer: our confirmation was lost; confirm again.
                    if let Some((r, ref flight)) = self.confirmed {
                        if body[1..33] == r {
                            self.flight = flight.clone();
                            self.flight_due = true;
                        }
                    }
                    return Ok(Received::Handshake);
                };
                if body[1..33] != mine {
                    return Ok(Received::Handshake); // an answer to an older request
                }
                let mut r2 = [0u8; 32];
                r2.copy_from_slice(&body[33..65]);
                if self.rk_mac(b"ra", &mine, &r2) != body[65..97] {
                    return Err(SessionError::Invalid);
                }
                let (send, recv) = self.rekey_keys(&mine, &r2);
                self.prev = self.recv.take();
                self.recv = Some(RecvKey::new(recv));
                self.send = Some(send);
                self.send_seq = 0;
                self.rekeying = None;
                self.next_retx = None;
                self.stats.rekeys_completed.fetch_add(1, Ordering::Relaxed);
                let mut b = vec![RC];
                b.extend_from_slice(&mine);
                b.extend_from_slice(&self.rk_mac(b"rc", &mine, &r2));
                self.flight = record(HANDSHAKE, self.epoch(), &b);
                self.flight_due = true;
                self.confirmed = Some((mine, self.flight.clone()));
                Ok(Received::Handshake)
            }
            (RC, _) if body.len() == 65 => {
                let Some((r1, ref ra)) = self.answered else {
                    return Ok(Received::Handshake);
                };
                if body[1..33] != r1 {
                    return Ok(Received::Handshake); // confirms an older rekey
                }
                let mut r2 = [0u8; 32];
                r2.copy_from_slice(&ra[HDR + 33..HDR + 65]);
                if self.rk_mac(b"rc", &r1, &r2) != body[33..65] {
                    return Err(SessionError::Invalid);
                }
                self.switch_to_next_send(now);
                Ok(Received::Handshake)
            }
            _ => Err(SessionError::Invalid),
        }
    }

    fn open(
        &mut self,
        now: Instant,
        d: &mut [u8],
        epoch: u16,
        seq: u64,
        len: usize,
    ) -> Result<Received, SessionError> {
        // A server has keys from the client's hello; the client's first record proves
        // it has them too (its confirmation may be lost or late).
        let confirming = self.state == State::Handshaking && self.role == Role::Server;
        if self.state != State::Established && !confirming {
            return Err(SessionError::NotEstablished);
        }
        if len < EXPLICIT + TAG {
            return Err(SessionError::Invalid);
        }
        if let Some(p) = &self.prev {
            if p.expires.is_some_and(|t| now >= t) {
                self.prev = None;
            }
        }
        let is_new = self.recv.as_ref().is_some_and(|k| k.key.epoch == epoch);
        let rk = if is_new {
            self.recv.as_mut()
        } else {
            self.prev.as_mut().filter(|k| k.key.epoch == epoch)
        }
        .ok_or(SessionError::Invalid)?;
        if rk.is_replay(seq) {
            return Err(SessionError::Replay);
        }
        let plen = len - EXPLICIT - TAG;
        let n = nonce(&rk.key.salt, &d[HDR..HDR + EXPLICIT]);
        let tag_bytes: [u8; TAG] = d[HDR + EXPLICIT + plen..]
            .try_into()
            .map_err(|_| SessionError::Invalid)?;
        let tag = Tag::from(tag_bytes);
        let body = &mut d[HDR + EXPLICIT..HDR + EXPLICIT + plen];
        rk.key
            .cipher
            .decrypt_in_place_detached(&Nonce::from(n), &aad(epoch, seq, plen), body, &tag)
            .map_err(|_| SessionError::Invalid)?;
        rk.mark(seq);
        if confirming {
            self.state = State::Established;
            self.next_retx = None;
        }
        if !is_new {
            self.stats
                .opened_with_previous
                .fetch_add(1, Ordering::Relaxed);
        }
        if is_new {
            self.switch_to_next_send(now);
        }
        Ok(Received::Data(HDR + EXPLICIT..HDR + EXPLICIT + plen))
    }
}

impl Session for TestSession {
    const HEADROOM: usize = HDR + EXPLICIT;
    const TAILROOM: usize = TAG;

    fn is_established(&self) -> bool {
        self.state == State::Established
    }
    fn is_failed(&self) -> bool {
        self.state == State::Failed
    }
    fn failure(&self) -> Option<FailureReason> {
        match self.state {
            State::Failed if self.pin_mismatch => Some(FailureReason::PinMismatch),
            State::Established => None,
            _ if self.heard => Some(FailureReason::Timeout),
            _ => Some(FailureReason::NoResponse),
        }
    }

    fn handle_datagram(&mut self, now: Instant, d: &mut [u8]) -> Result<Received, SessionError> {
        let (ty, epoch, seq, len) = parse_header(d).ok_or(SessionError::Invalid)?;
        match ty {
            HANDSHAKE => {
                let body = d[HDR..].to_vec();
                self.handshake(now, epoch, &body)
            }
            APPDATA => self.open(now, d, epoch, seq, len),
            _ => Err(SessionError::Invalid),
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        if !self.flight_due {
            return None;
        }
        self.flight_due = false;
        let n = self.flight.len();
        buf.get_mut(..n)?.copy_from_slice(&self.flight);
        Some(n)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_retx
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.next_retx.is_none_or(|t| now < t) {
            return;
        }
        self.retries += 1;
        if self.state == State::Handshaking && self.retries > self.params.max_retries {
            self.state = State::Failed;
            self.next_retx = None;
            return;
        }
        self.flight_due = true;
        self.next_retx = Some(now + self.params.retransmit);
    }

    fn seal_in_place(
        &mut self,
        _now: Instant,
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, SessionError> {
        if self.state != State::Established {
            return Err(SessionError::NotEstablished);
        }
        if self.send_seq >= self.params.hard_limit {
            return Err(SessionError::LimitReached);
        }
        let total = HDR + EXPLICIT + len + TAG;
        if buf.len() < total {
            return Err(SessionError::NoRoom);
        }
        let key = self.send.as_ref().ok_or(SessionError::NotEstablished)?;
        let seq = self.send_seq;
        self.send_seq += 1;
        let body_len = (EXPLICIT + len + TAG) as u16;
        buf[0] = APPDATA;
        buf[1..3].copy_from_slice(&[0xfe, 0xfd]);
        buf[3..5].copy_from_slice(&key.epoch.to_be_bytes());
        buf[5..11].copy_from_slice(&seq.to_be_bytes()[2..]);
        buf[11..13].copy_from_slice(&body_len.to_be_bytes());
        let explicit: [u8; 8] = buf[3..11].try_into().expect("8 bytes");
        buf[HDR..HDR + EXPLICIT].copy_from_slice(&explicit);
        let n = nonce(&key.salt, &explicit);
        let a = aad(key.epoch, seq, len);
        let (head, tail) = buf.split_at_mut(HDR + EXPLICIT + len);
        let tag = key
            .cipher
            .encrypt_in_place_detached(&Nonce::from(n), &a, &mut head[HDR + EXPLICIT..])
            .map_err(|_| SessionError::LimitReached)?;
        tail[..TAG].copy_from_slice(&tag);
        Ok(total)
    }

    fn start_rekey(&mut self, now: Instant) -> Rekey {
        if !self.params.rekey_in_place {
            return Rekey::ByNewSession;
        }
        if self.state != State::Established || self.rekeying.is_some() || self.next_send.is_some() {
            return Rekey::InProgress;
        }
        let mut r1 = self.rng.bytes32();
        r1[..2].copy_from_slice(&(self.recv_epoch() + 1).to_be_bytes());
        self.rekeying = Some(r1);
        let mut b = vec![RK];
        b.extend_from_slice(&r1);
        b.extend_from_slice(&self.rk_mac(b"rk", &r1, &[0; 32]));
        self.flight = record(HANDSHAKE, self.epoch(), &b);
        self.flight_due = true;
        self.retries = 0;
        self.next_retx = Some(now + self.params.retransmit);
        Rekey::Started
    }

    fn rekey_due(&self) -> bool {
        self.send_seq >= self.params.soft_limit
    }
}

impl SessionLayer for TestLayer {
    type Session = TestSession;

    fn connect(&mut self, now: Instant, peer: &PeerConfig) -> TestSession {
        let crand = self.rng.bytes32();
        let mut body = vec![CH];
        body.extend_from_slice(&crand);
        body.push(self.fingerprint.0.len() as u8);
        body.extend_from_slice(&self.fingerprint.0);
        TestSession {
            role: Role::Client,
            state: State::Handshaking,
            secret: self.secret,
            peer_fp: peer.fingerprint,
            my_fp: self.fingerprint,
            crand,
            srand: [0; 32],
            params: self.params,
            rng: Rng::new(self.rng.next_u64()),
            flight: record(HANDSHAKE, 0, &body),
            flight_due: true,
            next_retx: Some(now + self.params.retransmit),
            retries: 0,
            send: None,
            send_seq: 0,
            next_send: None,
            recv: None,
            prev: None,
            rekeying: None,
            answered: None,
            confirmed: None,
            stats: self.stats.clone(),
            heard: false,
            pin_mismatch: false,
        }
    }

    /// The double has no cookie exchange: a hello with the pinned fingerprint (public,
    /// so anyone can forge one) makes a session, as a stateful server would.
    fn accept(
        &mut self,
        now: Instant,
        _from: std::net::SocketAddrV4,
        pins: &[Fingerprint],
        d: &mut [u8],
        _reply: &mut [u8],
    ) -> Accepted<TestSession> {
        let Some((ty, epoch, _, _)) = parse_header(d) else {
            return Accepted::Ignored;
        };
        let body = &d[HDR..];
        if ty != HANDSHAKE || epoch != 0 || body.len() < 34 || body[0] != CH {
            return Accepted::Ignored;
        }
        let fl = usize::from(body[33]);
        let Some(peer_fp) = pins
            .iter()
            .find(|p| body.len() == 34 + fl && body[34..] == p.0)
        else {
            return Accepted::Ignored; // not a pinned identity
        };
        let peer_fp = *peer_fp;
        let mut crand = [0u8; 32];
        crand.copy_from_slice(&body[1..33]);
        let srand = self.rng.bytes32();
        let fp = &self.fingerprint.0;
        let mut sh = vec![SH];
        sh.extend_from_slice(&crand);
        sh.extend_from_slice(&srand);
        sh.push(fp.len() as u8);
        sh.extend_from_slice(fp);
        sh.extend_from_slice(&mac(&self.secret, &[b"sh", &crand, &srand, fp]));
        let mut s = TestSession {
            role: Role::Server,
            state: State::Handshaking,
            secret: self.secret,
            peer_fp,
            my_fp: self.fingerprint,
            crand,
            srand,
            params: self.params,
            rng: Rng::new(self.rng.next_u64()),
            flight: record(HANDSHAKE, 0, &sh),
            flight_due: true,
            next_retx: None,
            retries: 0,
            send: None,
            send_seq: 0,
            next_send: None,
            recv: None,
            prev: None,
            rekeying: None,
            answered: None,
            confirmed: None,
            stats: self.stats.clone(),
            heard: true,
            pin_mismatch: false,
        };
        s.install_initial();
        s.next_retx = Some(now + self.params.retransmit);
        Accepted::Session(s)
    }

    fn is_initial(d: &[u8]) -> bool {
        matches!(parse_header(d), Some((HANDSHAKE, 0, _, _))) && d.get(HDR) == Some(&CH)
    }
}
