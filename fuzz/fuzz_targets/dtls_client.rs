//! A whole client fed arbitrary datagrams and timer ticks.
//! Input: a sequence of [len_hi, len_lo, advance_ms, datagram...] chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use std::sync::{Arc, OnceLock};
use vnetcrypt_dtls::{Config, Connection, Duration, Identity, Instant, PeerPolicy};

fn config() -> Arc<Config> {
    static CONFIG: OnceLock<Arc<Config>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
            let id = Identity::generate(&mut rng, "fuzz-client").unwrap();
            let mut c = Config::new(id, PeerPolicy::AnyKey);
            c.mtu = 300;
            Arc::new(c)
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    let mut now = Instant::from_millis(1);
    let mut conn = Connection::client(config(), now, &mut rng);
    let mut rest = data;
    let mut buf = [0u8; 2048];
    while rest.len() >= 3 {
        let len = (usize::from(rest[0]) << 8 | usize::from(rest[1])).min(rest.len() - 3);
        now = now + Duration::from_millis(u64::from(rest[2]) * 16);
        let datagram = &rest[3..3 + len];
        rest = &rest[3 + len..];
        conn.handle_timeout(now);
        conn.handle_datagram(now, datagram);
        while let Some(n) = conn.poll_transmit(&mut buf) {
            assert!(n <= 300 + 64);
        }
        while conn.poll_event().is_some() {}
    }
});
