//! Peers behind NAT and peers that move, over the real DTLS engine: the endpoint
//! follows the key a peer authenticates with (a completed handshake, or a record that
//! opens under its session), never anything unauthenticated.
#![cfg(feature = "dtls")]

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use common::nat_net::{local, NatNet, NAT_PUBLIC};
use vnetcrypt_gateway::{DropReason, Encryption, FailureReason, PeerId, PeerState, PeerStatus};

const A: usize = 0; // behind the NAT
const B: usize = 1; // on the fabric, with a public address

/// A behind the NAT knows B's endpoint; B knows no endpoint for A (A calls it).
fn nat_pair(seed: u64) -> NatNet {
    NatNet::new(seed, &[true, false], |i, j| {
        (i == A).then_some(local(j)).filter(|_| j == B)
    })
}

fn status(n: &NatNet, i: usize) -> PeerStatus {
    n.sides[i].gw.peer_status(PeerId(0)).unwrap()
}

fn numbered(prefix: &str, i: usize) -> Vec<u8> {
    format!("{prefix}-{i:05}").into_bytes()
}

/// Every flow either gateway logged is `X`.
fn all_flows_encrypted(n: &NatNet) {
    for s in &n.sides {
        let flows: Vec<_> = s.gw.flows(n.now, 0).collect();
        assert!(!flows.is_empty());
        assert!(
            flows.iter().all(|f| f.encryption == Encryption::Encrypted),
            "{flows:?}"
        );
    }
}

#[test]
fn nat_rebinding_mid_transfer_moves_the_endpoint_and_loses_only_what_the_nat_drops() {
    let mut n = nat_pair(1);
    // A calls B; B learns A's address (the NAT's) from the handshake.
    n.host_send(A, B, b"hello");
    n.run(200);
    assert_eq!(n.payloads(B), vec![b"hello".to_vec()]);
    let first = n.public().unwrap();
    let st = status(&n, B);
    assert_eq!(st.state, PeerState::Up);
    assert_eq!(st.configured_endpoint, None);
    assert_eq!(st.endpoint, Some(first));
    assert!(st.endpoint_learned());
    assert_eq!(st.endpoint_moves, 1);
    // Continuous traffic both ways, one packet a millisecond each; the NAT moves A to
    // a new public port in the middle.
    let total = 2_000;
    for k in 0..total {
        if k == total / 2 {
            n.rebind();
        }
        n.host_send(A, B, &numbered("a2b", k));
        n.host_send(B, A, &numbered("b2a", k));
        n.step();
    }
    n.run(100);
    let second = n.public().unwrap();
    assert_ne!(first, second);
    let st = status(&n, B);
    assert_eq!(st.endpoint, Some(second), "B follows A to its new port");
    assert_eq!(st.endpoint_moves, 2);
    assert!(st.last_move.is_some());
    assert_eq!(n.sides[B].gw.counters().endpoint_moves, 2);
    // A to B: nothing lost, in order.
    let got: Vec<_> = n.payloads(B).into_iter().skip(1).collect();
    let want: Vec<_> = (0..total).map(|k| numbered("a2b", k)).collect();
    assert_eq!(got, want);
    // B to A: only what B sent to the old port before A's next record told it (the
    // NAT dropped those), nothing else.
    let got = n.payloads(A);
    assert!(
        n.nat.dropped >= 1 && n.nat.dropped <= 3,
        "{}",
        n.nat.dropped
    );
    assert_eq!(got.len() as u64 + n.nat.dropped, total as u64);
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    all_flows_encrypted(&n);
    for i in [A, B] {
        assert_eq!(status(&n, i).state, PeerState::Up);
        assert_eq!(
            n.sides[i]
                .gw
                .peer_counters(PeerId(0))
                .unwrap()
                .handshakes_completed,
            1
        );
    }
}

