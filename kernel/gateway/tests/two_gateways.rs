//! Two gateways, hosts exchanging real IPv4 packets over a simulated fabric.

mod common;

use std::net::Ipv4Addr;

use common::pkt;
use common::sim::{Wire, World};
use vnetcrypt_gateway::{
    DropReason, Encryption, Enforcement, FailureReason, FlowState, FlowTuple, PeerState,
    SessionState,
};

fn marker(tag: &str, i: usize) -> Vec<u8> {
    format!("SECRET-{tag}-{i:05}").into_bytes()
}

fn flows(w: &mut World, node: usize) -> Vec<FlowTuple> {
    let mut v = Vec::new();
    let now = w.now;
    w.nodes[node].gw.export_flows(now, 0, |t| v.push(t));
    v
}

fn send_udp(w: &mut World, from: usize, to_ip: Ipv4Addr, tag: &str, n: usize) {
    send_udp_ports(w, from, to_ip, (5000, 6000), tag, n)
}

fn send_udp_ports(
    w: &mut World,
    from: usize,
    to_ip: Ipv4Addr,
    ports: (u16, u16),
    tag: &str,
    n: usize,
) {
    for i in 0..n {
        let src = w.hosts[from].ip;
        let p = pkt::udp(src, to_ip, ports.0, ports.1, &marker(tag, i), false);
        w.send(from, p);
        w.step();
    }
}

#[test]
fn encrypts_to_peer_and_nothing_crosses_in_the_clear() {
    let mut w = World::new(2, 2, Enforcement::DropUnencrypted, 1);
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let b1_ip = w.hosts[b1].ip;
    send_udp(&mut w, a1, b1_ip, "ab", 50);
    w.run(50);
    let got = w.udp_received(b1);
    let want: Vec<_> = (0..50).map(|i| marker("ab", i)).collect();
    assert_eq!(
        got, want,
        "every packet arrives once, in order, including those that waited for the handshake"
    );
    assert!(
        !w.fabric_contains(b"SECRET"),
        "no payload crossed the fabric in the clear"
    );
    assert!(w.fabric_clear().is_empty());
    // Reply direction over the same session.
    let a1_ip = w.hosts[a1].ip;
    send_udp_ports(&mut w, b1, a1_ip, (6000, 5000), "ba", 10);
    w.run(20);
    assert_eq!(w.udp_received(a1).len(), 10);
    let (pa, pb) = (w.peer_id(0, 1), w.peer_id(1, 0));
    assert_eq!(w.nodes[0].gw.peer_counters(pa).unwrap().sealed_packets, 50);
    assert_eq!(w.nodes[0].gw.peer_counters(pa).unwrap().opened_packets, 10);
    assert_eq!(w.nodes[1].gw.peer_counters(pb).unwrap().opened_packets, 50);
    assert_eq!(
        w.nodes[0]
            .gw
            .peer_counters(pa)
            .unwrap()
            .handshakes_completed,
        1
    );
    assert_eq!(w.nodes[1].gw.counters().dropped_total(), 0);
    assert_eq!(w.nodes[0].gw.counters().dropped_total(), 0);
    // Flow logs: O/X on A, I/X on B, with per-direction counters.
    let fa = flows(&mut w, 0);
    let c = fa
        .iter()
        .find(|t| t.state == FlowState::Continue)
        .expect("continue tuple");
    assert_eq!(
        (c.src, c.dst, c.src_port, c.dst_port, c.protocol),
        (w.hosts[a1].ip, b1_ip, 5000, 6000, 17)
    );
    assert_eq!(c.encryption, Encryption::Encrypted);
    assert_eq!(c.direction, vnetcrypt_gateway::Direction::Outbound);
    assert_eq!((c.packets_sent, c.packets_received), (50, 10));
    assert!(fa.iter().any(|t| t.state == FlowState::Begin));
    let fb = flows(&mut w, 1);
    let c = fb.iter().find(|t| t.state == FlowState::Continue).unwrap();
    assert_eq!(c.direction, vnetcrypt_gateway::Direction::Inbound);
    assert_eq!((c.packets_sent, c.packets_received), (50, 10));
    assert!(c.to_string().contains(",17,I,C,X,50,"));
}

