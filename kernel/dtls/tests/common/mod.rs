//! A virtual network for engine-to-engine tests: two connections, a clock, and seeded
//! loss, duplication and reordering.
#![allow(dead_code)]

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::sync::Arc;
use vnetcrypt_dtls::{
    datagram_has_client_hello, Accept, ClientAuth, Config, Connection, Duration, Endpoint, Event,
    Identity, Instant, PeerPolicy,
};

/// An attacker on the fabric: sees each genuine datagram (`to_server`, bytes) as it is
/// sent and returns forged datagrams `(to_server, bytes)`, delivered just before it.
pub type Attacker = Box<dyn FnMut(bool, &[u8]) -> Vec<(bool, Vec<u8>)>>;

pub fn identities(seed: u64) -> (Identity, Identity) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (
        Identity::generate(&mut rng, "client").unwrap(),
        Identity::generate(&mut rng, "server").unwrap(),
    )
}

pub fn configs(seed: u64) -> (Config, Config) {
    let (c, s) = identities(seed);
    let client = Config::new(c.clone(), PeerPolicy::Pinned(vec![s.fingerprint()]));
    let mut server = Config::new(s, PeerPolicy::Pinned(vec![c.fingerprint()]));
    server.client_auth = ClientAuth::Require;
    (client, server)
}

/// Impairments applied to every datagram.
#[derive(Clone, Copy, Debug, Default)]
pub struct Link {
    /// Per mille.
    pub loss: u32,
    pub dup: u32,
    pub reorder: u32,
}

pub struct Pair {
    pub now: Instant,
    pub client: Connection,
    pub server: Option<Connection>,
    pub endpoint: Endpoint,
    pub rng: ChaCha20Rng,
    pub link: Link,
    /// (deliver at, to server?, bytes)
    pub in_flight: Vec<(Instant, bool, Vec<u8>)>,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    pub delivered: usize,
    pub attacker: Option<Attacker>,
    /// Forged datagrams delivered.
    pub forged: usize,
    /// Make before break: a connection for a ClientHello that reached an established
    /// server, run next to it until it is established, then put in its place.
    pub new_server: Option<Connection>,
    /// How often `new_server` replaced `server`.
    pub replaced: usize,
}

pub const CLIENT_ADDR: &[u8] = b"192.0.2.1:5000";

impl Pair {
    pub fn new(client: Config, server: Config, seed: u64, link: Link) -> Pair {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let now = Instant::from_millis(1000);
        let endpoint = Endpoint::new(Arc::new(server), &mut rng);
        let client = Connection::client(Arc::new(client), now, &mut rng);
        Pair {
            now,
            client,
            server: None,
            endpoint,
            rng,
            link,
            in_flight: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            delivered: 0,
            attacker: None,
            forged: 0,
            new_server: None,
            replaced: 0,
        }
    }

    fn roll(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && self.rng.next_u32() % 1000 < per_mille
    }

    fn send(&mut self, to_server: bool, d: Vec<u8>) {
        if let Some(attack) = self.attacker.as_mut() {
            let at = self.now + Duration::from_micros(9_000);
            for (side, f) in attack(to_server, &d) {
                self.forged += 1;
                self.in_flight.push((at, side, f));
            }
        }
        if self.roll(self.link.loss) {
            return;
        }
        let delay = 10_000
            + if self.roll(self.link.reorder) {
                40_000
            } else {
                0
            };
        let at = self.now + Duration::from_micros(delay);
        if self.roll(self.link.dup) {
            self.in_flight
                .push((at + Duration::from_micros(1000), to_server, d.clone()));
        }
        self.in_flight.push((at, to_server, d));
    }

    pub fn drain(&mut self) {
        let mut buf = [0u8; 2048];
        while let Some(n) = self.client.poll_transmit(&mut buf) {
            self.send(true, buf[..n].to_vec());
        }
        let mut out = Vec::new();
        for s in self.server.iter_mut().chain(self.new_server.iter_mut()) {
            while let Some(n) = s.poll_transmit(&mut buf) {
                out.push(buf[..n].to_vec());
            }
        }
        for d in out {
            self.send(false, d);
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        for s in self.server.iter_mut().chain(self.new_server.iter_mut()) {
            while let Some(e) = s.poll_event() {
                self.server_events.push(e);
            }
        }
        if self.new_server.as_ref().is_some_and(|s| s.is_closed()) {
            self.new_server = None;
        }
        if self.new_server.as_ref().is_some_and(|s| s.is_established()) {
            self.server = self.new_server.take();
            self.replaced += 1;
        }
    }

    /// Advances to the next delivery or timer; false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.drain();
        let next_delivery = self.in_flight.iter().map(|d| d.0).min();
        let timers = [
            self.client.poll_timeout(),
            self.server.as_ref().and_then(|s| s.poll_timeout()),
            self.new_server.as_ref().and_then(|s| s.poll_timeout()),
        ];
        let next_timer = timers.iter().flatten().min().copied();
        let next = match (next_delivery, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return false,
        };
        self.now = self.now.max(next);
        let now = self.now;
        if next_delivery == Some(next) {
            let i = self.in_flight.iter().position(|d| d.0 == next).unwrap();
            let (_, to_server, d) = self.in_flight.remove(i);
            self.delivered += 1;
            if to_server {
                self.deliver_to_server(&d);
            } else {
                self.client.handle_datagram(now, &d);
            }
        } else {
            self.client.handle_timeout(now);
            for s in self.server.iter_mut().chain(self.new_server.iter_mut()) {
                s.handle_timeout(now);
            }
        }
        self.drain();
        true
    }

    fn deliver_to_server(&mut self, d: &[u8]) {
        let now = self.now;
        if let Some(s) = self.server.as_mut() {
            let established = s.is_established();
            s.handle_datagram(now, d);
            // A pending replacement takes the handshake datagrams; a ClientHello at an
            // established server may start one (the owner's make-before-break).
            let app_data = d.first() == Some(&23);
            if let Some(n) = self.new_server.as_mut() {
                if !app_data {
                    n.handle_datagram(now, d);
                }
                return;
            }
            if !(established && datagram_has_client_hello(d)) {
                return;
            }
        }
        let mut reply = [0u8; 256];
        match self
            .endpoint
            .handle_datagram(now, CLIENT_ADDR, d, &mut reply, &mut self.rng)
        {
            Accept::Reply(n) => self.send(false, reply[..n].to_vec()),
            Accept::Connection(c) if self.server.is_some() => self.new_server = Some(*c),
            Accept::Connection(c) => self.server = Some(*c),
            Accept::Ignore => {}
        }
    }

    pub fn run_until(&mut self, limit: Instant, mut done: impl FnMut(&Pair) -> bool) -> bool {
        while self.now < limit {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    /// Runs until both sides are connected, or panics after `secs` virtual seconds.
    pub fn connect_within(&mut self, secs: u64) {
        let limit = self.now + Duration::from_secs(secs);
        assert!(
            self.run_until(limit, |p| p.both_connected()),
            "no handshake: client {:?} {:?}, server {:?}",
            self.client_events,
            self.client.stats(),
            self.server.as_ref().map(|s| s.stats()),
        );
    }

    pub fn both_connected(&self) -> bool {
        self.client.is_established() && self.server.as_ref().is_some_and(|s| s.is_established())
    }
}
