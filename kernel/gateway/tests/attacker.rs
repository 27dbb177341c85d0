//! An attacker on the fabric (PRODUCT.md "Attacker model"): it sends any datagram with
//! any source address, including a peer's endpoint, and replays what it saw. Nothing it
//! sends may end, replace, stall or downgrade a tunnel. Also liveness: a peer that
//! dies is detected, and its flows stop saying `X`. Virtual clock, test double.

mod common;

use std::time::Duration;

use common::pkt;
use common::sim::{fingerprint, wan_ep, Wire, World};
use vnetcrypt_gateway::{
    DropReason, Encryption, Enforcement, FailureReason, FlowTuple, PeerState, SessionState,
};

/// A hello of the double from `from`'s identity: anyone can build one (the
/// fingerprint is public), and the double's server keeps state for it.
fn forged_hello(of: usize, crand: u8) -> Vec<u8> {
    let fp = fingerprint(of);
    let mut body = vec![1u8];
    body.extend_from_slice(&[crand; 32]);
    body.push(fp.0.len() as u8);
    body.extend_from_slice(&fp.0);
    record(22, 0, &body)
}

fn record(ty: u8, epoch: u16, body: &[u8]) -> Vec<u8> {
    let mut v = vec![ty, 0xfe, 0xfd];
    v.extend_from_slice(&epoch.to_be_bytes());
    v.extend_from_slice(&[0; 6]);
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// Injects `data` as if sent by gateway `from` to gateway `to`.
fn spoof(w: &mut World, from: usize, to: usize, data: Vec<u8>) {
    w.inject_wan(Wire::Dtls {
        from: wan_ep(from),
        to: wan_ep(to),
        data,
    });
}

fn flows_to(w: &World, node: usize, dst: std::net::Ipv4Addr) -> Vec<FlowTuple> {
    w.nodes[node]
        .gw
        .flows(w.now, 0)
        .filter(|t| t.dst == dst)
        .collect()
}

#[test]
fn forged_and_replayed_hellos_neither_replace_nor_stall_the_tunnel_and_rekeys_go_on() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 101);
    for n in 0..2 {
        w.reconfigure(n, |c, p| {
            c.rekey_interval = Duration::from_secs(2);
            p.rekey_in_place = false; // like DTLS: rekey by a new handshake
        });
    }
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    let (pa, pb) = (w.peer_id(0, 1), w.peer_id(1, 0));
    w.send(a1, pkt::udp(ia, ib, 1, 2, b"first", false));
    w.run(100);
    let legit_hello = w
        .fabric
        .log
        .iter()
        .find_map(|x| match x {
            Wire::Dtls { from, data, .. } if *from == wan_ep(0) && data[13] == 1 => {
                Some(data.clone())
            }
            _ => None,
        })
        .expect("A's hello crossed the fabric");
    let mut sent = 1;
    for i in 0..1000u32 {
        if i % 50 == 7 {
            // To both gateways, as each other: fresh hellos, a replay of the real one,
            // and a hello behind another record.
            spoof(&mut w, 1, 0, forged_hello(1, i as u8));
            spoof(&mut w, 0, 1, forged_hello(0, i as u8));
            spoof(&mut w, 0, 1, legit_hello.clone());
            let mut two = record(20, 0, &[1]);
            two.extend_from_slice(&forged_hello(1, 0xee));
            spoof(&mut w, 1, 0, two);
        }
        w.send(
            a1,
            pkt::udp(ia, ib, 1, 2, format!("m{i}").as_bytes(), false),
        );
        w.send(
            b1,
            pkt::udp(ib, ia, 2, 1, format!("r{i}").as_bytes(), false),
        );
        sent += 1;
        w.run(10);
        for (n, p) in [(0, pa), (1, pb)] {
            assert_eq!(
                w.nodes[n].gw.peer_status(p).unwrap().state,
                PeerState::Up,
                "node {n} at step {i}"
            );
        }
    }
    w.run(100);
    assert_eq!(w.udp_received(b1).len(), sent, "nothing lost A->B");
    assert_eq!(w.udp_received(a1).len(), sent - 1, "nothing lost B->A");
    let rekeys = |n: usize, p| w.nodes[n].gw.peer_counters(p).unwrap().rekeys;
    let started = [rekeys(0, pa), rekeys(1, pb)];
    for (n, p) in [(0, pa), (1, pb)] {
        let c = w.nodes[n].gw.peer_counters(p).unwrap();
        // A session is replaced only by a handshake that completed: the other side's
        // real rekeys, never a forged hello (its handshake cannot complete).
        assert!(
            c.sessions_replaced <= started[1 - n],
            "node {n}: {} replaced, the other side rekeyed {}",
            c.sessions_replaced,
            started[1 - n]
        );
        // 10 s at a 2 s interval: the forged hellos' pending handshakes did not stop
        // the rekeys, which completed (first handshake + rekeys; a rekey by either
        // side renews the keys of both).
        assert!(c.handshakes_completed >= 4, "node {n}: {c:?}");
    }
    assert!(started[0] + started[1] >= 3, "rekeys started: {started:?}");
    assert!(w.fabric_clear().is_empty());
}