#[test]
fn survives_loss_and_reordering() {
    for seed in [2, 3, 4] {
        let mut w = World::new(2, 1, Enforcement::DropUnencrypted, seed);
        w.fabric.loss_permille = 50;
        w.fabric.jitter_ms = 5;
        let (a1, b1) = (w.host(0, 0), w.host(1, 0));
        let b1_ip = w.hosts[b1].ip;
        send_udp(&mut w, a1, b1_ip, "x", 400);
        w.run(2000);
        let got = w.udp_received(b1);
        let mut uniq = got.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), got.len(), "no duplicates delivered");
        assert!(
            got.len() >= 340,
            "seed {seed}: {} of 400 arrived with 5% loss",
            got.len()
        );
        assert!(got.len() < 400 || w.fabric.lost == 0);
        assert!(
            got.windows(2).any(|p| p[0] > p[1]),
            "seed {seed}: jitter reordered something"
        );
        assert!(!w.fabric_contains(b"SECRET"));
        assert_eq!(w.nodes[1].gw.counters().dropped(DropReason::Replay), 0);
    }
}

#[test]
fn replayed_records_are_dropped() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 5);
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let b1_ip = w.hosts[b1].ip;
    send_udp(&mut w, a1, b1_ip, "r", 5);
    w.run(10);
    assert_eq!(w.udp_received(b1).len(), 5);
    let records: Vec<Wire> = w
        .fabric
        .log
        .iter()
        .filter(|x| matches!(x, Wire::Dtls { data, .. } if data[0] == 23))
        .cloned()
        .collect();
    for r in records {
        w.inject_wan(r);
    }
    w.run(10);
    assert_eq!(w.udp_received(b1).len(), 5, "replays not delivered");
    assert_eq!(w.nodes[1].gw.counters().dropped(DropReason::Replay), 5);
}

#[test]
fn garbage_and_strangers_on_wan_are_counted_not_fatal() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 6);
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let b1_ip = w.hosts[b1].ip;
    send_udp(&mut w, a1, b1_ip, "g", 3);
    w.run(10);
    let (from, to) = (common::sim::wan_ep(0), common::sim::wan_ep(1));
    let mut rng = common::double::Rng::new(99);
    for len in [0usize, 1, 12, 13, 14, 40, 300] {
        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        w.inject_wan(Wire::Dtls {
            from,
            to,
            data: data.clone(),
        });
        // A record header with a valid shape but a forged body.
        let mut forged = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 99];
        forged.extend_from_slice(&((len + 24) as u16).to_be_bytes());
        forged.extend(std::iter::repeat_n(0xab, len + 24));
        w.inject_wan(Wire::Dtls {
            from,
            to,
            data: forged,
        });
        let stranger = std::net::SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 99), 4433);
        w.inject_wan(Wire::Dtls {
            from: stranger,
            to,
            data,
        });
    }
    w.run(10);
    let c = w.nodes[1].gw.counters();
    assert_eq!(c.dropped(DropReason::UnknownPeer), 7);
    assert_eq!(c.dropped(DropReason::OpenFailed), 14);
    assert_eq!(w.udp_received(b1).len(), 3);
    // The session survived.
    send_udp(&mut w, a1, b1_ip, "g2", 3);
    w.run(10);
    assert_eq!(w.udp_received(b1).len(), 6);
}

#[test]
fn no_peer_for_private_destination() {
    for (mode, delivered_clear) in [
        (Enforcement::DropUnencrypted, false),
        (Enforcement::AllowUnencrypted, true),
    ] {
        let mut w = World::new(2, 1, mode, 7);
        let a1 = w.host(0, 0);
        // 10.9.0.0/24 is private but no peer owns it.
        let dst = Ipv4Addr::new(10, 9, 0, 5);
        send_udp(&mut w, a1, dst, "np", 4);
        w.run(5);
        let f = flows(&mut w, 0);
        if delivered_clear {
            assert_eq!(w.internet.len(), 4);
            assert!(f.iter().any(
                |t| t.encryption == Encryption::NotEncrypted && t.state == FlowState::Continue
            ));
        } else {
            assert!(w.internet.is_empty() && w.fabric.log.is_empty());
            assert_eq!(
                w.nodes[0]
                    .gw
                    .counters()
                    .dropped(DropReason::NoPeerForPrivate),
                4
            );
            let d = f
                .iter()
                .find(|t| t.state == FlowState::Deny)
                .expect("deny tuple");
            assert_eq!(d.encryption, Encryption::NotAccepted);
            assert_eq!(d.packets_sent, 4);
        }
    }
}

