//! Two gateways over the real DTLS 1.2 engine (feature `dtls`): handshake with pinned
//! identities, data both ways sealed in DTLS records, a peer restart, and rekeys by new
//! handshake under continuous traffic.
#![cfg(feature = "dtls")]

mod common;

use std::time::Duration;

use common::dtls_net::Net;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vnetcrypt_dtls::Identity;
use vnetcrypt_gateway::{DropReason, FailureReason};

#[test]
fn real_dtls_carries_traffic_both_ways_and_nothing_in_the_clear() {
    let mut n = Net::new(1, Duration::from_secs(3600));
    for i in 0..5 {
        n.host_send(0, format!("SECRET-ab-{i}").as_bytes());
    }
    n.run(200);
    for i in 0..5 {
        n.host_send(1, format!("SECRET-ba-{i}").as_bytes());
    }
    n.run(50);
    let want: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("SECRET-ab-{i}").into_bytes())
        .collect();
    assert_eq!(n.payloads(1), want);
    assert_eq!(n.payloads(0).len(), 5);
    assert!(n.log.iter().all(|d| !d.windows(6).any(|w| w == b"SECRET")));
    // Every wan datagram is a DTLS 1.2 record sequence.
    // (the first ClientHello and HelloVerifyRequest say DTLS 1.0 in the record layer)
    assert!(n
        .log
        .iter()
        .all(|d| d.len() > 13 && (20..=23).contains(&d[0]) && d[1] == 0xfe));
    let pid = n.sides[0].gw.peers().next().unwrap().0;
    assert_eq!(
        n.sides[0]
            .gw
            .peer_counters(pid)
            .unwrap()
            .handshakes_completed,
        1
    );
}

#[test]
fn wrong_pin_fails_the_handshake_and_drops() {
    let mut n = Net::new(2, Duration::from_secs(3600));
    // A pins a key that is not B's.
    let pid = n.sides[0].gw.peers().next().unwrap().0;
    let mut cfg = n.sides[0].gw.remove_peer(pid).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    cfg.fingerprint = Identity::generate(&mut rng, "other").unwrap().fingerprint();
    n.sides[0].gw.add_peer(cfg).unwrap();
    n.host_send(0, b"SECRET-x");
    n.run(200_000);
    assert!(n.payloads(1).is_empty());
    assert_eq!(
        n.sides[0]
            .gw
            .counters()
            .dropped(DropReason::HandshakeFailed),
        1
    );
    // The engine gives up before the connection's own deadline, and still says why:
    // B answered with a key that is not the pinned one (not a dead peer).
    let a = n.sides[0].gw.peer_status(pid).unwrap();
    assert_eq!(a.last_failure, Some(FailureReason::PinMismatch), "{a:?}");
}

#[test]
fn real_dtls_peer_restart_resumes_traffic() {
    let mut n = Net::new(3, Duration::from_secs(3600));
    n.host_send(0, b"before");
    n.run(200);
    assert_eq!(n.payloads(1).len(), 1);
    n.restart(1, 33, Duration::from_secs(3600));
    for i in 0..20 {
        n.host_send(0, format!("after-{i}").as_bytes());
        n.run(10);
    }
    n.run(300);
    for i in 0..5 {
        n.host_send(0, format!("later-{i}").as_bytes());
        n.run(2);
    }
    n.run(50);
    let got = n.payloads(1);
    assert_eq!(
        got.iter().filter(|p| p.starts_with(b"later-")).count(),
        5,
        "traffic resumed"
    );
    let pid = n.sides[0].gw.peers().next().unwrap().0;
    assert_eq!(
        n.sides[0].gw.peer_counters(pid).unwrap().sessions_replaced,
        1
    );
}

#[test]
fn real_dtls_rekeys_by_new_handshake_without_loss() {
    let mut n = Net::new(4, Duration::from_millis(700));
    n.host_send(0, b"warmup");
    n.host_send(1, b"warmup");
    n.run(200);
    for side in 0..2 {
        n.sides[side].received.clear();
    }
    const N: usize = 3000;
    for i in 0..N {
        n.host_send(0, format!("ab{i:05}").as_bytes());
        n.host_send(1, format!("ba{i:05}").as_bytes());
        n.step();
    }
    n.run(200);
    let (ab, ba) = (n.payloads(1), n.payloads(0));
    let pid = n.sides[0].gw.peers().next().unwrap().0;
    let rekeys = n.sides[0].gw.peer_counters(pid).unwrap().rekeys
        + n.sides[1].gw.peer_counters(pid).unwrap().rekeys;
    assert!(rekeys >= 3, "rekeys: {rekeys}");
    assert_eq!(
        (ab.len(), ba.len()),
        (N, N),
        "no packet lost across {rekeys} rekeys"
    );
}

