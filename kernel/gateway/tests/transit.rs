//! Transit (hub-and-spoke) over the session-layer double: gateway 0 is the hub, 1 and 2
//! are spokes that pin only the hub. The hub relays spoke-to-spoke traffic when both
//! spokes have transit on, re-sealed, never through its lan and never in the clear.
//! Each spoke lists the other spoke's prefix under the hub peer: that is what lets it
//! seal such traffic to the hub, and what its anti-spoof accepts from the hub.

mod common;

use std::time::Duration;

use common::pkt;
use common::sim::{wan_ep, Wire, World};
use vnetcrypt_gateway::{
    Direction, DropReason, Encryption, Enforcement, FlowState, FlowTuple, Ipv4Prefix,
};

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

/// Hub 0 (10.1.0.0/24) with spokes 1 (10.2.0.0/24) and 2 (10.3.0.0/24); transit on at
/// the hub for the spokes in `transit`.
fn hub_and_spokes(seed: u64, enforcement: Enforcement, transit: [bool; 2]) -> World {
    let mut w = World::new(3, 1, enforcement, seed);
    w.drop_peer(1, 2);
    w.drop_peer(2, 1);
    w.change_peer(1, 0, |c| c.prefixes.push(p("10.3.0.0/24")));
    w.change_peer(2, 0, |c| c.prefixes.push(p("10.2.0.0/24")));
    for (spoke, on) in [(1, transit[0]), (2, transit[1])] {
        let id = w.peer_id(0, spoke);
        w.nodes[0].gw.set_peer_transit(id, on).unwrap();
    }
    w
}

fn hub_flows(w: &mut World) -> Vec<FlowTuple> {
    let mut out = Vec::new();
    let now = w.now;
    w.nodes[0].gw.export_flows(now, 0, |t| out.push(t));
    out
}

/// Sends `marker` from host `s` to host `d` until it arrives (the hub's tunnel to the
/// far spoke comes up on the first relayed packet); how many tries it took.
fn deliver(w: &mut World, s: usize, d: usize, marker: &[u8]) -> usize {
    let (is, id) = (w.hosts[s].ip, w.hosts[d].ip);
    for tries in 1..=20 {
        w.send(s, pkt::udp(is, id, 4000, 5000, marker, false));
        w.run(50);
        if w.udp_received(d).iter().any(|m| m == marker) {
            return tries;
        }
    }
    panic!("{} never arrived", String::from_utf8_lossy(marker));
}

#[test]
fn the_hub_relays_between_transit_spokes_sealed_both_ways() {
    let mut w = hub_and_spokes(71, Enforcement::DropUnencrypted, [true, true]);
    w.fabric.jitter_ms = 2;
    let (s1, s2) = (w.host(1, 0), w.host(2, 0));
    let (i1, i2) = (w.hosts[s1].ip, w.hosts[s2].ip);
    deliver(&mut w, s1, s2, b"SECRET-warmup");
    for i in 0..30u8 {
        w.send(s1, pkt::udp(i1, i2, 4000, 5000, &[b'S', b'1', i], false));
        w.send(s2, pkt::udp(i2, i1, 5000, 4000, &[b'S', b'2', i], false));
        w.run(3);
    }
    w.run(100);
    let at2 = w
        .udp_received(s2)
        .iter()
        .filter(|m| m.starts_with(b"S1"))
        .count();
    let at1 = w
        .udp_received(s1)
        .iter()
        .filter(|m| m.starts_with(b"S2"))
        .count();
    assert_eq!((at2, at1), (30, 30));
    // Only records crossed the fabric, and never between the spokes directly.
    assert!(w.fabric_clear().is_empty());
    assert!(!w.fabric_contains(b"SECRET"));
    let hub = wan_ep(0);
    for wire in &w.fabric.log {
        if let Wire::Dtls { from, to, .. } = wire {
            assert!(
                *from == hub || *to == hub,
                "{from} -> {to} bypassed the hub"
            );
        }
    }
    // Nothing went out on the hub's lan, nothing was dropped anywhere.
    assert!(w.nodes[0].gw.counters().lan.tx_packets == 0);
    for n in 0..3 {
        let c = w.nodes[n].gw.counters();
        let drops: Vec<_> = c.drops().collect();
        // The warm-up's first packet found the hub-to-spoke-2 tunnel idle.
        let allowed = if n == 0 { 1 } else { 0 };
        assert!(
            c.dropped_total() <= allowed && c.dropped(DropReason::Spoofed) == 0,
            "gw{n}: {drops:?}"
        );
    }
    assert!(w.nodes[0].gw.counters().relayed >= 61);
    // The hub's flow log: one flow, direction I, encrypted, with both directions counted.
    let flows = hub_flows(&mut w);
    let f = flows
        .iter()
        .rfind(|t| (t.src, t.dst, t.src_port) == (i1, i2, 4000))
        .expect("a flow for the relayed traffic");
    assert_eq!(f.direction, Direction::Inbound);
    assert_eq!(f.encryption, Encryption::Encrypted);
    assert_eq!(f.state, FlowState::Continue);
    assert!(f.packets_sent >= 30 && f.packets_received == 30, "{f:?}");
}