#[test]
fn non_private_destinations_pass_as_nx_even_under_drop() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 8);
    let a1 = w.host(0, 0);
    let internet = Ipv4Addr::new(198, 51, 100, 7);
    send_udp(&mut w, a1, internet, "inet", 3);
    w.run(5);
    assert_eq!(w.internet.len(), 3);
    // The reply from the internet reaches the workload.
    let reply = pkt::udp(internet, w.hosts[a1].ip, 6000, 5000, b"reply", false);
    w.inject_wan(Wire::Clear { data: reply });
    w.run(5);
    assert_eq!(w.udp_received(a1), vec![b"reply".to_vec()]);
    let f = flows(&mut w, 0);
    let c = f.iter().find(|t| t.state == FlowState::Continue).unwrap();
    assert_eq!(c.encryption, Encryption::NotEncrypted);
    assert_eq!((c.packets_sent, c.packets_received), (3, 1));
}

#[test]
fn handshake_failure_falls_back_or_drops_per_peer_enforcement() {
    for (global, per_peer) in [
        (Enforcement::DropUnencrypted, None),
        (
            Enforcement::DropUnencrypted,
            Some(Enforcement::AllowUnencrypted),
        ),
        (Enforcement::AllowUnencrypted, None),
        (
            Enforcement::AllowUnencrypted,
            Some(Enforcement::DropUnencrypted),
        ),
    ] {
        let mut w = World::new(2, 1, global, 9);
        w.reconfigure(0, |c, _| {
            c.fallback_after = std::time::Duration::from_secs(2)
        });
        let pid = w.peer_id(0, 1);
        w.nodes[0].gw.set_peer_enforcement(pid, per_peer).unwrap();
        // B pins a different identity for A: it refuses A's handshakes.
        let pb = w.peer_id(1, 0);
        let mut cfg = w.nodes[1].gw.remove_peer(pb).unwrap();
        cfg.fingerprint = vnetcrypt_gateway::Fingerprint([0xee; 32]);
        w.nodes[1].gw.add_peer(cfg).unwrap();
        let (a1, b1) = (w.host(0, 0), w.host(1, 0));
        let b1_ip = w.hosts[b1].ip;
        send_udp(&mut w, a1, b1_ip, "hf", 5);
        w.run(1900);
        // The first attempt failed, but the peer has not failed for fallback_after.
        assert!(w.fabric_clear().is_empty(), "{global:?}/{per_peer:?}");
        w.run(1100);
        let st = w.nodes[0].gw.peer_status(pid).unwrap();
        assert_eq!(st.state, PeerState::Connecting);
        assert_eq!(st.last_failure, Some(FailureReason::NoResponse));
        send_udp(&mut w, a1, b1_ip, "hf2", 2);
        w.run(10);
        let effective = per_peer.unwrap_or(global);
        let f = flows(&mut w, 0);
        let counters = w.nodes[0].gw.counters();
        if effective == Enforcement::AllowUnencrypted {
            // B (per its own policy toward the source) may refuse the plaintext; A let it go.
            // The packets that waited for the first attempt were dropped, not sent
            // clear; only those after fallback_after went clear.
            assert_eq!(w.fabric_clear().len(), 2, "{global:?}/{per_peer:?}");
            assert!(
                f.iter().any(|t| t.encryption == Encryption::Fallback),
                "NX_FALLBACK logged"
            );
            assert_eq!(counters.dropped(DropReason::HandshakeFailed), 0);
            assert_eq!(counters.dropped(DropReason::AwaitingFallback), 5);
        } else {
            assert!(
                w.fabric_clear().is_empty(),
                "{global:?}/{per_peer:?}: nothing in the clear"
            );
            assert!(!w.fabric_contains(b"SECRET"));
            assert_eq!(counters.dropped(DropReason::HandshakeFailed), 7);
            let d = f.iter().find(|t| t.state == FlowState::Deny).unwrap();
            assert_eq!(d.encryption, Encryption::NotAccepted);
        }
        assert!(w.nodes[0].gw.peer_counters(pid).unwrap().handshakes_failed >= 1);
    }
}