#[test]
fn a_delayed_record_from_the_old_port_is_delivered_but_moves_nothing_back() {
    let mut n = nat_pair(7);
    n.host_send(A, B, b"hello");
    n.run(200);
    let old = n.public().unwrap();
    // A record from the old port is held up on the way; meanwhile the NAT rebinds and
    // A's next records come from the new port.
    n.host_send(A, B, b"delayed");
    let late = n.withhold(|w| w.src == old);
    assert_eq!(late.len(), 1);
    n.rebind();
    n.host_send(A, B, b"after rebind");
    n.run(5);
    let new = n.public().unwrap();
    assert_eq!(status(&n, B).endpoint, Some(new));
    // The late record opens (it was never seen) and is delivered; the endpoint stays.
    for w in late {
        n.inject(w.src, w.dst, w.data);
    }
    n.run(5);
    assert_eq!(
        n.payloads(B),
        vec![
            b"hello".to_vec(),
            b"after rebind".to_vec(),
            b"delayed".to_vec()
        ]
    );
    let st = status(&n, B);
    assert_eq!(st.endpoint, Some(new));
    assert_eq!(st.endpoint_moves, 2);
    assert_eq!(n.sides[B].gw.counters().stale_moves_refused, 1);
    // B's answers reach A at its current port.
    n.host_send(B, A, b"reply");
    n.run(5);
    assert_eq!(n.payloads(A), vec![b"reply".to_vec()]);
    assert_eq!(n.nat.dropped, 0);
}

#[test]
fn keepalives_from_behind_the_nat_hold_its_mapping() {
    let mut n = nat_pair(2);
    n.host_send(A, B, b"hello");
    n.run(200);
    // Idle for four minutes: longer than the NAT keeps an idle mapping (30 s), but A
    // sends a keepalive every 10 s and B answers to the learned address.
    n.run(240_000);
    n.host_send(B, A, b"after idle");
    n.run(50);
    assert_eq!(n.payloads(A), vec![b"after idle".to_vec()]);
    assert_eq!(n.nat.dropped, 0);
    assert_eq!(status(&n, B).endpoint_moves, 1);
    let c = n.sides[A].gw.peer_counters(PeerId(0)).unwrap();
    assert!(c.keepalives_sent >= 20, "{c:?}");
}

#[test]
fn without_keepalives_often_enough_the_nat_forgets_the_mapping() {
    // The same, with keepalives rarer than the NAT's idle timeout: the check above
    // can fail.
    let mut n = nat_pair(2);
    n.configure(|c| {
        c.keepalive_interval = Duration::from_secs(60);
        c.dead_after = Duration::from_secs(600);
    });
    n.host_send(A, B, b"hello");
    n.run(200);
    n.run(45_000);
    n.host_send(B, A, b"after idle");
    n.run(50);
    assert!(n.payloads(A).is_empty());
    assert_eq!(n.nat.dropped, 1);
}

