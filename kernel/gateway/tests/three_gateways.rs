//! Three gateways in a full mesh, two workloads each, over a lossy, reordering fabric.

mod common;

use common::pkt;
use common::sim::World;
use std::time::Duration;
use vnetcrypt_gateway::{
    DropReason, Encryption, Enforcement, FailureReason, FlowState, PeerState, SessionState,
};

#[test]
fn full_mesh_all_pairs_encrypted_under_loss_and_reordering() {
    for seed in [51, 61, 71, 81] {
        full_mesh(seed);
    }
}

fn full_mesh(seed: u64) {
    let mut w = World::new(3, 2, Enforcement::DropUnencrypted, seed);
    w.fabric.loss_permille = 20;
    w.fabric.jitter_ms = 3;
    let n_hosts = w.hosts.len();
    // Warm-up: one packet per pair starts every session (handshakes retransmit over
    // the lossy fabric); the measured phase then runs on established sessions, so a
    // lost handshake message does not overflow the bounded session queues.
    for s in 0..n_hosts {
        for d in 0..n_hosts {
            if w.hosts[s].node != w.hosts[d].node {
                let (is, id) = (w.hosts[s].ip, w.hosts[d].ip);
                w.send(s, pkt::udp(is, id, 9, 9, b"warmup", false));
            }
        }
    }
    w.run(1500);
    const PER_PAIR: usize = 60;
    for round in 0..PER_PAIR {
        for s in 0..n_hosts {
            for d in 0..n_hosts {
                if w.hosts[s].node == w.hosts[d].node {
                    continue;
                }
                let (is, id) = (w.hosts[s].ip, w.hosts[d].ip);
                let payload = format!("SECRET-{s}-{d}-{round:03}");
                w.send(
                    s,
                    pkt::udp(
                        is,
                        id,
                        1000 + s as u16,
                        2000 + d as u16,
                        payload.as_bytes(),
                        false,
                    ),
                );
            }
        }
        w.step();
        w.step();
    }
    w.run(500);
    for d in 0..n_hosts {
        let got = w.udp_received(d);
        for s in 0..n_hosts {
            if w.hosts[s].node == w.hosts[d].node {
                continue;
            }
            let prefix = format!("SECRET-{s}-{d}-");
            let n = got
                .iter()
                .filter(|p| p.starts_with(prefix.as_bytes()))
                .count();
            assert!(
                n >= PER_PAIR * 85 / 100,
                "seed {seed}: {s}->{d}: {n} of {PER_PAIR}"
            );
            assert!(n <= PER_PAIR);
        }
    }
    assert!(!w.fabric_contains(b"SECRET"), "nothing in the clear");
    assert!(w.fabric_clear().is_empty());
    for i in 0..3 {
        for j in 0..3 {
            if i != j {
                let id = w.peer_id(i, j);
                assert_eq!(
                    w.nodes[i].gw.session_state(w.now, id),
                    Some(SessionState::Established),
                    "{i}->{j}"
                );
            }
        }
        let c = w.nodes[i].gw.counters();
        assert_eq!(c.dropped(DropReason::Spoofed), 0);
        assert_eq!(c.dropped(DropReason::OpenFailed), 0);
        assert_eq!(c.dropped(DropReason::Replay), 0);
        assert_eq!(c.dropped(DropReason::SessionQueueFull), 0);
    }
}

#[test]
fn a_peer_cannot_speak_for_another_peers_prefix() {
    let mut w = World::new(3, 1, Enforcement::DropUnencrypted, 52);
    let (a1, b1, c1) = (w.host(0, 0), w.host(1, 0), w.host(2, 0));
    let (ia, ib, ic) = (w.hosts[a1].ip, w.hosts[b1].ip, w.hosts[c1].ip);
    w.send(b1, pkt::udp(ib, ia, 1, 2, b"from-b", false));
    w.send(c1, pkt::udp(ic, ia, 1, 2, b"from-c", false));
    w.run(30);
    // A workload behind B claims C's address.
    w.send(b1, pkt::udp(ic, ia, 1, 2, b"forged-c", false));
    w.run(30);
    let got = w.udp_received(a1);
    assert!(got.contains(&b"from-b".to_vec()) && got.contains(&b"from-c".to_vec()));
    assert!(!got.contains(&b"forged-c".to_vec()));
    assert_eq!(w.nodes[0].gw.counters().dropped(DropReason::Spoofed), 1);
    assert_eq!(
        w.nodes[0].gw.peer_counters(w.peer_id(0, 1)).unwrap().drops,
        1
    );
    assert_eq!(
        w.nodes[0].gw.peer_counters(w.peer_id(0, 2)).unwrap().drops,
        0
    );
}