#[test]
fn plaintext_on_wan_for_protected_prefix() {
    for mode in [Enforcement::DropUnencrypted, Enforcement::AllowUnencrypted] {
        let mut w = World::new(2, 1, mode, 10);
        let (a1, b1) = (w.host(0, 0), w.host(1, 0));
        let p = pkt::udp(
            w.hosts[a1].ip,
            w.hosts[b1].ip,
            1,
            2,
            b"clear-attempt",
            false,
        );
        w.inject_wan(Wire::Clear { data: p });
        // A private source that belongs to no peer.
        let p = pkt::udp(
            Ipv4Addr::new(172, 16, 0, 1),
            w.hosts[b1].ip,
            1,
            2,
            b"clear-2",
            false,
        );
        w.inject_wan(Wire::Clear { data: p });
        w.run(5);
        let c = w.nodes[1]
            .gw
            .counters()
            .dropped(DropReason::PlaintextForProtected);
        if mode == Enforcement::DropUnencrypted {
            assert_eq!(c, 2);
            assert!(w.udp_received(b1).is_empty());
            let f = flows(&mut w, 1);
            assert!(f
                .iter()
                .all(|t| t.state == FlowState::Deny && t.encryption == Encryption::NotAccepted));
            assert_eq!(f.len(), 2);
        } else {
            assert_eq!(c, 0);
            assert_eq!(w.udp_received(b1).len(), 2);
        }
    }
}

#[test]
fn anti_spoof_drops_inner_sources_outside_the_peers_prefixes() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 11);
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let b1_ip = w.hosts[b1].ip;
    send_udp(&mut w, a1, b1_ip, "ok", 1);
    w.run(10);
    // A workload on A forges a source outside A's prefix; A seals it (lan sources are
    // not policed) and B must refuse it.
    for src in [
        Ipv4Addr::new(10, 2, 0, 77),
        Ipv4Addr::new(10, 7, 0, 1),
        Ipv4Addr::new(8, 8, 8, 8),
    ] {
        let p = pkt::udp(src, b1_ip, 1, 2, b"SECRET-spoof", false);
        w.send(a1, p);
    }
    w.run(10);
    assert_eq!(w.udp_received(b1).len(), 1);
    assert_eq!(w.nodes[1].gw.counters().dropped(DropReason::Spoofed), 3);
    assert_eq!(
        w.nodes[1].gw.peer_counters(w.peer_id(1, 0)).unwrap().drops,
        3
    );
}

#[test]
fn peer_restart_is_accepted_and_traffic_resumes() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 12);
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (a1_ip, b1_ip) = (w.hosts[a1].ip, w.hosts[b1].ip);
    send_udp(&mut w, a1, b1_ip, "before", 10);
    w.run(10);
    assert_eq!(w.udp_received(b1).len(), 10);
    w.restart(1, 777);
    w.run(5);
    // A keeps sending with the old keys; B (rebooted) has no session, starts a
    // handshake, and A accepts it, replacing the old session.
    send_udp(&mut w, a1, b1_ip, "after", 30);
    w.run(100);
    send_udp(&mut w, a1, b1_ip, "later", 10);
    send_udp(&mut w, b1, a1_ip, "back", 10);
    w.run(100);
    let got = w.udp_received(b1);
    assert!(
        got.iter()
            .filter(|p| p.starts_with(b"SECRET-later"))
            .count()
            == 10,
        "traffic resumed: {}",
        got.len()
    );
    assert_eq!(w.udp_received(a1).len(), 10);
    let pa = w.peer_id(0, 1);
    assert_eq!(
        w.nodes[0].gw.peer_counters(pa).unwrap().sessions_replaced,
        1
    );
    assert!(w.nodes[1].gw.counters().dropped(DropReason::NoSession) >= 1);
    assert!(!w.fabric_contains(b"SECRET"));
}

#[test]
fn simultaneous_initiation_ends_with_one_session() {
    for seed in [13, 14, 12, 22] {
        let mut w = World::new(2, 1, Enforcement::DropUnencrypted, seed);
        w.fabric.base_ms = 3;
        let (a1, b1) = (w.host(0, 0), w.host(1, 0));
        let (a1_ip, b1_ip) = (w.hosts[a1].ip, w.hosts[b1].ip);
        w.send(a1, pkt::udp(a1_ip, b1_ip, 1, 2, b"SECRET-a", false));
        w.send(b1, pkt::udp(b1_ip, a1_ip, 2, 1, b"SECRET-b", false));
        w.run(100);
        assert_eq!(w.udp_received(b1), vec![b"SECRET-a".to_vec()]);
        assert_eq!(w.udp_received(a1), vec![b"SECRET-b".to_vec()]);
        let (pa, pb) = (w.peer_id(0, 1), w.peer_id(1, 0));
        let ca = *w.nodes[0].gw.peer_counters(pa).unwrap();
        let cb = *w.nodes[1].gw.peer_counters(pb).unwrap();
        assert_eq!((ca.handshakes_completed, cb.handshakes_completed), (1, 1));
        assert_eq!((ca.sessions_replaced, cb.sessions_replaced), (0, 0));
        // More traffic keeps using that one session.
        send_udp(&mut w, a1, b1_ip, "more", 5);
        w.run(10);
        assert_eq!(w.udp_received(b1).len(), 6);
        assert_eq!(
            w.nodes[0].gw.peer_counters(pa).unwrap().handshakes_started,
            1
        );
    }
}

