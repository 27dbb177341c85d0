//! A whole server (endpoint + connection) fed arbitrary datagrams and timer ticks.
//! Input: a sequence of [len_hi, len_lo, advance_ms, datagram...] chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use std::sync::{Arc, OnceLock};
use vnetcrypt_dtls::{
    Accept, Config, Connection, Duration, Endpoint, Identity, Instant, PeerPolicy,
};

fn config() -> Arc<Config> {
    static CONFIG: OnceLock<Arc<Config>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
            let id = Identity::generate(&mut rng, "fuzz-server").unwrap();
            let mut c = Config::new(id, PeerPolicy::AnyKey);
            c.client_auth = vnetcrypt_dtls::ClientAuth::Request;
            Arc::new(c)
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
    let mut endpoint = Endpoint::new(config(), &mut rng);
    let mut now = Instant::from_millis(1);
    let mut buf = [0u8; 2048];
    // Half the inputs start after a real ClientHello, so the states behind it are reached.
    let mut conn: Option<Connection> = None;
    if data.first().is_some_and(|b| b & 1 == 1) {
        let mut client = Connection::client(config(), now, &mut rng);
        while let Some(n) = client.poll_transmit(&mut buf) {
            let d = buf[..n].to_vec();
            match endpoint.handle_datagram(now, b"peer", &d, &mut buf, &mut rng) {
                Accept::Reply(m) => client.handle_datagram(now, &buf[..m].to_vec()),
                Accept::Connection(c) => conn = Some(*c),
                Accept::Ignore => {}
            }
        }
    }
    let mut rest = data.get(1..).unwrap_or_default();
    while rest.len() >= 3 {
        let len = (usize::from(rest[0]) << 8 | usize::from(rest[1])).min(rest.len() - 3);
        now = now + Duration::from_millis(u64::from(rest[2]) * 16);
        let datagram = &rest[3..3 + len];
        rest = &rest[3 + len..];
        match conn.as_mut() {
            Some(c) => {
                c.handle_timeout(now);
                c.handle_datagram(now, datagram);
                let mut rec = datagram.to_vec();
                let _ = c.open_in_place(&mut rec);
            }
            None => match endpoint.handle_datagram(now, b"peer", datagram, &mut buf, &mut rng) {
                Accept::Connection(c) => conn = Some(*c),
                Accept::Reply(n) => assert!(n <= buf.len()),
                Accept::Ignore => {}
            },
        }
        if let Some(c) = conn.as_mut() {
            while c.poll_transmit(&mut buf).is_some() {}
            while c.poll_event().is_some() {}
        }
    }
});