#[test]
fn real_dtls_handshakes_through_a_lossy_fabric() {
    for seed in [5, 6, 7] {
        let mut n = Net::new(seed, Duration::from_secs(3600));
        n.loss_permille = 200;
        for i in 0..200 {
            n.host_send(0, format!("SECRET-{i}").as_bytes());
            n.host_send(1, format!("SECRET-{i}").as_bytes());
            n.run(100);
        }
        n.run(2000);
        assert!(n.lost > 0);
        let (ab, ba) = (n.payloads(1).len(), n.payloads(0).len());
        // Packets sent before the handshake finished queue (at most 32); after it, 20%
        // loss each way. Well over half must arrive.
        assert!(ab > 120 && ba > 120, "seed {seed}: {ab} and {ba} of 200");
        assert!(n.log.iter().all(|d| !d.windows(6).any(|w| w == b"SECRET")));
    }
}

#[test]
fn real_dtls_initiator_restart_resumes_traffic() {
    let mut n = Net::new(8, Duration::from_secs(3600));
    n.host_send(0, b"before");
    n.run(200);
    assert_eq!(n.payloads(1).len(), 1);
    // Side 0 started the session; it reboots and sends again at once.
    n.restart(0, 88, Duration::from_secs(3600));
    for i in 0..10 {
        n.host_send(0, format!("after-{i}").as_bytes());
        n.host_send(1, format!("back-{i}").as_bytes());
        n.run(50);
    }
    n.run(300);
    assert_eq!(
        n.payloads(1)
            .iter()
            .filter(|p| p.starts_with(b"after-"))
            .count(),
        10
    );
    let back = n
        .payloads(0)
        .iter()
        .filter(|p| p.starts_with(b"back-"))
        .count();
    assert!(back >= 8, "the other direction resumes too: {back}");
}

#[test]
fn real_dtls_simultaneous_initiation_ends_with_one_session() {
    let mut n = Net::new(9, Duration::from_secs(3600));
    n.host_send(0, b"from-0");
    n.host_send(1, b"from-1");
    n.run(500);
    assert_eq!(n.payloads(1), vec![b"from-0".to_vec()]);
    assert_eq!(n.payloads(0), vec![b"from-1".to_vec()]);
    let pid = n.sides[0].gw.peers().next().unwrap().0;
    let (c0, c1) = (
        *n.sides[0].gw.peer_counters(pid).unwrap(),
        *n.sides[1].gw.peer_counters(pid).unwrap(),
    );
    assert_eq!((c0.handshakes_completed, c1.handshakes_completed), (1, 1));
    // The side with the lower identity fingerprint kept its own handshake; the other
    // answered it (both know both fingerprints, whatever the addresses look like).
    let mut fp = |i: usize| n.sides[i].gw.layer_mut().fingerprint();
    let low = if fp(0).0 < fp(1).0 { 0 } else { 1 };
    let started = [c0.handshakes_started, c1.handshakes_started];
    assert_eq!((started[low], started[1 - low]), (1, 2));
    for i in 0..5 {
        n.host_send(0, format!("more-{i}").as_bytes());
    }
    n.run(20);
    assert_eq!(n.payloads(1).len(), 6);
}

#[test]
fn real_dtls_rekeys_under_reordering() {
    for seed in [10, 11, 12] {
        rekeys_under_reordering(seed);
    }
}

fn rekeys_under_reordering(seed: u64) {
    let mut n = Net::new(seed, Duration::from_millis(500));
    n.jitter_ms = 4;
    n.host_send(0, b"warmup");
    n.host_send(1, b"warmup");
    n.run(300);
    for side in 0..2 {
        n.sides[side].received.clear();
    }
    const N: usize = 3000;
    for i in 0..N {
        n.host_send(0, format!("ab{i:05}").as_bytes());
        n.host_send(1, format!("ba{i:05}").as_bytes());
        n.step();
    }
    n.run(300);
    let (ab, ba) = (n.payloads(1), n.payloads(0));
    let pid = n.sides[0].gw.peers().next().unwrap().0;
    let rekeys = n.sides[0].gw.peer_counters(pid).unwrap().rekeys
        + n.sides[1].gw.peer_counters(pid).unwrap().rekeys;
    assert!(rekeys >= 4, "rekeys: {rekeys}");
    assert_eq!(
        (ab.len(), ba.len()),
        (N, N),
        "no packet lost across {rekeys} rekeys"
    );
}
