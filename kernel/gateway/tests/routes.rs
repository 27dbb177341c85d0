//! Routes on lan: a prefix behind a lan router (a Kubernetes node's pod range) is
//! protected like the on-link prefix. Packets for it go to the router's MAC; packets
//! from it are taken only from the router; proxy ARP never answers for it.

mod common;

use std::net::Ipv4Addr;

use common::pkt;
use common::sim::World;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
};
use vnetcrypt_gateway::{
    Direction, DropReason, Encryption, Enforcement, Ipv4Prefix, LanRoute, PeerError, PeerState,
    RouteError,
};

fn p(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 20);
const ROUTER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 9, 0, 20]);
const POD: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 5);

fn pods() -> LanRoute {
    LanRoute {
        prefix: p("10.244.1.0/24"),
        via: ROUTER_IP,
    }
}

/// Two gateways; A (0) has a router on lan that owns the pod range 10.244.1.0/24;
/// B (1) lists the pod range among A's prefixes. With `route` false, A has no route.
fn world(seed: u64, route: bool) -> (World, usize, usize) {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, seed);
    let router = w.add_host(0, ROUTER_IP, ROUTER_MAC);
    w.change_peer(1, 0, |c| c.prefixes.push(pods().prefix));
    if route {
        w.nodes[0].gw.set_routes(&[pods()]).unwrap();
    }
    let b1 = w.host(1, 0);
    (w, router, b1)
}

/// The router sends a packet from a pod (it routes for the pod range).
fn from_pod(w: &mut World, router: usize, dst: Ipv4Addr, payload: &[u8]) {
    w.send(router, pkt::udp(POD, dst, 53, 7000, payload, false));
}

fn arp_frame(op: ArpOperation, mac: EthernetAddress, ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![0u8; 42];
    let mut e = EthernetFrame::new_unchecked(&mut b[..]);
    e.set_dst_addr(EthernetAddress::BROADCAST);
    e.set_src_addr(mac);
    e.set_ethertype(EthernetProtocol::Arp);
    ArpRepr::EthernetIpv4 {
        operation: op,
        source_hardware_addr: mac,
        source_protocol_addr: ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    }
    .emit(&mut ArpPacket::new_checked(e.payload_mut()).unwrap());
    b
}

#[test]
fn a_routed_pod_range_talks_both_ways_through_two_gateways() {
    let (mut w, router, b1) = world(91, true);
    let ib = w.hosts[b1].ip;
    for i in 0..20u8 {
        w.send(b1, pkt::udp(ib, POD, 7000, 53, &[b'Q', i], false));
        w.run(5);
    }
    w.run(50);
    // A resolved the router (not the pod address) and framed every packet to it.
    let got: Vec<_> = w.hosts[router]
        .received
        .iter()
        .map(|b| pkt::parse(b))
        .collect();
    assert_eq!(got.len(), 20);
    assert!(got.iter().all(|s| s.src == ib && s.dst == POD));
    for i in 0..20u8 {
        from_pod(&mut w, router, ib, &[b'R', i]);
        w.run(5);
    }
    w.run(50);
    let back = w.udp_received(b1);
    assert_eq!(back.len(), 20, "replies from the pod reach B's host");
    assert!(!w.fabric_contains(b"Q\x05") && w.fabric_clear().is_empty());
    let c = w.nodes[0].gw.counters();
    assert_eq!(c.dropped_total(), 0, "{:?}", c.drops().collect::<Vec<_>>());
    assert_eq!(w.nodes[0].gw.neighbour(w.now, ROUTER_IP), Some(ROUTER_MAC));
    assert_eq!(w.nodes[0].gw.neighbour(w.now, POD), None);
    // The flow log is the same as for on-link workloads: one encrypted flow.
    let mut flows = Vec::new();
    let now = w.now;
    w.nodes[0].gw.export_flows(now, 0, |t| flows.push(t));
    assert!(
        flows.iter().all(|t| (t.src, t.dst) == (ib, POD)),
        "{flows:?}"
    );
    let f = flows.last().unwrap();
    assert_eq!((f.src, f.dst), (ib, POD));
    assert_eq!(f.direction, Direction::Inbound);
    assert_eq!(f.encryption, Encryption::Encrypted);
    assert_eq!((f.packets_sent, f.packets_received), (20, 20));
}