#[test]
fn replays_spoofs_garbage_and_cookieless_hellos_from_other_addresses_move_nothing() {
    let mut n = nat_pair(3);
    n.host_send(A, B, b"hello");
    n.run(200);
    for k in 0..20 {
        n.host_send(A, B, &numbered("data", k));
    }
    n.run(50);
    let home = n.public().unwrap();
    let b = local(B);
    let attacker = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 66), 4433);
    let from_a: Vec<_> = n
        .seen
        .iter()
        .filter(|w| w.src == home && w.dst == b)
        .cloned()
        .collect();
    let hello = from_a[0].data.clone(); // A's first ClientHello, no cookie
    let records: Vec<_> = from_a
        .iter()
        .filter(|w| w.data[0] == 23)
        .map(|w| w.data.clone())
        .collect();
    assert!(records.len() >= 20);
    let before = n.sides[B].gw.counters().clone();
    // Every record A sent, replayed from the attacker's address and from another
    // port of A's own NAT address: the replay window refuses each.
    let other_port = SocketAddrV4::new(NAT_PUBLIC, home.port() + 7);
    for r in records.iter().take(8) {
        n.inject(attacker, b, r.clone());
        n.inject(other_port, b, r.clone());
    }
    n.run(5);
    let c = n.sides[B].gw.counters();
    assert_eq!(
        c.dropped(DropReason::Replay) - before.dropped(DropReason::Replay),
        16
    );
    // Garbage and a forged record (valid header, wrong tag) from many addresses.
    for k in 0..40u8 {
        let from = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, k), 1000 + u16::from(k));
        let mut forged = records[0].clone();
        let last = forged.len() - 1;
        forged[last] ^= 0x5a;
        forged[10] = k; // a fresh sequence number
        n.inject(from, b, forged);
        n.inject(from, b, vec![k; 3]);
    }
    // A's hello, replayed from the attacker: its random already made a session, so
    // it is ignored. A fresh hello (a client with any key) is answered statelessly,
    // with a cookie for the attacker's own address; nothing is kept.
    n.inject(attacker, b, hello.clone());
    n.run(5);
    let c = n.sides[B].gw.counters();
    assert_eq!(
        c.dropped(DropReason::HelloIgnored),
        before.dropped(DropReason::HelloIgnored) + 1
    );
    n.inject(attacker, b, fresh_hello());
    n.run(5);
    let c = n.sides[B].gw.counters();
    assert_eq!(c.roaming_handshakes, before.roaming_handshakes);
    assert_eq!(c.endpoint_moves, before.endpoint_moves);
    let answers: Vec<_> = n.seen.iter().filter(|w| w.dst == attacker).collect();
    assert_eq!(answers.len(), 1, "the cookie answer");
    assert_eq!(answers[0].data[13], 3, "a HelloVerifyRequest");
    let st = status(&n, B);
    assert_eq!(st.endpoint, Some(home));
    assert_eq!(st.endpoint_moves, 1);
    assert_eq!(st.state, PeerState::Up);
    // A flood from one source is refused unlooked-at after its burst.
    for _ in 0..100 {
        n.inject(attacker, b, records[0].clone());
    }
    n.run(2);
    assert!(n.sides[B].gw.counters().dropped(DropReason::SourceLimited) > 50);
    // The tunnel carries on, both ways, at A's real address.
    n.host_send(B, A, b"still here");
    n.host_send(A, B, b"me too");
    n.run(20);
    assert_eq!(n.payloads(A), vec![b"still here".to_vec()]);
    assert_eq!(n.payloads(B).last().unwrap(), b"me too");
    assert_eq!(status(&n, B).endpoint, Some(home));
    all_flows_encrypted(&n);
}

#[test]
fn a_peer_without_endpoint_is_never_called_and_its_traffic_waits_then_drops() {
    let mut n = nat_pair(4);
    // B has something for A first: it cannot call A (no address), so nothing leaves B.
    n.host_send(B, A, b"early");
    n.run(1_000);
    assert!(n.seen.iter().all(|w| w.src != local(B)));
    let st = status(&n, B);
    assert_eq!(st.state, PeerState::Connecting);
    assert_eq!(st.endpoint, None);
    // After the handshake timeout the waiting packet takes DropUnencrypted's way.
    n.run(10_000);
    let st = status(&n, B);
    assert_eq!(st.last_failure, Some(FailureReason::NoEndpoint));
    assert!(
        n.sides[B]
            .gw
            .counters()
            .dropped(DropReason::HandshakeFailed)
            >= 1
    );
    assert!(n.seen.iter().all(|w| w.src != local(B)));
    // A calls: the tunnel comes up and B answers to the address it learned.
    n.host_send(A, B, b"calling");
    n.run(300);
    n.host_send(B, A, b"answer");
    n.run(20);
    assert_eq!(n.payloads(B), vec![b"calling".to_vec()]);
    assert_eq!(n.payloads(A), vec![b"answer".to_vec()]);
    assert_eq!(status(&n, B).endpoint, n.public());
}

