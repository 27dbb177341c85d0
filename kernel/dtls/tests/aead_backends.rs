//! The two AEAD backends on the wire: an engine using RustCrypto `aes-gcm` against one
//! using `ring`, in both roles and with both suites, must handshake (the Finished
//! messages are the first records under the new keys) and exchange data both ways.
//! Needs both backends: `cargo test -p vnetcrypt-dtls --features rustcrypto-aead`
//! (make test-dtls-rustcrypto); without the feature this file builds to nothing.
#![cfg(all(feature = "ring-aead", feature = "rustcrypto-aead"))]

mod common;

use common::*;
use vnetcrypt_dtls::{
    AeadBackend, CipherSuite, Duration, Event, RecordError, HEADER_ROOM, TAG_ROOM,
};

const MIXES: [(AeadBackend, AeadBackend); 2] = [
    (AeadBackend::RustCrypto, AeadBackend::Ring),
    (AeadBackend::Ring, AeadBackend::RustCrypto),
];

fn connected(client: AeadBackend, server: AeadBackend, suite: CipherSuite, seed: u64) -> Pair {
    let (mut c, mut s) = configs(seed);
    c.aead_backend = client;
    s.aead_backend = server;
    c.suites = vec![suite];
    let mut pair = Pair::new(c, s, seed, Link::default());
    let limit = pair.now + Duration::from_secs(10);
    assert!(
        pair.run_until(limit, |p| p.both_connected()),
        "{client:?} client, {server:?} server, {suite:?}: no handshake: {:?} {:?}",
        pair.client_events,
        pair.server_events
    );
    pair
}

#[test]
fn rustcrypto_and_ring_handshake_and_exchange_records_both_ways() {
    for (cb, sb) in MIXES {
        for suite in CipherSuite::ALL {
            let mut pair = connected(cb, sb, suite, 7);
            assert_eq!(pair.client.negotiated().unwrap().suite, suite);
            let server = pair.server.as_mut().unwrap();
            let mut buf = [0u8; 1600];
            for len in [0usize, 1, 15, 16, 17, 64, 1400] {
                let fill = |b: &mut [u8]| {
                    for (i, x) in b[HEADER_ROOM..HEADER_ROOM + len].iter_mut().enumerate() {
                        *x = (i * 7 + len) as u8;
                    }
                };
                let ok = |b: &[u8]| b.iter().enumerate().all(|(i, x)| *x == (i * 7 + len) as u8);
                fill(&mut buf);
                let n = pair.client.seal_in_place(&mut buf, len).unwrap();
                assert_eq!(n, HEADER_ROOM + len + TAG_ROOM);
                let r = server.open_in_place(&mut buf[..n]).unwrap();
                assert!(ok(&buf[r]), "{cb:?}->{sb:?} {suite:?} {len}");
                fill(&mut buf);
                let n = server.seal_in_place(&mut buf, len).unwrap();
                let r = pair.client.open_in_place(&mut buf[..n]).unwrap();
                assert!(ok(&buf[r]), "{sb:?}->{cb:?} {suite:?} {len}");
            }
            // A record altered on the way is refused by either backend.
            let n = pair.client.seal_in_place(&mut buf, 32).unwrap();
            buf[n - 1] ^= 1;
            assert_eq!(
                server.open_in_place(&mut buf[..n]),
                Err(RecordError::BadTag)
            );
            let n = server.seal_in_place(&mut buf, 32).unwrap();
            buf[HEADER_ROOM + 5] ^= 0x40;
            assert_eq!(
                pair.client.open_in_place(&mut buf[..n]),
                Err(RecordError::BadTag)
            );
        }
    }
}

#[test]
fn rustcrypto_and_ring_carry_app_data_through_the_connection_api() {
    for (cb, sb) in MIXES {
        let mut pair = connected(cb, sb, CipherSuite::EcdheEcdsaAes256GcmSha384, 8);
        pair.client.send_app_data(b"from the client").unwrap();
        pair.server
            .as_mut()
            .unwrap()
            .send_app_data(b"from the server")
            .unwrap();
        let limit = pair.now + Duration::from_secs(1);
        pair.run_until(limit, |_| false);
        assert!(pair
            .server_events
            .contains(&Event::AppData(b"from the client".to_vec())));
        assert!(pair
            .client_events
            .contains(&Event::AppData(b"from the server".to_vec())));
    }
}