#[test]
fn per_peer_enforcement_in_a_mesh() {
    // Global DropUnencrypted; on A, peer C is AllowUnencrypted. C's identity does not
    // match what A and B pin, so both handshakes towards C fail.
    let mut w = World::new(3, 1, Enforcement::DropUnencrypted, 53);
    for n in 0..3 {
        w.reconfigure(n, |c, _| c.fallback_after = Duration::from_secs(2));
    }
    for on in [0, 1] {
        let id = w.peer_id(on, 2);
        let mut cfg = w.nodes[on].gw.remove_peer(id).unwrap();
        cfg.fingerprint = vnetcrypt_gateway::Fingerprint([0xcc; 32]);
        if on == 0 {
            cfg.enforcement = Some(Enforcement::AllowUnencrypted);
        }
        let new_id = w.nodes[on].gw.add_peer(cfg).unwrap();
        w.nodes[on].peers.retain(|(j, _)| *j != 2);
        w.nodes[on].peers.push((2, new_id));
    }
    let (a1, b1, c1) = (w.host(0, 0), w.host(1, 0), w.host(2, 0));
    let (ia, ib, ic) = (w.hosts[a1].ip, w.hosts[b1].ip, w.hosts[c1].ip);
    let burst = |w: &mut World, round: u8| {
        for i in 0..3u8 {
            let i = round * 10 + i;
            w.send(a1, pkt::udp(ia, ib, 1, 2, &[b'S', b'B', i], false));
            w.send(a1, pkt::udp(ia, ic, 3, 4, &[b'S', b'C', i], false));
            w.send(b1, pkt::udp(ib, ic, 5, 6, &[b'S', b'D', i], false));
        }
    };
    // The first burst meets failing handshakes: nothing may go clear yet.
    burst(&mut w, 0);
    w.run(1000);
    assert!(
        w.fabric_clear().is_empty(),
        "no fallback before fallback_after"
    );
    assert_eq!(
        w.nodes[0]
            .gw
            .counters()
            .dropped(DropReason::AwaitingFallback),
        3
    );
    let pc = w.peer_id(0, 2);
    let st = w.nodes[0].gw.peer_status(pc).unwrap();
    assert_eq!(st.state, PeerState::Connecting);
    assert_eq!(st.last_failure, Some(FailureReason::PinMismatch));
    w.run(2000);
    burst(&mut w, 1);
    w.run(1000);
    assert_eq!(w.udp_received(b1).len(), 6, "A->B encrypted");
    // A->C fell back to plaintext (A's per-peer Allow) once it had failed for
    // fallback_after; C refuses it (its own tunnel with A is not given up, and it is
    // under Drop). What matters here is A's side.
    let clear: Vec<_> = w
        .fabric_clear()
        .into_iter()
        .map(|p| pkt::parse(p))
        .collect();
    assert_eq!(clear.len(), 3);
    assert!(
        clear.iter().all(|p| p.src == ia && p.dst == ic),
        "only A->C went in the clear"
    );
    let mut fa = Vec::new();
    let now = w.now;
    w.nodes[0].gw.export_flows(now, 0, |t| fa.push(t));
    assert!(fa.iter().any(|t| t.dst == ic
        && t.encryption == Encryption::Fallback
        && t.state == FlowState::Continue));
    assert!(fa.iter().any(|t| t.dst == ib
        && t.encryption == Encryption::Encrypted
        && t.state == FlowState::Continue));
    let mut fb = Vec::new();
    w.nodes[1].gw.export_flows(now, 0, |t| fb.push(t));
    assert!(fb.iter().any(|t| t.dst == ic
        && t.encryption == Encryption::NotAccepted
        && t.state == FlowState::Deny));
    assert_eq!(
        w.nodes[1]
            .gw
            .counters()
            .dropped(DropReason::HandshakeFailed),
        6
    );
    let c = w.nodes[2].gw.counters();
    assert_eq!(
        c.dropped(DropReason::PlaintextForProtected) + c.dropped(DropReason::ClearFromTunnelPeer),
        3
    );
    assert!(w.udp_received(c1).is_empty());
}