#[test]
fn flow_records_export_as_azure_json_lines() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 15);
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let b1_ip = w.hosts[b1].ip;
    for port in 0..30u16 {
        let p = pkt::udp(w.hosts[a1].ip, b1_ip, 7000 + port, 53, b"q", false);
        w.send(a1, p);
    }
    w.run(20);
    let meta = vnetcrypt_gateway::flowlog::RecordMeta {
        time: "2026-11-28T10:00:00.000Z",
        flow_log_guid: "00000000-0000-4000-8000-000000000001",
        mac_address: "020000000001",
        flow_log_resource_id: "vnetcrypt/gw0",
        target_resource_id: "vnetcrypt/gw0/lan",
        rule: "DropUnencrypted",
        acl_id: "vnetcrypt",
    };
    let mut datagrams: Vec<Vec<u8>> = Vec::new();
    let now = w.now;
    let n = w.nodes[0]
        .gw
        .export_flow_records(now, 1_790_000_000_000, &meta, 1200, |d| {
            datagrams.push(d.to_vec())
        });
    // 30 flows: a begin and a continue tuple each.
    assert_eq!(n, 60);
    assert!(datagrams.len() >= 2 && datagrams.iter().all(|d| d.len() <= 1200));
    let text: String = datagrams
        .iter()
        .map(|d| String::from_utf8(d.clone()).unwrap())
        .collect();
    assert_eq!(text.lines().count(), datagrams.len());
    assert_eq!(text.matches(",17,O,B,X,0,0,0,0").count(), 30);
    assert_eq!(text.matches(",17,O,C,X,1,29,0,0").count(), 30);
    assert!(text
        .lines()
        .all(|l| l.contains("\"flowLogVersion\":4") && l.contains("\"flowTuples\":[")));
    // Exported tuples are not exported again.
    assert_eq!(
        w.nodes[0]
            .gw
            .export_flow_records(now, 0, &meta, 1200, |_| {}),
        0
    );
}

#[test]
fn console_renders_counters_and_flows() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 16);
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let b1_ip = w.hosts[b1].ip;
    send_udp(&mut w, a1, b1_ip, "c", 3);
    send_udp(&mut w, a1, Ipv4Addr::new(10, 9, 0, 1), "np", 2);
    w.run(10);
    let mut text = String::new();
    vnetcrypt_gateway::render::counters(&mut text, &w.nodes[0].gw, w.now).unwrap();
    assert!(text.contains("drops: 2 total"), "{text}");
    assert!(text.contains("  no-peer-for-private: 2"), "{text}");
    assert!(
        text.contains("peer gw1 192.0.2.2:4433: Established; sealed 3 pkts"),
        "{text}"
    );
    let mut flows = String::new();
    vnetcrypt_gateway::render::flows(&mut flows, &w.nodes[0].gw, w.now, 0).unwrap();
    // 3 packets of 28 header bytes and a 14-byte marker.
    assert_eq!(flows.lines().count(), 3, "{flows}");
    assert!(
        flows
            .lines()
            .any(|l| l.ends_with(",6000,17,O,C,X,3,126,0,0")),
        "{flows}"
    );
    assert!(
        flows.lines().any(|l| l.contains(",O,D,NX_NOT_ACCEPTED,2,")),
        "{flows}"
    );
}

