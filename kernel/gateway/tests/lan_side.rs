//! The lan side: ARP for our address, proxy ARP for peer prefixes, resolving workloads,
//! and malformed frames counted, never fatal.

mod common;

use std::net::Ipv4Addr;

use common::pkt;
use common::sim::World;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
};
use vnetcrypt_gateway::{DropReason, Enforcement};

fn arp_request(from_mac: EthernetAddress, from_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![0u8; 42];
    let mut e = EthernetFrame::new_unchecked(&mut b[..]);
    e.set_dst_addr(EthernetAddress::BROADCAST);
    e.set_src_addr(from_mac);
    e.set_ethertype(EthernetProtocol::Arp);
    ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: from_mac,
        source_protocol_addr: from_ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    }
    .emit(&mut ArpPacket::new_unchecked(e.payload_mut()));
    b
}

fn replies(w: &World) -> Vec<ArpRepr> {
    w.lan_unclaimed
        .iter()
        .filter_map(|f| {
            let e = EthernetFrame::new_checked(&f[..]).ok()?;
            (e.ethertype() == EthernetProtocol::Arp)
                .then(|| ArpRepr::parse(&ArpPacket::new_checked(e.payload()).unwrap()).unwrap())
        })
        .collect()
}

#[test]
fn answers_arp_for_itself_and_proxies_for_peer_prefixes_only() {
    let mut w = World::new(2, 2, Enforcement::DropUnencrypted, 31);
    let a1 = w.host(0, 0);
    let (mac, ip) = (w.hosts[a1].mac, w.hosts[a1].ip);
    let gw_mac = w.nodes[0].lan_mac;
    for (target, answered) in [
        (Ipv4Addr::new(10, 1, 0, 1), true),   // the appliance
        (Ipv4Addr::new(10, 2, 0, 10), true),  // behind peer B: proxy ARP
        (Ipv4Addr::new(10, 1, 0, 11), false), // a neighbour on our own lan
        (Ipv4Addr::new(10, 9, 0, 1), false),  // nobody's
    ] {
        w.lan_unclaimed.clear();
        w.inject_lan(0, arp_request(mac, ip, target));
        w.run(1);
        let r = replies(&w);
        if answered {
            assert_eq!(r.len(), 1, "{target}");
            let ArpRepr::EthernetIpv4 {
                operation,
                source_hardware_addr,
                source_protocol_addr,
                target_hardware_addr,
                ..
            } = r[0]
            else {
                panic!()
            };
            assert_eq!(operation, ArpOperation::Reply);
            assert_eq!(
                (
                    source_hardware_addr,
                    source_protocol_addr,
                    target_hardware_addr
                ),
                (gw_mac, target, mac)
            );
        } else {
            assert!(r.is_empty(), "{target}");
        }
    }
    // Proxy ARP can be turned off.
    let mut cfg = w.nodes[0].gw.config().clone();
    cfg.proxy_arp = false;
    let mut g = vnetcrypt_gateway::Gateway::new(
        cfg,
        common::double::TestLayer::new(vnetcrypt_gateway::Fingerprint([0; 32]), [0; 32], 1),
    );
    g.add_peer(w.nodes[0].gw.peer(w.peer_id(0, 1)).unwrap().clone())
        .unwrap();
    let mut buf = vec![0u8; 128];
    let req = arp_request(mac, ip, Ipv4Addr::new(10, 2, 0, 10));
    buf[64..106].copy_from_slice(&req);
    assert!(matches!(
        g.handle_lan_frame(vnetcrypt_gateway::Instant::ZERO, &mut buf, 64, 42),
        vnetcrypt_gateway::Verdict::Consumed
    ));
    assert_eq!(g.counters().arp_replies, 0);
}