#[test]
fn a_spoke_without_transit_cannot_reach_the_other_spoke() {
    for transit in [[false, true], [true, false], [false, false]] {
        let mut w = hub_and_spokes(72, Enforcement::AllowUnencrypted, transit);
        let (s1, s2) = (w.host(1, 0), w.host(2, 0));
        let (i1, i2) = (w.hosts[s1].ip, w.hosts[s2].ip);
        for i in 0..5u8 {
            w.send(s1, pkt::udp(i1, i2, 4000, 5000, &[b'S', i], false));
            w.send(s2, pkt::udp(i2, i1, 5000, 4000, &[b'S', i], false));
            w.run(100);
        }
        assert!(w.udp_received(s1).is_empty() && w.udp_received(s2).is_empty());
        assert!(
            w.fabric_clear().is_empty(),
            "{transit:?}: nothing went clear"
        );
        let c = w.nodes[0].gw.counters();
        assert_eq!(c.dropped(DropReason::TransitRefused), 10, "{transit:?}");
        assert_eq!(c.relayed, 0);
        let flows = hub_flows(&mut w);
        let f = flows.iter().find(|t| t.src == i1 && t.dst == i2).unwrap();
        assert_eq!(
            (f.direction, f.encryption, f.state),
            (Direction::Inbound, Encryption::Encrypted, FlowState::Deny),
            "{transit:?}"
        );
    }
}

#[test]
fn the_hub_refuses_an_inner_source_outside_the_senders_prefixes() {
    let mut w = hub_and_spokes(73, Enforcement::DropUnencrypted, [true, true]);
    let (s1, s2) = (w.host(1, 0), w.host(2, 0));
    let h0 = w.host(0, 0);
    let i2 = w.hosts[s2].ip;
    deliver(&mut w, s1, s2, b"warmup");
    // A workload behind spoke 1 claims spoke 2's prefix, and the hub's own prefix, as
    // its source; spoke 1 seals whatever its lan sends, the hub checks.
    let hub_host = w.hosts[h0].ip;
    for (src, dst) in [
        (i2, hub_host),
        ("10.3.0.77".parse().unwrap(), i2),
        (hub_host, i2),
        ("10.9.9.9".parse().unwrap(), i2),
    ] {
        w.send(s1, pkt::udp(src, dst, 1, 2, b"forged", false));
    }
    w.run(100);
    assert!(!w.udp_received(s2).iter().any(|m| m == b"forged"));
    assert!(!w.udp_received(h0).iter().any(|m| m == b"forged"));
    assert_eq!(w.nodes[0].gw.counters().dropped(DropReason::Spoofed), 4);
}

#[test]
fn a_spoke_accepts_relayed_traffic_only_from_prefixes_it_lists_under_the_hub() {
    let mut w = hub_and_spokes(74, Enforcement::DropUnencrypted, [true, true]);
    // Spoke 2 does not list spoke 1's prefix under the hub.
    w.change_peer(2, 0, |c| c.prefixes.retain(|q| *q != p("10.2.0.0/24")));
    let (s1, s2) = (w.host(1, 0), w.host(2, 0));
    let (i1, i2) = (w.hosts[s1].ip, w.hosts[s2].ip);
    for _ in 0..5 {
        w.send(s1, pkt::udp(i1, i2, 1, 2, b"relayed", false));
        w.run(100);
    }
    assert!(w.udp_received(s2).is_empty());
    assert!(w.nodes[0].gw.counters().relayed >= 4);
    assert!(w.nodes[2].gw.counters().dropped(DropReason::Spoofed) >= 4);
}

#[test]
fn a_relayed_packet_never_goes_clear_even_when_fallback_is_due() {
    // AllowUnencrypted everywhere, fallback after 2 s; the hub pins a wrong key for
    // spoke 2, so its tunnel to spoke 2 never comes up.
    let mut w = hub_and_spokes(75, Enforcement::AllowUnencrypted, [true, true]);
    w.reconfigure(0, |c, _| c.fallback_after = Duration::from_secs(2));
    w.change_peer(0, 2, |c| {
        c.fingerprint = vnetcrypt_gateway::Fingerprint([0xee; 32])
    });
    for spoke in [1, 2] {
        let id = w.peer_id(0, spoke);
        w.nodes[0].gw.set_peer_transit(id, true).unwrap();
    }
    let (s1, s2) = (w.host(1, 0), w.host(2, 0));
    let (i1, i2) = (w.hosts[s1].ip, w.hosts[s2].ip);
    for i in 0..50u8 {
        w.send(s1, pkt::udp(i1, i2, 1, 2, &[b'T', i], false));
        w.run(100);
    }
    assert!(w.udp_received(s2).is_empty());
    assert!(w.fabric_clear().is_empty(), "a transit packet went clear");
    let c = w.nodes[0].gw.counters();
    assert_eq!(c.dropped(DropReason::TransitNoTunnel), 50);
    // Meanwhile the hub's own lan traffic to spoke 2 does fall back (Allow): the
    // rule is transit's, not the enforcement's.
    let h0 = w.host(0, 0);
    let i0 = w.hosts[h0].ip;
    w.send(h0, pkt::udp(i0, i2, 1, 2, b"hub-own", false));
    w.run(10);
    assert_eq!(w.fabric_clear().len(), 1);
}