#[test]
fn random_wan_packets_never_panic() {
    let mut w = World::new(2, 1, Enforcement::AllowUnencrypted, 17);
    let mut rng = common::double::Rng::new(3);
    for len in 0..300usize {
        let mut d: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len >= 20 {
            d[0] = 0x45;
            d[16..20].copy_from_slice(&[10, 2, 0, 10]);
        }
        let mut buf = vec![0u8; 14 + d.len()];
        buf[14..].copy_from_slice(&d);
        let now = w.now;
        let n = d.len();
        let _ = w.nodes[1].gw.handle_wan_packet(now, &mut buf, 14, n);
        let _ = w.nodes[1].gw.handle_wan_packet(now, &mut buf, 0, n);
        let _ = w.nodes[1].gw.handle_wan_packet(now, &mut buf, 14, n + 5);
    }
    assert_eq!(w.nodes[1].gw.counters().wan.rx_packets, 900);
}

#[test]
fn slow_handshakes_time_out_and_recovery_happens_in_the_background() {
    let mut w = World::new(2, 1, Enforcement::AllowUnencrypted, 18);
    // The session layer itself would retry for ever; the engine gives up after 2 s,
    // retries after 1 s, 2 s, 4 s, ..., and falls back after 5 s of failure.
    w.reconfigure(0, |c, p| {
        c.handshake_timeout = std::time::Duration::from_secs(2);
        c.handshake_retry = std::time::Duration::from_secs(1);
        c.fallback_after = std::time::Duration::from_secs(5);
        p.max_retries = u32::MAX;
    });
    // B does not recognise A yet: A's hellos go unanswered.
    let pb = w.peer_id(1, 0);
    let mut good = w.nodes[1].gw.remove_peer(pb).unwrap();
    let mut wrong = good.clone();
    wrong.fingerprint = vnetcrypt_gateway::Fingerprint([0xdd; 32]);
    let new_pb = w.nodes[1].gw.add_peer(wrong).unwrap();
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    w.send(a1, pkt::udp(ia, ib, 1, 2, b"SECRET-waits", false));
    w.run(2100);
    let pa = w.peer_id(0, 1);
    assert!(
        w.fabric_clear().is_empty(),
        "no fallback at the first timeout"
    );
    let st = w.nodes[0].gw.peer_status(pa).unwrap();
    assert_eq!(st.state, PeerState::Connecting);
    assert_eq!(st.last_failure, Some(FailureReason::NoResponse));
    assert_eq!(
        w.nodes[0]
            .gw
            .counters()
            .dropped(DropReason::AwaitingFallback),
        1
    );
    w.run(3000);
    // B learns A's identity. Fallback is due: while A retries in the background,
    // traffic keeps flowing (in the clear, NX_FALLBACK) without waiting; then it is
    // encrypted again.
    w.nodes[1].gw.remove_peer(new_pb).unwrap();
    good.enforcement = Some(Enforcement::AllowUnencrypted);
    w.nodes[1].gw.add_peer(good).unwrap();
    let mut sent = 0;
    for i in 0..1200 {
        w.send(
            a1,
            pkt::udp(ia, ib, 1, 2, format!("SECRET-{i}").as_bytes(), false),
        );
        sent += 1;
        w.run(10);
    }
    let clear = w.fabric_clear().len();
    assert!(
        clear > 1 && clear < sent,
        "some fallback while retrying, then encrypted: {clear}"
    );
    assert_eq!(
        w.nodes[0].gw.session_state(w.now, pa),
        Some(SessionState::Established)
    );
    assert_eq!(
        w.udp_received(b1).len(),
        sent,
        "nothing was lost or held back after the fallback was due"
    );
    assert_eq!(w.nodes[0].gw.counters().dropped_total(), 1);
}

/// A packet opened from the tunnel for our own lan address (an ICMP error about a
/// flow record we exported, say) is the appliance's, not a workload's: it is dropped
/// and counted, and nothing asks lan for a MAC that nobody will give.
#[test]
fn a_packet_through_the_tunnel_for_our_own_lan_address_is_not_arped_for() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 1);
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let b1_ip = w.hosts[b1].ip;
    send_udp(&mut w, a1, b1_ip, "up", 1);
    w.run(50);
    assert_eq!(w.udp_received(b1).len(), 1, "tunnel up");
    let a_lan = w.nodes[0].lan_ip;
    let asked = w.nodes[0].gw.counters().arp_requests;
    send_udp_ports(&mut w, b1, a_lan, (6000, 5000), "own", 3);
    w.run(50);
    let c = w.nodes[0].gw.counters();
    assert_eq!(c.dropped(DropReason::ToAppliance), 3);
    assert_eq!(c.arp_requests, asked, "no ARP for our own address");
    assert_eq!(c.dropped(DropReason::ArpUnresolved), 0);
}