#[test]
fn resolves_workloads_and_gives_up_on_silent_ones() {
    let mut w = World::new(2, 2, Enforcement::DropUnencrypted, 32);
    let (a1, b1, b2) = (w.host(0, 0), w.host(1, 0), w.host(1, 1));
    w.hosts[b2].answers_arp = false;
    let (ia, ib1, ib2) = (w.hosts[a1].ip, w.hosts[b1].ip, w.hosts[b2].ip);
    for i in 0..3u8 {
        w.send(a1, pkt::udp(ia, ib1, 1, 2, &[i], false));
        w.send(a1, pkt::udp(ia, ib2, 1, 2, &[i], false));
    }
    w.run(3000);
    assert_eq!(
        w.udp_received(b1).len(),
        3,
        "resolved by ARP, queued packets flushed"
    );
    assert!(w.hosts[b2].received.is_empty());
    let c = w.nodes[1].gw.counters();
    assert_eq!(c.dropped(DropReason::ArpUnresolved), 3);
    assert!(c.arp_requests >= 2);
}

#[test]
fn malformed_and_foreign_frames_are_counted() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 33);
    let a1 = w.host(0, 0);
    let (mac, ip) = (w.hosts[a1].mac, w.hosts[a1].ip);
    let gw_mac = w.nodes[0].lan_mac;
    let good = {
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(gw_mac.as_bytes());
        f[6..12].copy_from_slice(mac.as_bytes());
        f[12..14].copy_from_slice(&[8, 0]);
        f.extend_from_slice(&pkt::udp(
            ip,
            Ipv4Addr::new(10, 2, 0, 10),
            1,
            2,
            b"x",
            false,
        ));
        f
    };
    // Too short for Ethernet.
    w.inject_lan(0, good[..10].to_vec());
    // Another MAC.
    let mut other = good.clone();
    other[0] = 0x04;
    w.inject_lan(0, other);
    // IPv6.
    let mut v6 = good.clone();
    v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    w.inject_lan(0, v6);
    // Broken IPv4 checksum, truncated IPv4, garbage ARP.
    let mut bad = good.clone();
    bad[14 + 10] ^= 0xff;
    w.inject_lan(0, bad);
    w.inject_lan(0, good[..30].to_vec());
    let mut arp = arp_request(mac, ip, ip);
    arp.truncate(20);
    w.inject_lan(0, arp);
    // Addressed to the appliance itself.
    w.send(a1, pkt::udp(ip, w.nodes[0].lan_ip, 1, 2, b"hi", false));
    w.run(5);
    let c = w.nodes[0].gw.counters();
    assert_eq!(c.dropped(DropReason::MalformedFrame), 2);
    assert_eq!(c.dropped(DropReason::NotOurMac), 1);
    assert_eq!(c.dropped(DropReason::UnsupportedEtherType), 1);
    assert_eq!(c.dropped(DropReason::MalformedPacket), 2);
    assert_eq!(c.dropped(DropReason::ToAppliance), 1);
    assert_eq!(c.dropped_total(), 7);
    // Random bytes of every length never panic.
    let mut rng = common::double::Rng::new(5);
    for len in 0..200usize {
        let mut f: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len >= 14 {
            f[0..6].copy_from_slice(gw_mac.as_bytes());
            f[12] = 8;
            f[13] = if len % 2 == 0 { 0 } else { 6 };
        }
        w.inject_lan(0, f);
    }
    w.run(2);
    assert_eq!(w.nodes[0].gw.counters().lan.rx_packets, 7 + 200);
}

#[test]
fn session_queue_is_bounded_and_overflow_counted() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 34);
    w.fabric.base_ms = 50; // a slow handshake
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    let cap = w.nodes[0].gw.config().session_queue;
    for i in 0..cap + 10 {
        w.send(
            a1,
            pkt::udp(ia, ib, 1, 2, format!("q{i}").as_bytes(), false),
        );
    }
    w.run(400);
    assert_eq!(w.udp_received(b1).len(), cap);
    assert_eq!(
        w.nodes[0]
            .gw
            .counters()
            .dropped(DropReason::SessionQueueFull),
        10
    );
}

