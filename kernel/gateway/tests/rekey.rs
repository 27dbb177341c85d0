//! Rekeying under continuous traffic: on a timer and at the AEAD usage limit, old and
//! new keys overlap so that no packet is lost, even with reordering on the fabric.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::double::Stats;
use common::pkt;
use common::sim::World;
use vnetcrypt_gateway::{DropReason, Enforcement};

struct Run {
    sent_ab: usize,
    sent_ba: usize,
    got_ab: Vec<Vec<u8>>,
    got_ba: Vec<Vec<u8>>,
    rekeys: u64,
    completed: u64,
    opened_with_previous: u64,
    drops: u64,
}

/// Both hosts send one packet per millisecond to each other for `ms` milliseconds.
fn continuous(seed: u64, ms: usize, setup: impl Fn(&mut World)) -> Run {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, seed);
    setup(&mut w);
    w.fabric.jitter_ms = 4;
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    // Establish first: the test is about rekeys, not the first handshake.
    w.send(a1, pkt::udp(ia, ib, 7, 7, b"warmup", false));
    w.run(30);
    w.hosts[b1].received.clear();
    for i in 0..ms {
        w.send(
            a1,
            pkt::udp(ia, ib, 1000, 2000, format!("ab{i:06}").as_bytes(), false),
        );
        w.send(
            b1,
            pkt::udp(ib, ia, 2000, 1000, format!("ba{i:06}").as_bytes(), false),
        );
        w.step();
    }
    w.run(50);
    let stats: Vec<_> = (0..2)
        .map(|n| w.nodes[n].gw.layer_mut().stats.clone())
        .collect();
    let (pa, pb) = (w.peer_id(0, 1), w.peer_id(1, 0));
    Run {
        sent_ab: ms,
        sent_ba: ms,
        got_ab: w.udp_received(b1),
        got_ba: w.udp_received(a1),
        rekeys: w.nodes[0].gw.peer_counters(pa).unwrap().rekeys
            + w.nodes[1].gw.peer_counters(pb).unwrap().rekeys,
        completed: stats.iter().map(|s| Stats::get(&s.rekeys_completed)).sum(),
        opened_with_previous: stats
            .iter()
            .map(|s| Stats::get(&s.opened_with_previous))
            .sum(),
        // Handshake messages of abandoned handshakes (rekey races) are counted apart:
        // they are not packets of the workloads.
        drops: (0..2)
            .map(|n| {
                let c = w.nodes[n].gw.counters();
                c.dropped_total() - c.dropped(DropReason::StaleHandshake)
            })
            .sum(),
    }
}

fn assert_lossless(r: &Run) {
    for (got, sent, tag) in [(&r.got_ab, r.sent_ab, "ab"), (&r.got_ba, r.sent_ba, "ba")] {
        let uniq: BTreeSet<_> = got.iter().collect();
        assert_eq!(uniq.len(), got.len(), "{tag}: no duplicates");
        let want: BTreeSet<Vec<u8>> = (0..sent)
            .map(|i| format!("{tag}{i:06}").into_bytes())
            .collect();
        let missing = want.iter().filter(|m| !uniq.contains(m)).count();
        assert_eq!(missing, 0, "{tag}: {missing} of {sent} lost during rekeys");
    }
    assert_eq!(r.drops, 0);
}

#[test]
fn timer_rekeys_lose_nothing_under_continuous_traffic() {
    let r = continuous(41, 3000, |w| {
        for n in 0..2 {
            w.reconfigure(n, |c, _| c.rekey_interval = Duration::from_millis(400));
        }
    });
    assert_lossless(&r);
    assert!(r.rekeys >= 6, "rekeys started: {}", r.rekeys);
    assert!(r.completed >= 6, "rekeys completed: {}", r.completed);
    assert!(
        r.opened_with_previous > 0,
        "reordered records were opened with the old keys: the overlap was exercised"
    );
}

