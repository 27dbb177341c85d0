//! The attacker of PRODUCT.md against the REAL DTLS session layer (feature `dtls`):
//! forged and replayed ClientHellos, forged alerts during the first handshake, garbage
//! on wan; pin mismatch seen by the responder; rekeys by record count; fallback only
//! after sustained failure; keepalives and a dead peer. Virtual clock.
#![cfg(feature = "dtls")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::dtls_net::Net;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vnetcrypt_dtls::{datagram_has_client_hello, Config, Connection, Identity, PeerPolicy};
use vnetcrypt_gateway::{
    DropReason, Enforcement, FailureReason, PeerCounters, PeerId, PeerState, PeerStatus,
};

fn pid(n: &Net, i: usize) -> PeerId {
    n.sides[i].gw.peers().next().unwrap().0
}

fn status(n: &Net, i: usize) -> PeerStatus {
    n.sides[i].gw.peer_status(pid(n, i)).unwrap()
}

fn counters(n: &Net, i: usize) -> PeerCounters {
    *n.sides[i].gw.peer_counters(pid(n, i)).unwrap()
}

/// A real ClientHello from an identity nobody pins, without a cookie.
fn forged_hello(seed: u64) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let id = Identity::generate(&mut rng, "mallory").unwrap();
    let cfg = Arc::new(Config::new(id, PeerPolicy::AnyKey));
    let mut c = Connection::client(cfg, vnetcrypt_dtls::Instant::from_micros(0), &mut rng);
    let mut buf = vec![0u8; 2048];
    let len = c.poll_transmit(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn record(ty: u8, epoch: u16, body: &[u8]) -> Vec<u8> {
    let mut v = vec![ty, 0xfe, 0xfd];
    v.extend_from_slice(&epoch.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0, 0, 7]);
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn real_dtls_forged_and_replayed_hellos_leave_the_tunnel_alone_and_rekeys_go_on() {
    let mut n = Net::new(31, Duration::from_millis(700));
    n.host_send(0, b"first");
    n.run(200);
    assert_eq!(status(&n, 0).state, PeerState::Up);
    // The operator's views name the negotiated suite on both sides.
    for i in 0..2 {
        assert_eq!(
            status(&n, i).suite,
            Some("ECDHE-ECDSA-AES128-GCM-SHA256"),
            "side {i}"
        );
    }
    // The hello that came back with its cookie: replayable by an observer.
    let with_cookie = n
        .log
        .iter()
        .filter(|d| datagram_has_client_hello(d))
        .nth(1)
        .expect("the hello with the cookie")
        .clone();
    let hello = forged_hello(5);
    let mut behind_ccs = record(20, 0, &[1]);
    behind_ccs.extend_from_slice(&hello);
    let completed = [counters(&n, 0), counters(&n, 1)].map(|c| c.handshakes_completed);
    let mut sent = 0;
    for i in 0..300 {
        if i % 10 == 3 {
            for to in 0..2 {
                n.inject(to, hello.clone());
                n.inject(to, behind_ccs.clone());
            }
            n.inject(1, with_cookie.clone());
        }
        n.host_send(0, format!("ab{i}").as_bytes());
        n.host_send(1, format!("ba{i}").as_bytes());
        sent += 1;
        n.run(10);
        assert_eq!(status(&n, 0).state, PeerState::Up, "step {i}");
        assert_eq!(status(&n, 1).state, PeerState::Up, "step {i}");
    }
    n.run(100);
    assert_eq!(n.payloads(1).len(), sent + 1, "nothing lost A->B");
    assert_eq!(n.payloads(0).len(), sent, "nothing lost B->A");
    for (i, done) in completed.into_iter().enumerate() {
        let c = counters(&n, i);
        assert!(
            c.cookies_sent >= 10,
            "side {i}: forged hellos answered statelessly: {c:?}"
        );
        // 3 s at a 0.7 s interval: rekeys by new handshake completed despite the hellos.
        assert!(c.handshakes_completed >= done + 3, "side {i}: {c:?}");
    }
}

/// Forges plaintext fatal alerts and a HelloVerifyRequest, as from the peer, to both
/// sides while their first handshake runs under AllowUnencrypted.
fn forged_alerts_during_first_handshake(seed: u64) -> Net {
    let mut n = Net::new(seed, Duration::from_secs(3600));
    n.reconfigure(|c| {
        c.enforcement = Enforcement::AllowUnencrypted;
        c.fallback_after = Duration::from_secs(5);
    });
    n.host_send(0, b"SECRET-during-alerts");
    for _ in 0..100 {
        for to in 0..2 {
            n.inject(to, record(21, 0, &[2, 40]));
            n.inject(to, record(21, 0, &[2, 42]));
            n.inject(
                to,
                record(22, 0, &[3, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0xfe, 0xff, 0]),
            );
        }
        n.run(1);
    }
    n.run(200);
    n
}

#[test]
fn real_dtls_forged_alerts_never_make_the_engine_send_clear() {
    let mut n = forged_alerts_during_first_handshake(32);
    for _ in 0..40 {
        n.host_send(0, b"SECRET-later");
        n.run(100);
    }
    assert!(n.clear.is_empty(), "nothing crossed in the clear");
}

#[test]
fn real_dtls_forged_alerts_during_the_first_handshake_do_not_stop_it() {
    let n = forged_alerts_during_first_handshake(32);
    assert!(n.clear.is_empty(), "nothing crossed in the clear");
    assert_eq!(status(&n, 0).state, PeerState::Up);
    assert_eq!(n.payloads(1), vec![b"SECRET-during-alerts".to_vec()]);
}

#[test]
fn real_dtls_pin_mismatch_is_seen_by_the_responder() {
    let mut n = Net::new(33, Duration::from_secs(3600));
    // B pins a key that is not A's; A pins B correctly and starts.
    let p = pid(&n, 1);
    let mut cfg = n.sides[1].gw.remove_peer(p).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    cfg.fingerprint = Identity::generate(&mut rng, "other").unwrap().fingerprint();
    n.sides[1].gw.add_peer(cfg).unwrap();
    n.host_send(0, b"SECRET");
    // The responder refuses A's flight (its key is not the pinned one) and keeps waiting
    // for a genuine one, as it must against forged flights; when the engine's handshake
    // timeout ends the attempt, the reason it names is the pin.
    n.run(12_000);
    let b = status(&n, 1);
    assert_eq!(b.last_failure, Some(FailureReason::PinMismatch), "{b:?}");
    assert_ne!(b.state, PeerState::Up);
    assert_ne!(status(&n, 0).state, PeerState::Up);
    assert_eq!(b.suite, None, "no suite without an established session");
    assert!(n.payloads(1).is_empty());
}

#[test]
fn real_dtls_rekeys_after_rekey_records() {
    let mut n = Net::new(34, Duration::from_secs(3600));
    n.reconfigure(|c| c.rekey_records = 100);
    let mut sent = 0;
    for i in 0..450 {
        n.host_send(0, format!("r{i}").as_bytes());
        sent += 1;
        n.run(2);
    }
    n.run(100);
    assert_eq!(n.payloads(1).len(), sent, "no loss across rekeys");
    let c = counters(&n, 0);
    assert!(c.rekeys >= 4, "{c:?}");
    assert!(c.handshakes_completed >= 5, "{c:?}");
}

#[test]
fn real_dtls_rekeys_at_the_usage_limit() {
    let mut n = Net::new(38, Duration::from_secs(3600));
    n.reconfigure_with(|_, d| {
        d.limits.soft_seal = 80;
        d.limits.hard_seal = 10_000;
    });
    let mut sent = 0;
    for i in 0..400 {
        n.host_send(0, format!("u{i}").as_bytes());
        n.host_send(1, format!("v{i}").as_bytes());
        sent += 1;
        n.run(2);
    }
    n.run(100);
    assert_eq!(n.payloads(1).len(), sent, "no loss A->B across rekeys");
    assert_eq!(n.payloads(0).len(), sent, "no loss B->A across rekeys");
    for i in 0..2 {
        let c = counters(&n, i);
        assert!(c.rekeys >= 3, "side {i}: {c:?}");
    }
    assert_eq!(n.sides[1].gw.counters().dropped(DropReason::SealFailed), 0);
}

#[test]
fn real_dtls_allow_falls_back_only_after_sustained_failure() {
    let mut n = Net::new(35, Duration::from_secs(3600));
    n.reconfigure(|c| {
        c.enforcement = Enforcement::AllowUnencrypted;
        c.fallback_after = Duration::from_secs(3);
        c.handshake_timeout = Duration::from_secs(1);
        c.handshake_retry = Duration::from_millis(500);
    });
    n.off[1] = true;
    let start = n.now;
    let mut first_clear = None;
    for i in 0..60 {
        n.host_send(0, format!("SECRET-{i}").as_bytes());
        n.run(100);
        if first_clear.is_none() && !n.clear.is_empty() {
            first_clear = Some(n.now);
        }
    }
    let first = first_clear.expect("fell back eventually");
    assert!(
        first >= start + Duration::from_secs(3),
        "{:?}",
        first - start
    );
    let a = status(&n, 0);
    assert_eq!(a.state, PeerState::Connecting);
    assert!(a.last_failure.is_some());
    let drops = n.sides[0]
        .gw
        .counters()
        .dropped(DropReason::AwaitingFallback);
    assert!(drops > 0);
}

#[test]
fn real_dtls_garbage_on_wan_is_counted_while_rekeying() {
    let mut n = Net::new(36, Duration::from_millis(300));
    n.host_send(0, b"up");
    n.run(100);
    let before = n.sides[1].gw.counters().dropped(DropReason::OpenFailed);
    let early = n.sides[1].gw.counters().buffered_early;
    let mut sent = 1;
    for i in 0..200u32 {
        let mut fake = record(23, 1, &[i as u8; 60]);
        fake[5..11].copy_from_slice(&[0, 0, 0, 0, 1, i as u8]);
        n.inject(1, fake);
        n.inject(1, vec![i as u8; 9]);
        n.host_send(0, format!("g{i}").as_bytes());
        sent += 1;
        n.run(5);
    }
    n.run(100);
    assert_eq!(n.payloads(1).len(), sent, "garbage cost no real packet");
    // Counted as refused, or kept (and counted) by a finishing handshake as a record
    // that may have overtaken its last flight.
    let c = n.sides[1].gw.counters();
    let counted = c.dropped(DropReason::OpenFailed) - before + c.buffered_early - early;
    assert!(counted >= 400, "garbage counted: {counted}");
    assert!(counters(&n, 1).handshakes_completed >= 3);
}

#[test]
fn real_dtls_keepalives_hold_an_idle_tunnel_and_a_dead_peer_goes_down() {
    let mut n = Net::new(37, Duration::from_secs(3600));
    n.reconfigure(|c| {
        c.keepalive_interval = Duration::from_millis(500);
        c.dead_after = Duration::from_secs(2);
    });
    n.host_send(0, b"hello");
    n.run(100);
    n.run(6000);
    assert_eq!(status(&n, 0).state, PeerState::Up);
    assert_eq!(status(&n, 1).state, PeerState::Up);
    let c = counters(&n, 0);
    assert!(
        c.keepalives_sent >= 10 && c.keepalives_received >= 10,
        "{c:?}"
    );
    n.off[1] = true;
    let died = n.now;
    for i in 0..30 {
        n.host_send(0, format!("lost{i}").as_bytes());
        n.run(100);
    }
    let a = status(&n, 0);
    assert_eq!(a.state, PeerState::Down);
    assert!(a.since <= died + Duration::from_millis(2100), "{a:?}");
    assert!(n.sides[0].gw.counters().dropped(DropReason::PeerDown) > 0);
}