#[test]
fn peer_configuration_is_checked() {
    use vnetcrypt_gateway::{Ipv4Prefix, PeerConfig, PeerError};
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 35);
    let gw = &mut w.nodes[0].gw;
    let base = PeerConfig {
        name: "gw9".into(),
        endpoint: Some("192.0.2.9:4433".parse().unwrap()),
        fingerprint: vnetcrypt_gateway::Fingerprint([1; 32]),
        second_pin: None,
        prefixes: vec!["10.9.0.0/24".parse().unwrap()],
        enforcement: None,
        transit: false,
    };
    let p = |s: &str| -> Ipv4Prefix { s.parse().unwrap() };
    let mut c = base.clone();
    c.name = "gw1".into();
    assert_eq!(gw.add_peer(c), Err(PeerError::DuplicateName));
    let mut c = base.clone();
    c.endpoint = Some("192.0.2.2:4433".parse().unwrap());
    assert_eq!(gw.add_peer(c), Err(PeerError::DuplicateEndpoint));
    let mut c = base.clone();
    c.prefixes = vec![p("10.2.0.0/24")];
    assert_eq!(
        gw.add_peer(c),
        Err(PeerError::PrefixTaken(p("10.2.0.0/24")))
    );
    for overlap in ["10.1.0.128/25", "10.0.0.0/8"] {
        let mut c = base.clone();
        c.prefixes = vec![p(overlap)];
        assert_eq!(gw.add_peer(c), Err(PeerError::OverlapsLan(p(overlap))));
    }
    let id = gw.add_peer(base.clone()).unwrap();
    assert_eq!(gw.peers().count(), 2);
    assert_eq!(gw.remove_peer(id).unwrap(), base);
    assert_eq!(gw.remove_peer(id), Err(PeerError::Unknown));
}

#[test]
fn many_peers_route_by_longest_prefix() {
    use std::net::SocketAddrV4;
    use vnetcrypt_gateway::{PeerConfig, SessionState, MAX_PEERS};
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 36);
    // Peers up to the limit (never reachable), the last owning the upper half of B's /24.
    let far = |i: u32, prefix| PeerConfig {
        name: format!("far{i}"),
        endpoint: Some(SocketAddrV4::new(
            Ipv4Addr::new(192, 0, 3, (i % 250) as u8),
            5000 + i as u16,
        )),
        fingerprint: vnetcrypt_gateway::Fingerprint([i as u8; 32]),
        second_pin: None,
        prefixes: vec![prefix],
        enforcement: None,
        transit: false,
    };
    let last = MAX_PEERS as u32 - 2;
    for i in 0..=last {
        let prefix = if i == last {
            "10.2.0.128/25".parse().unwrap()
        } else {
            vnetcrypt_gateway::Ipv4Prefix::new(Ipv4Addr::from(0x0a64_0000 + (i << 8)), 24).unwrap()
        };
        w.nodes[0].gw.add_peer(far(i, prefix)).unwrap();
    }
    // One past the limit is refused.
    let over = "10.99.0.0/24".parse().unwrap();
    assert_eq!(
        w.nodes[0].gw.add_peer(far(last + 1, over)).err(),
        Some(vnetcrypt_gateway::PeerError::TooMany)
    );
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    w.send(a1, common::pkt::udp(ia, ib, 1, 2, b"to-b", false));
    w.send(
        a1,
        common::pkt::udp(
            ia,
            Ipv4Addr::new(10, 2, 0, 200),
            1,
            2,
            b"to-far-last",
            false,
        ),
    );
    w.run(50);
    assert_eq!(w.udp_received(b1), vec![b"to-b".to_vec()]);
    let b = w.peer_id(0, 1);
    assert_eq!(
        w.nodes[0].gw.session_state(w.now, b),
        Some(SessionState::Established)
    );
    let far = w.nodes[0]
        .gw
        .peers()
        .find(|(_, p)| p.name == format!("far{last}"))
        .unwrap()
        .0;
    assert_eq!(
        w.nodes[0].gw.session_state(w.now, far),
        Some(SessionState::Handshaking)
    );
    assert_eq!(
        w.nodes[0].gw.peer_counters(far).unwrap().handshakes_started,
        1
    );
}
