//! The front door for addresses that belong to no known peer (a peer that moved, one
//! behind NAT, one configured without an endpoint): a hello is answered statelessly
//! with a cookie bound to the source address and port, the connection's configuration
//! is made only for a valid cookie, and that connection accepts any key its caller
//! pins and reports which one the peer authenticated with.

mod common;

use std::cell::Cell;
use std::sync::Arc;

use common::{configs, identities};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vnetcrypt_dtls::{
    Accept, ClientAuth, Config, Connection, Endpoint, HandshakeFailure, Instant, PeerPolicy,
};

const NATTED: &[u8] = b"198.51.100.7:61000";
const ELSEWHERE: &[u8] = b"198.51.100.7:61001";

/// The server side's configuration pinning `pins`, as the gateway builds it for a
/// source it does not know.
fn server_config(pins: Vec<vnetcrypt_dtls::Fingerprint>) -> Arc<Config> {
    let (_, s) = configs(41);
    let mut s = s;
    s.peers = PeerPolicy::Pinned(pins);
    s.client_auth = ClientAuth::Require;
    Arc::new(s)
}

fn client(now: Instant) -> Connection {
    let (c, _) = configs(41);
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    Connection::client(Arc::new(c), now, &mut rng)
}

/// Runs the client against the front door at `addr` until the handshake ends either way.
/// Returns the server connection, if the front door made one.
fn handshake(
    door: &mut Endpoint,
    addr: &[u8],
    client: &mut Connection,
    pins: Vec<vnetcrypt_dtls::Fingerprint>,
    made: &Cell<u32>,
) -> Option<Box<Connection>> {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut now = Instant::from_millis(1_000);
    let mut buf = [0u8; 2048];
    let mut reply = [0u8; 256];
    let mut server: Option<Box<Connection>> = None;
    for _ in 0..200 {
        let mut to_server = Vec::new();
        while let Some(n) = client.poll_transmit(&mut buf) {
            to_server.push(buf[..n].to_vec());
        }
        for d in to_server {
            match server.as_mut() {
                Some(s) => s.handle_datagram(now, &d),
                None => {
                    let cfg = || {
                        made.set(made.get() + 1);
                        server_config(pins.clone())
                    };
                    match door.handle_datagram_for(now, addr, &d, &mut reply, &mut rng, cfg) {
                        Accept::Reply(n) => client.handle_datagram(now, &reply[..n]),
                        Accept::Connection(c) => server = Some(c),
                        Accept::Ignore => {}
                    }
                }
            }
        }
        if let Some(s) = server.as_mut() {
            while let Some(n) = s.poll_transmit(&mut buf) {
                client.handle_datagram(now, &buf[..n]);
            }
        }
        let done = server
            .as_ref()
            .is_some_and(|s| s.is_established() || s.is_closed());
        if done && client.is_established() || client.is_closed() {
            break;
        }
        now = now + vnetcrypt_dtls::Duration::from_millis(500);
        client.handle_timeout(now);
        if let Some(s) = server.as_mut() {
            s.handle_timeout(now);
        }
    }
    server
}

#[test]
fn cookie_from_one_source_is_refused_from_another_and_makes_no_config() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut door = Endpoint::new(server_config(vec![]), &mut rng);
    let now = Instant::from_millis(1_000);
    let mut c = client(now);
    let mut buf = [0u8; 2048];
    let mut reply = [0u8; 256];
    let made = Cell::new(0);
    let n = c.poll_transmit(&mut buf).unwrap();
    let cfg = || {
        made.set(made.get() + 1);
        server_config(vec![])
    };
    // A hello without a cookie: answered, nothing made.
    let Accept::Reply(m) =
        door.handle_datagram_for(now, NATTED, &buf[..n], &mut reply, &mut rng, cfg)
    else {
        panic!("no HelloVerifyRequest");
    };
    c.handle_datagram(now, &reply[..m]);
    let n = c.poll_transmit(&mut buf).unwrap();
    let hello = buf[..n].to_vec();
    // The hello with its cookie, sent from another port (spoofed, or the NAT moved):
    // answered again with a cookie for that source; no connection, no configuration.
    let mk = || {
        made.set(made.get() + 1);
        server_config(vec![])
    };
    let from_elsewhere = door.handle_datagram_for(now, ELSEWHERE, &hello, &mut reply, &mut rng, mk);
    assert!(
        matches!(from_elsewhere, Accept::Reply(_)),
        "{from_elsewhere:?}"
    );
    assert_eq!(made.get(), 0);
    // Garbage and a truncated hello: ignored, nothing made.
    for junk in [&hello[..20], &[0xffu8; 64][..], &[][..]] {
        let mk = || {
            made.set(made.get() + 1);
            server_config(vec![])
        };
        let r = door.handle_datagram_for(now, NATTED, junk, &mut reply, &mut rng, mk);
        assert!(matches!(r, Accept::Ignore), "{r:?}");
    }
    assert_eq!(made.get(), 0);
    // From the source the cookie is bound to: the connection, with the caller's config.
    let mk = || {
        made.set(made.get() + 1);
        server_config(vec![])
    };
    let r = door.handle_datagram_for(now, NATTED, &hello, &mut reply, &mut rng, mk);
    assert!(matches!(r, Accept::Connection(_)), "{r:?}");
    assert_eq!(made.get(), 1);
    assert_eq!(door.stats().accepted, 1);
}

#[test]
fn connection_from_the_front_door_accepts_either_pin_and_names_the_one_used() {
    let (client_id, _) = identities(41);
    let (stranger, _) = identities(77);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut door = Endpoint::new(server_config(vec![]), &mut rng);
    let made = Cell::new(0);
    let mut c = client(Instant::from_millis(1_000));
    // The client's key is the second of two pins (a rotation in progress).
    let pins = vec![stranger.fingerprint(), client_id.fingerprint()];
    let s = handshake(&mut door, NATTED, &mut c, pins, &made).expect("no connection");
    assert!(c.is_established() && s.is_established());
    assert_eq!(s.negotiated().unwrap().peer, Some(client_id.fingerprint()));
    assert_eq!(made.get(), 1);
}

#[test]
fn key_matching_no_pin_fails_with_pin_mismatch() {
    let (a, _) = identities(77);
    let (b, _) = identities(78);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut door = Endpoint::new(server_config(vec![]), &mut rng);
    let made = Cell::new(0);
    let mut c = client(Instant::from_millis(1_000));
    let pins = vec![a.fingerprint(), b.fingerprint()];
    let s = handshake(&mut door, NATTED, &mut c, pins, &made).expect("no connection");
    assert!(!s.is_established() && !c.is_established());
    let mut s = s;
    // Run the server to its own deadline: the reason is the key.
    s.handle_timeout(Instant::from_millis(1_000_000));
    assert_eq!(s.timeout_failure(), HandshakeFailure::PinMismatch);
}