#[test]
fn garbage_on_wan_is_counted_and_changes_nothing() {
    let mut w = World::new(2, 1, Enforcement::AllowUnencrypted, 102);
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    w.send(a1, pkt::udp(ia, ib, 1, 2, b"up", false));
    w.run(100);
    let pa = w.peer_id(0, 1);
    assert_eq!(w.nodes[0].gw.peer_status(pa).unwrap().state, PeerState::Up);
    let before = w.nodes[0].gw.counters().dropped_total();
    let stranger = std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(192, 0, 2, 99), 4433);
    for i in 0..50u8 {
        // A record that looks like application data, a short one, an alert.
        let mut fake = record(23, 1, &[i; 40]);
        fake[5..11].copy_from_slice(&[0, 0, 0, 0, 9, i]);
        spoof(&mut w, 1, 0, fake.clone());
        spoof(&mut w, 1, 0, vec![i; 5]);
        spoof(&mut w, 1, 0, record(21, 0, &[2, 40]));
        w.inject_wan(Wire::Dtls {
            from: stranger,
            to: wan_ep(0),
            data: fake,
        });
    }
    w.run(50);
    let c = w.nodes[0].gw.counters();
    assert_eq!(
        c.dropped_total() - before,
        200,
        "every garbage datagram counted"
    );
    // From an address that is no peer's endpoint: tried against the sessions up to
    // the source's burst, refused unlooked-at after it; none moved an endpoint.
    let burst = vnetcrypt_gateway::admission::PER_SOURCE_BURST as u64;
    assert_eq!(c.dropped(DropReason::UnknownPeer), burst);
    assert_eq!(c.dropped(DropReason::SourceLimited), 50 - burst);
    assert_eq!(c.endpoint_moves, 0);
    let st = w.nodes[0].gw.peer_status(pa).unwrap();
    assert_eq!(st.state, PeerState::Up);
    assert_eq!(st.endpoint, Some(wan_ep(1)));
    w.send(a1, pkt::udp(ia, ib, 1, 2, b"still", false));
    w.run(20);
    assert_eq!(w.udp_received(b1), vec![b"up".to_vec(), b"still".to_vec()]);
}

#[test]
fn idle_tunnels_keep_alive_and_a_dead_peer_goes_down_and_stops_saying_x() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 103);
    for n in 0..2 {
        w.reconfigure(n, |c, _| {
            c.keepalive_interval = Duration::from_secs(1);
            c.dead_after = Duration::from_secs(3);
        });
    }
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    let pa = w.peer_id(0, 1);
    w.send(a1, pkt::udp(ia, ib, 1, 2, b"hello", false));
    w.run(100);
    // Idle for 10 s: keepalives, and nobody goes down.
    w.run(10_000);
    let st = w.nodes[0].gw.peer_status(pa).unwrap();
    assert_eq!(st.state, PeerState::Up);
    let c = *w.nodes[0].gw.peer_counters(pa).unwrap();
    assert!(
        c.keepalives_sent >= 9 && c.keepalives_received >= 9,
        "{c:?}"
    );
    assert!(st.last_authenticated.unwrap() + Duration::from_secs(2) > w.now);
    // B dies (no goodbye). Within dead_after A says so, with why.
    w.nodes[1].off = true;
    let died = w.now;
    for i in 0..40 {
        w.send(
            a1,
            pkt::udp(ia, ib, 1, 2, format!("lost{i}").as_bytes(), false),
        );
        w.run(100);
    }
    let st = w.nodes[0].gw.peer_status(pa).unwrap();
    assert_eq!(st.state, PeerState::Down);
    assert!(st.since <= died + Duration::from_millis(3100), "{st:?}");
    assert_eq!(st.last_failure, Some(FailureReason::NoResponse));
    assert_eq!(
        w.nodes[0].gw.session_state(w.now, pa),
        Some(SessionState::Failed)
    );
    // Packets sent after it went down are logged NX_NOT_ACCEPTED, not X.
    let seen = w.nodes[0].gw.counters().dropped(DropReason::PeerDown);
    assert!(seen >= 5, "drops toward the down peer: {seen}");
    let f = flows_to(&w, 0, ib);
    assert!(
        f.iter().any(|t| t.encryption == Encryption::NotAccepted),
        "{f:?}"
    );
    assert!(w.fabric_clear().is_empty());
    // B comes back: the tunnel is rebuilt by the retries.
    w.restart(1, 7);
    w.nodes[1].off = false;
    w.run(40_000);
    assert_eq!(w.nodes[0].gw.peer_status(pa).unwrap().state, PeerState::Up);
}

