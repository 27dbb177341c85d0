//! A real client and server whose datagrams the fuzzer drops, duplicates, reorders,
//! truncates or bit-flips (one input byte per datagram decides), on a clock it advances.
//! Nothing may panic; with no datagram harmed the handshake must complete.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use std::sync::{Arc, OnceLock};
use vnetcrypt_dtls::{
    Accept, ClientAuth, Config, Connection, Duration, Endpoint, Identity, Instant, PeerPolicy,
};

fn configs() -> (Arc<Config>, Arc<Config>) {
    static C: OnceLock<(Arc<Config>, Arc<Config>)> = OnceLock::new();
    C.get_or_init(|| {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let c = Identity::generate(&mut rng, "c").unwrap();
        let s = Identity::generate(&mut rng, "s").unwrap();
        let mut client = Config::new(c.clone(), PeerPolicy::Pinned(vec![s.fingerprint()]));
        let mut server = Config::new(s, PeerPolicy::Pinned(vec![c.fingerprint()]));
        client.mtu = 256;
        server.mtu = 256;
        server.client_auth = ClientAuth::Require;
        (Arc::new(client), Arc::new(server))
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let (cc, sc) = configs();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
    let mut now = Instant::from_millis(1);
    let mut endpoint = Endpoint::new(sc, &mut rng);
    let mut client = Connection::client(cc, now, &mut rng);
    let mut server: Option<Connection> = None;
    let mut pending: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut harmed = false;
    let mut input = data.iter().copied();
    let mut buf = [0u8; 2048];
    for _ in 0..400 {
        while let Some(n) = client.poll_transmit(&mut buf) {
            pending.push((true, buf[..n].to_vec()));
        }
        if let Some(s) = server.as_mut() {
            while let Some(n) = s.poll_transmit(&mut buf) {
                pending.push((false, buf[..n].to_vec()));
            }
        }
        if pending.is_empty() {
            // Nothing in flight: let the timers run.
            now = now + Duration::from_secs(2);
            client.handle_timeout(now);
            if let Some(s) = server.as_mut() {
                s.handle_timeout(now);
            }
            if client.poll_timeout().is_none()
                && server.as_ref().is_none_or(|s| s.poll_timeout().is_none())
            {
                break;
            }
            continue;
        }
        let op = input.next().unwrap_or(0);
        let idx = if op & 0x80 != 0 {
            usize::from(op & 0x0f) % pending.len()
        } else {
            0
        };
        let (to_server, mut d) = pending.remove(idx);
        harmed |= idx != 0;
        match op & 0x70 {
            0x10 => {
                harmed = true;
                continue; // dropped
            }
            0x20 => pending.push((to_server, d.clone())), // duplicated
            0x30 => {
                harmed = true;
                let i = usize::from(input.next().unwrap_or(0)) % d.len().max(1);
                if let Some(b) = d.get_mut(i) {
                    *b ^= 1 << (op & 7);
                }
            }
            0x40 => {
                harmed = true;
                d.truncate(usize::from(input.next().unwrap_or(0)));
            }
            _ => {}
        }
        now = now + Duration::from_millis(u64::from(op & 0x0f));
        if to_server {
            match server.as_mut() {
                Some(s) => s.handle_datagram(now, &d),
                None => match endpoint.handle_datagram(now, b"client", &d, &mut buf, &mut rng) {
                    Accept::Reply(n) => pending.push((false, buf[..n].to_vec())),
                    Accept::Connection(c) => server = Some(*c),
                    Accept::Ignore => {}
                },
            }
        } else {
            client.handle_datagram(now, &d);
        }
        while client.poll_event().is_some() {}
        if let Some(s) = server.as_mut() {
            while s.poll_event().is_some() {}
        }
        if client.is_established() && server.as_ref().is_some_and(|s| s.is_established()) {
            break;
        }
    }
    if !harmed {
        assert!(client.is_established(), "clean delivery must connect");
    }
});