#[test]
fn usage_limit_rekeys_lose_nothing() {
    let r = continuous(42, 2000, |w| {
        for n in 0..2 {
            w.reconfigure(n, |_, p| {
                p.soft_limit = 250;
                p.hard_limit = 10_000;
            });
        }
    });
    assert_lossless(&r);
    assert!(r.rekeys >= 8, "limit-driven rekeys: {}", r.rekeys);
    assert!(r.opened_with_previous > 0);
}

#[test]
fn without_the_overlap_the_same_traffic_would_lose_packets() {
    // The control experiment: old keys dropped at once. Proves the lossless tests can fail.
    let r = continuous(41, 3000, |w| {
        for n in 0..2 {
            w.reconfigure(n, |c, p| {
                c.rekey_interval = Duration::from_millis(400);
                p.overlap = Duration::ZERO;
            });
        }
    });
    let lost = (r.sent_ab - r.got_ab.len()) + (r.sent_ba - r.got_ba.len());
    assert!(lost > 0, "expected losses without overlap");
    assert!(r.drops > 0);
}

#[test]
fn rekey_survives_loss_of_rekey_messages() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 43);
    for n in 0..2 {
        w.reconfigure(n, |c, _| c.rekey_interval = Duration::from_millis(300));
    }
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    w.send(a1, pkt::udp(ia, ib, 7, 7, b"warmup", false));
    w.run(30);
    w.fabric.loss_permille = 100;
    for i in 0..3000 {
        w.send(a1, pkt::udp(ia, ib, 1, 2, format!("{i}").as_bytes(), false));
        w.step();
    }
    w.fabric.loss_permille = 0;
    w.run(1000);
    // After the lossy period, traffic still flows under current keys.
    w.hosts[b1].received.clear();
    for i in 0..50 {
        w.send(
            a1,
            pkt::udp(ia, ib, 1, 2, format!("after{i}").as_bytes(), false),
        );
        w.step();
    }
    w.run(20);
    assert_eq!(w.udp_received(b1).len(), 50);
    assert!(
        Stats::get(&w.nodes[0].gw.layer_mut().stats.rekeys_completed)
            + Stats::get(&w.nodes[1].gw.layer_mut().stats.rekeys_completed)
            >= 5
    );
}

#[test]
fn rekey_by_new_session_loses_nothing_and_is_not_a_restart() {
    // Sessions that cannot rekey in place (the DTLS engine's model): the engine runs a
    // new handshake and keeps the old session opening stragglers.
    let r = continuous(44, 3000, |w| {
        for n in 0..2 {
            w.reconfigure(n, |c, p| {
                c.rekey_interval = Duration::from_millis(400);
                p.rekey_in_place = false;
            });
        }
    });
    assert_lossless(&r);
    assert!(r.rekeys >= 6, "rekeys: {}", r.rekeys);
    assert_eq!(r.completed, 0, "no in-place rekey happened");
}

#[test]
fn rekey_by_new_session_counts_and_replaces() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 45);
    for n in 0..2 {
        w.reconfigure(n, |c, p| {
            c.rekey_interval = Duration::from_millis(500);
            p.rekey_in_place = false;
        });
    }
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    for i in 0..2000 {
        w.send(a1, pkt::udp(ia, ib, 1, 2, format!("{i}").as_bytes(), false));
        w.step();
    }
    w.run(50);
    assert_eq!(w.udp_received(b1).len(), 2000);
    let (pa, pb) = (w.peer_id(0, 1), w.peer_id(1, 0));
    let (ca, cb) = (
        *w.nodes[0].gw.peer_counters(pa).unwrap(),
        *w.nodes[1].gw.peer_counters(pb).unwrap(),
    );
    assert!(ca.rekeys + cb.rekeys >= 3);
    // Every rekey is one more handshake completed on both sides.
    assert_eq!(ca.handshakes_completed, 1 + ca.rekeys + cb.rekeys);
    assert_eq!(cb.handshakes_completed, 1 + ca.rekeys + cb.rekeys);
    // The side that answered a rekey handshake sees its session replaced by the peer.
    assert_eq!(ca.sessions_replaced, cb.rekeys);
    assert_eq!(cb.sessions_replaced, ca.rekeys);
}