#[test]
fn simultaneous_start_across_a_nat_ends_with_one_session() {
    // A's port 4433 is forwarded by the NAT, and B knows A by that public address:
    // both call each other at once. By addresses each would think itself the lower
    // (A sees 10.99.0.2 < 192.0.2.2; B sees 192.0.2.2 < 203.0.113.1) and both would
    // keep their own handshake; by identities they agree.
    let forwarded = SocketAddrV4::new(NAT_PUBLIC, 4433);
    let mut n = NatNet::new(5, &[true, false], |i, _| {
        Some(if i == A { local(B) } else { forwarded })
    });
    n.nat.static_port = Some(4433);
    n.host_send(A, B, b"from-a");
    n.host_send(B, A, b"from-b");
    n.run(1_000);
    assert_eq!(n.payloads(B), vec![b"from-a".to_vec()]);
    assert_eq!(n.payloads(A), vec![b"from-b".to_vec()]);
    for i in [A, B] {
        let c = n.sides[i].gw.peer_counters(PeerId(0)).unwrap();
        assert_eq!(c.handshakes_completed, 1, "side {i}: {c:?}");
        assert_eq!(c.handshakes_failed, 0, "side {i}: {c:?}");
    }
    // No move: B's configured endpoint is where A is.
    assert_eq!(status(&n, B).endpoint_moves, 0);
}

/// The first flight of a new DTLS client with a key nobody pins.
fn fresh_hello() -> Vec<u8> {
    use rand_chacha::rand_core::SeedableRng;
    use vnetcrypt_dtls::{Config, Connection, Identity, PeerPolicy};
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(99);
    let id = Identity::generate(&mut rng, "mallory").unwrap();
    let cfg = std::sync::Arc::new(Config::new(id, PeerPolicy::AnyKey));
    let mut c = Connection::client(cfg, vnetcrypt_gateway::Instant::from_millis(1), &mut rng);
    let mut buf = [0u8; 1500];
    let n = c.poll_transmit(&mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn a_key_no_peer_pins_completes_no_handshake_and_moves_nothing() {
    use rand_chacha::rand_core::SeedableRng;
    use vnetcrypt_dtls::{Config, Connection, Identity, PeerPolicy};
    let mut n = nat_pair(6);
    n.host_send(A, B, b"hello");
    n.run(200);
    let home = n.public().unwrap();
    let before = n.sides[B].gw.counters().clone();
    // Mallory runs a whole DTLS handshake with B from her own address (she receives
    // there, so the cookie exchange succeeds), with a key of her own.
    let attacker = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 66), 4433);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let id = Identity::generate(&mut rng, "mallory").unwrap();
    let cfg = std::sync::Arc::new(Config::new(id, PeerPolicy::AnyKey));
    let mut mallory = Connection::client(cfg, n.now, &mut rng);
    let mut read = n.seen.len();
    let mut buf = [0u8; 2048];
    for _ in 0..12_000 {
        while let Some(k) = mallory.poll_transmit(&mut buf) {
            n.inject(attacker, local(B), buf[..k].to_vec());
        }
        n.step();
        let answers: Vec<_> = n.seen[read..]
            .iter()
            .filter(|w| w.dst == attacker)
            .map(|w| w.data.clone())
            .collect();
        read = n.seen.len();
        for a in answers {
            mallory.handle_datagram(n.now, &a);
        }
        if mallory.poll_timeout().is_some_and(|t| t <= n.now) {
            mallory.handle_timeout(n.now);
        }
    }
    let c = n.sides[B].gw.counters();
    assert_eq!(
        c.roaming_handshakes,
        before.roaming_handshakes + 1,
        "cookie returned"
    );
    assert_eq!(
        c.roaming_handshakes_completed,
        before.roaming_handshakes_completed
    );
    assert_eq!(c.endpoint_moves, before.endpoint_moves);
    assert!(!mallory.is_established());
    let st = status(&n, B);
    assert_eq!((st.state, st.endpoint), (PeerState::Up, Some(home)));
    n.host_send(B, A, b"unmoved");
    n.run(20);
    assert_eq!(n.payloads(A), vec![b"unmoved".to_vec()]);
}