#[test]
fn without_the_route_a_pod_destination_is_no_route() {
    let (mut w, router, b1) = world(92, false);
    let ib = w.hosts[b1].ip;
    w.send(b1, pkt::udp(ib, POD, 7000, 53, b"lost", false));
    w.run(50);
    assert!(w.hosts[router].received.is_empty());
    assert_eq!(w.nodes[0].gw.counters().dropped(DropReason::NoRoute), 1);
    let id = w.peer_id(0, 1);
    let handshakes = w.nodes[0].gw.peer_counters(id).unwrap().handshakes_started;
    // Once the route is there, the same packet passes (the tunnel stayed up).
    w.nodes[0].gw.set_routes(&[pods()]).unwrap();
    w.send(b1, pkt::udp(ib, POD, 7000, 53, b"found", false));
    w.run(50);
    assert_eq!(w.hosts[router].received.len(), 1);
    assert_eq!(w.nodes[0].gw.counters().dropped(DropReason::NoRoute), 1);
    // And with the route removed again, dropped again; the session survives.
    w.nodes[0].gw.set_routes(&[]).unwrap();
    w.send(b1, pkt::udp(ib, POD, 7000, 53, b"gone", false));
    w.run(50);
    assert_eq!(w.hosts[router].received.len(), 1);
    assert_eq!(w.nodes[0].gw.counters().dropped(DropReason::NoRoute), 2);
    assert_eq!(w.nodes[0].gw.peer_status(id).unwrap().state, PeerState::Up);
    assert_eq!(
        w.nodes[0].gw.peer_counters(id).unwrap().handshakes_started,
        handshakes
    );
}

#[test]
fn a_routed_source_is_taken_only_from_the_routes_next_hop() {
    let (mut w, router, b1) = world(93, true);
    let ib = w.hosts[b1].ip;
    let a1 = w.host(0, 0);
    // The router's MAC is not known yet: its first packet is refused and the router
    // is asked for (a real router ARPs for its next hop first, which teaches us).
    from_pod(&mut w, router, ib, b"first");
    w.run(50);
    assert_eq!(w.nodes[0].gw.counters().dropped(DropReason::LanSpoofed), 1);
    assert_eq!(w.nodes[0].gw.neighbour(w.now, ROUTER_IP), Some(ROUTER_MAC));
    from_pod(&mut w, router, ib, b"second");
    w.run(50);
    assert_eq!(w.udp_received(b1), vec![b"second".to_vec()]);
    // Another lan host claiming a pod address is refused, so is one that first
    // claims a pod address by ARP (routed addresses are never learned).
    let forged = pkt::udp(POD, ib, 53, 7000, b"forged", false);
    w.send(a1, forged.clone());
    let (mac, ip) = (w.hosts[a1].mac, w.hosts[a1].ip);
    w.inject_lan(0, arp_frame(ArpOperation::Reply, mac, POD, ip));
    w.send(a1, forged);
    w.run(50);
    assert_eq!(w.udp_received(b1), vec![b"second".to_vec()]);
    assert_eq!(w.nodes[0].gw.counters().dropped(DropReason::LanSpoofed), 3);
    assert_eq!(w.nodes[0].gw.neighbour(w.now, POD), None);
    // Packets for the pods still go to the router, not to the ARP liar.
    w.send(b1, pkt::udp(ib, POD, 7000, 53, b"to-pod", false));
    w.run(50);
    assert_eq!(w.hosts[router].received.len(), 1);
    assert!(w.hosts[a1].received.is_empty());
}

#[test]
fn proxy_arp_never_answers_for_routed_addresses() {
    let (mut w, _router, _) = world(94, true);
    let a1 = w.host(0, 0);
    let (mac, ip) = (w.hosts[a1].mac, w.hosts[a1].ip);
    let before = w.nodes[0].gw.counters().arp_replies;
    w.inject_lan(0, arp_frame(ArpOperation::Request, mac, ip, POD));
    w.run(2);
    assert_eq!(w.nodes[0].gw.counters().arp_replies, before);
    // A peer's address is still proxied.
    w.inject_lan(
        0,
        arp_frame(ArpOperation::Request, mac, ip, Ipv4Addr::new(10, 2, 0, 10)),
    );
    w.run(2);
    assert_eq!(w.nodes[0].gw.counters().arp_replies, before + 1);
}