#[test]
fn allow_falls_back_only_after_sustained_failure() {
    let mut w = World::new(2, 1, Enforcement::AllowUnencrypted, 104);
    w.reconfigure(0, |c, _| {
        c.fallback_after = Duration::from_secs(5);
        c.handshake_timeout = Duration::from_secs(1);
        c.handshake_retry = Duration::from_millis(500);
    });
    w.nodes[1].off = true;
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    let pa = w.peer_id(0, 1);
    let start = w.now;
    let mut first_clear = None;
    for i in 0..100 {
        w.send(
            a1,
            pkt::udp(ia, ib, 1, 2, format!("p{i}").as_bytes(), false),
        );
        w.run(100);
        if first_clear.is_none() && !w.fabric_clear().is_empty() {
            first_clear = Some(w.now);
        }
    }
    let first = first_clear.expect("fell back eventually");
    assert!(
        first >= start + Duration::from_secs(5),
        "clear only after fallback_after: {:?}",
        first.saturating_since(start)
    );
    let st = w.nodes[0].gw.peer_status(pa).unwrap();
    assert_eq!(st.state, PeerState::Connecting);
    let c = w.nodes[0].gw.peer_counters(pa).unwrap();
    // Retries with backoff: more than one attempt, far fewer than one per timeout.
    assert!(
        c.handshakes_started >= 3 && c.handshakes_started <= 8,
        "{c:?}"
    );
    assert!(
        w.nodes[0]
            .gw
            .counters()
            .dropped(DropReason::AwaitingFallback)
            > 0
    );
    assert!(flows_to(&w, 0, ib)
        .iter()
        .any(|t| t.encryption == Encryption::Fallback));
}

#[test]
fn clear_packets_claiming_an_up_peers_prefix_never_reach_lan() {
    for mode in [Enforcement::AllowUnencrypted, Enforcement::DropUnencrypted] {
        let mut w = World::new(2, 1, mode, 105);
        let (a1, b1) = (w.host(0, 0), w.host(1, 0));
        let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
        w.send(a1, pkt::udp(ia, ib, 1, 2, b"up", false));
        w.run(100);
        w.inject_wan(Wire::Clear {
            data: pkt::udp(ib, ia, 2, 1, b"SPOOFED", false),
        });
        w.run(10);
        assert!(w.udp_received(a1).is_empty(), "{mode:?}");
        let c = w.nodes[0].gw.counters();
        assert_eq!(
            c.dropped(DropReason::ClearFromTunnelPeer)
                + c.dropped(DropReason::PlaintextForProtected),
            1,
            "{mode:?}"
        );
        if mode == Enforcement::AllowUnencrypted {
            assert_eq!(c.dropped(DropReason::ClearFromTunnelPeer), 1);
        }
    }
}

#[test]
fn a_short_dead_peer_time_on_one_side_holds_against_a_peer_with_a_long_keepalive() {
    // A declares a peer down after 6 s of silence and sends keepalives every 2 s; B
    // keeps the default 10 s keepalive. B answers A's keepalives, so A hears B every
    // 2 s and an idle, live tunnel never goes down.
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 104);
    w.reconfigure(0, |c, _| {
        c.keepalive_interval = Duration::from_secs(2);
        c.dead_after = Duration::from_secs(6);
    });
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    let pa = w.peer_id(0, 1);
    w.send(a1, pkt::udp(ia, ib, 1, 2, b"hello", false));
    w.run(100);
    w.run(60_000);
    let st = w.nodes[0].gw.peer_status(pa).unwrap();
    assert_eq!(st.state, PeerState::Up, "{st:?}");
    assert_eq!(w.nodes[0].gw.peer_counters(pa).unwrap().went_down, 0);
    // The answers stop at one exchange: no keepalive storm (A sends about 30 in
    // 60 s and B answers each; B's own 10 s timer never fires since it keeps sending).
    let b = *w.nodes[1].gw.peer_counters(w.peer_id(1, 0)).unwrap();
    assert!(b.keepalives_sent <= 40, "{b:?}");
    w.send(a1, pkt::udp(ia, ib, 1, 2, b"later", false));
    w.run(20);
    assert_eq!(
        w.udp_received(b1),
        vec![b"hello".to_vec(), b"later".to_vec()]
    );
}