#[test]
fn route_sets_are_checked_whole_and_peers_cannot_take_routed_prefixes() {
    let (mut w, _, _) = world(95, true);
    let b_id = w.peer_id(0, 1);
    let gw = &mut w.nodes[0].gw;
    let bad = [
        (
            LanRoute {
                prefix: p("10.245.0.0/24"),
                via: Ipv4Addr::new(10, 9, 0, 1),
            },
            "off-link next hop",
        ),
        (
            LanRoute {
                prefix: p("10.2.0.0/25"),
                via: ROUTER_IP,
            },
            "a peer's prefix",
        ),
        (
            LanRoute {
                prefix: p("10.1.0.0/16"),
                via: ROUTER_IP,
            },
            "overlaps the on-link prefix",
        ),
    ];
    for (r, why) in bad {
        assert!(gw.set_routes(&[pods(), r]).is_err(), "{why}");
        assert_eq!(gw.routes().collect::<Vec<_>>(), vec![pods()], "{why}");
    }
    assert_eq!(
        gw.set_routes(&[LanRoute {
            prefix: p("10.2.0.0/25"),
            via: ROUTER_IP
        }]),
        Err(RouteError::OverlapsPeer(p("10.2.0.0/25")))
    );
    let mut clash = gw.peer(b_id).unwrap().clone();
    clash.name = "other".into();
    clash.endpoint = Some("192.0.2.99:4433".parse().unwrap());
    clash.prefixes = vec![p("10.244.0.0/16")];
    assert_eq!(
        gw.add_peer(clash),
        Err(PeerError::OverlapsLan(p("10.244.0.0/16")))
    );
    assert!(gw.protects(POD));
    assert!(!gw.protects(Ipv4Addr::new(10, 245, 0, 1)));
}

#[test]
fn a_next_hop_on_a_second_on_link_prefix() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 96);
    w.reconfigure(0, |c, _| c.lan_prefixes.push(p("10.1.1.0/24")));
    let router_ip = Ipv4Addr::new(10, 1, 1, 20);
    let router = w.add_host(0, router_ip, ROUTER_MAC);
    let route = LanRoute {
        prefix: p("10.244.1.0/24"),
        via: router_ip,
    };
    w.nodes[0].gw.set_routes(&[route]).unwrap();
    w.change_peer(1, 0, |c| {
        c.prefixes.push(p("10.1.1.0/24"));
        c.prefixes.push(route.prefix);
    });
    let b1 = w.host(1, 0);
    let ib = w.hosts[b1].ip;
    w.send(b1, pkt::udp(ib, POD, 1, 2, b"pod", false));
    w.send(b1, pkt::udp(ib, router_ip, 1, 2, b"node", false));
    w.run(100);
    let got: Vec<_> = w.hosts[router]
        .received
        .iter()
        .map(|b| pkt::parse(b).dst)
        .collect();
    assert_eq!(got, vec![POD, router_ip]);
}

#[test]
fn a_router_that_only_sends_ip_is_asked_again_before_its_mac_expires() {
    let (mut w, router, b1) = world(97, false);
    w.reconfigure(0, |c, _| {
        c.neighbour_lifetime = std::time::Duration::from_secs(2)
    });
    w.nodes[0].gw.set_routes(&[pods()]).unwrap();
    let ib = w.hosts[b1].ip;
    // The router announces itself once (as it does when it ARPs for its next hop).
    let g = w.nodes[0].lan_ip;
    w.inject_lan(
        0,
        arp_frame(ArpOperation::Request, ROUTER_MAC, ROUTER_IP, g),
    );
    w.run(5);
    // Ten seconds of pod traffic, five neighbour lifetimes: nothing is refused.
    for i in 0..100u8 {
        from_pod(&mut w, router, ib, &[b'P', i]);
        w.run(100);
    }
    assert_eq!(w.udp_received(b1).len(), 100);
    let c = w.nodes[0].gw.counters();
    assert_eq!(c.dropped(DropReason::LanSpoofed), 0);
    assert!(c.arp_requests >= 4, "{}", c.arp_requests);
}

#[test]
fn a_lan_packet_for_the_protected_set_is_not_carried_even_under_allow() {
    let mut w = World::new(2, 1, Enforcement::AllowUnencrypted, 98);
    w.add_host(0, ROUTER_IP, ROUTER_MAC);
    w.nodes[0].gw.set_routes(&[pods()]).unwrap();
    let a1 = w.host(0, 0);
    let ia = w.hosts[a1].ip;
    w.send(a1, pkt::udp(ia, POD, 1, 2, b"to-pod", false));
    w.send(a1, pkt::udp(ia, ROUTER_IP, 1, 2, b"to-neighbour", false));
    w.run(20);
    assert!(w.fabric_clear().is_empty() && w.fabric.log.is_empty());
    let c = w.nodes[0].gw.counters();
    assert_eq!(c.dropped(DropReason::LanToLan), 2);
}
