//! MTU handling through two gateways: MSS clamping both ways, ICMP fragmentation-needed
//! for DF packets, fragmentation otherwise.

mod common;

use common::pkt;
use common::sim::World;
use smoltcp::wire::{Icmpv4Packet, Ipv4Packet, TcpControl};
use vnetcrypt_gateway::{DropReason, Enforcement};

/// 1500 (wan MTU) - 28 (outer IPv4+UDP) - 13 (record header) - 8 (explicit nonce) - 16 (tag).
const TUNNEL_MTU: usize = 1435;

fn established() -> (World, usize, usize) {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 21);
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let p = pkt::udp(w.hosts[a1].ip, w.hosts[b1].ip, 1, 2, b"hello", false);
    w.send(a1, p);
    w.run(20);
    assert_eq!(w.udp_received(b1).len(), 1);
    (w, a1, b1)
}

#[test]
fn tunnel_mtu_is_the_real_overhead() {
    let (w, _, _) = established();
    assert_eq!(w.nodes[0].gw.tunnel_mtu(), TUNNEL_MTU);
    assert_eq!(w.nodes[0].gw.clamped_mss(), (TUNNEL_MTU - 40) as u16);
}

#[test]
fn largest_packet_that_fits_passes_whole_and_the_datagram_fits_the_wan_mtu() {
    let (mut w, a1, b1) = established();
    let payload = vec![7u8; TUNNEL_MTU - 28];
    let p = pkt::udp(w.hosts[a1].ip, w.hosts[b1].ip, 1, 2, &payload, true);
    w.send(a1, p);
    w.run(10);
    assert_eq!(w.udp_received(b1).last().unwrap(), &payload);
    let biggest = w.fabric.log.iter().map(|x| match x {
        common::sim::Wire::Dtls { data, .. } => data.len(),
        common::sim::Wire::Clear { data } => data.len(),
    });
    assert_eq!(biggest.max().unwrap() + 28, 1500);
}

#[test]
fn df_too_big_gets_icmp_frag_needed_with_the_usable_mtu() {
    let (mut w, a1, b1) = established();
    let payload = vec![1u8; TUNNEL_MTU - 28 + 1];
    let p = pkt::udp(w.hosts[a1].ip, w.hosts[b1].ip, 1, 2, &payload, true);
    w.send(a1, p.clone());
    w.run(10);
    assert_eq!(w.udp_received(b1).len(), 1, "not delivered");
    let icmp = w.hosts[a1]
        .received
        .last()
        .expect("the sender got an answer")
        .clone();
    let ip = Ipv4Packet::new_checked(&icmp[..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.src_addr(), w.nodes[0].lan_ip);
    assert_eq!(ip.dst_addr(), w.hosts[a1].ip);
    let m = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(m.verify_checksum());
    assert_eq!((u8::from(m.msg_type()), m.msg_code()), (3, 4));
    let mtu = u16::from_be_bytes([ip.payload()[6], ip.payload()[7]]);
    assert_eq!(usize::from(mtu), TUNNEL_MTU);
    assert_eq!(
        &m.data()[..28],
        &p[..28],
        "quotes the offending header and 8 bytes"
    );
    assert_eq!(w.nodes[0].gw.counters().dropped(DropReason::TooBigDf), 1);
    assert_eq!(w.nodes[0].gw.counters().icmp_frag_needed, 1);
    // The sender retries at the advertised MTU and gets through.
    let payload = vec![2u8; usize::from(mtu) - 28];
    let p = pkt::udp(w.hosts[a1].ip, w.hosts[b1].ip, 1, 2, &payload, true);
    w.send(a1, p);
    w.run(10);
    assert_eq!(w.udp_received(b1).last().unwrap(), &payload);
}

#[test]
fn without_df_big_packets_are_fragmented_and_reassemble() {
    let (mut w, a1, b1) = established();
    for size in [1472usize, 1436 - 28, 1480] {
        w.hosts[b1].received.clear();
        let payload: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        let p = pkt::udp(w.hosts[a1].ip, w.hosts[b1].ip, 3, 4, &payload, false);
        w.send(a1, p.clone());
        w.run(10);
        let frags: Vec<_> = w.hosts[b1].received.iter().map(|f| pkt::parse(f)).collect();
        assert_eq!(frags.len(), 2, "size {size}");
        assert!(frags.iter().all(|f| f.len <= TUNNEL_MTU));
        let whole = pkt::reassemble(&frags).expect("fragments reassemble");
        assert_eq!(whole, p[20..], "size {size}");
    }
    assert!(w.nodes[0].gw.counters().fragments_out >= 6);
    let sample: Vec<u8> = (100..116).map(|i: usize| (i * 7) as u8).collect();
    assert!(!w.fabric_contains(&sample), "fragments crossed sealed");
}

#[test]
fn big_packets_waiting_for_the_handshake_are_fragmented_too() {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 22);
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let payload = vec![9u8; 1480];
    let p = pkt::udp(w.hosts[a1].ip, w.hosts[b1].ip, 3, 4, &payload, false);
    w.send(a1, p.clone());
    w.run(20);
    let frags: Vec<_> = w.hosts[b1].received.iter().map(|f| pkt::parse(f)).collect();
    assert_eq!(pkt::reassemble(&frags).unwrap(), p[20..]);
}

#[test]
fn mss_is_clamped_both_ways() {
    let (mut w, a1, b1) = established();
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    w.send(
        a1,
        pkt::tcp(ia, ib, 40000, 80, TcpControl::Syn, Some(1460), &[]),
    );
    w.run(10);
    let syn = w.hosts[b1].received.last().unwrap().clone();
    assert_eq!(pkt::tcp_mss(&syn), Some(1395));
    w.send(
        b1,
        pkt::tcp(ib, ia, 80, 40000, TcpControl::Syn, Some(8960), &[]),
    );
    w.run(10);
    let back = w.hosts[a1].received.last().unwrap().clone();
    assert_eq!(pkt::tcp_mss(&back), Some(1395));
    // Small MSS values are left alone.
    w.send(
        a1,
        pkt::tcp(ia, ib, 40001, 80, TcpControl::Syn, Some(536), &[]),
    );
    w.run(10);
    assert_eq!(
        pkt::tcp_mss(w.hosts[b1].received.last().unwrap()),
        Some(536)
    );
    assert_eq!(
        w.nodes[0].gw.counters().mss_clamped + w.nodes[1].gw.counters().mss_clamped,
        2
    );
}

#[test]
fn the_receiving_gateway_clamps_when_the_sender_did_not() {
    // A believes in a jumbo wan and so clamps to a bigger MSS than B can carry back.
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, 23);
    let (a1, b1) = (w.host(0, 0), w.host(1, 0));
    let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
    // Rebuild A with the jumbo MTU.
    rebuild_with_mtu(&mut w, 0, 9000);
    w.send(
        a1,
        pkt::tcp(ia, ib, 40000, 80, TcpControl::Syn, Some(1460), &[]),
    );
    w.run(20);
    assert_eq!(w.nodes[0].gw.counters().mss_clamped, 0, "A's limit is 8895");
    assert_eq!(
        w.nodes[1].gw.counters().mss_clamped,
        1,
        "B clamps on the way in"
    );
    assert_eq!(
        pkt::tcp_mss(w.hosts[b1].received.last().unwrap()),
        Some(1395)
    );
}

fn rebuild_with_mtu(w: &mut World, i: usize, mtu: usize) {
    w.set_wan_mtu(i, mtu);
}

#[test]
fn clear_traffic_follows_the_same_mtu_rules_at_the_wan_mtu() {
    // A wan MTU below the lan's: plaintext (NX) traffic must not be black-holed either.
    let mut w = World::new(2, 1, Enforcement::AllowUnencrypted, 24);
    w.set_wan_mtu(0, 1200);
    let a1 = w.host(0, 0);
    let ia = w.hosts[a1].ip;
    let internet = std::net::Ipv4Addr::new(198, 51, 100, 9);
    let payload: Vec<u8> = (0..1400).map(|i| i as u8).collect();
    let p = pkt::udp(ia, internet, 5, 6, &payload, false);
    w.send(a1, p.clone());
    w.send(a1, pkt::udp(ia, internet, 5, 6, &payload, true));
    w.run(10);
    let frags: Vec<_> = w.internet.iter().map(|f| pkt::parse(f)).collect();
    assert_eq!(frags.len(), 2);
    assert!(frags.iter().all(|f| f.len <= 1200));
    assert_eq!(pkt::reassemble(&frags).unwrap(), p[20..]);
    let icmp = w.hosts[a1]
        .received
        .last()
        .expect("frag-needed for the DF one")
        .clone();
    let ip = Ipv4Packet::new_checked(&icmp[..]).unwrap();
    assert_eq!((ip.payload()[0], ip.payload()[1]), (3, 4));
    assert_eq!(u16::from_be_bytes([ip.payload()[6], ip.payload()[7]]), 1200);
    assert_eq!(w.nodes[0].gw.counters().dropped(DropReason::TooBigDf), 1);
    assert_eq!(w.nodes[0].gw.counters().dropped_total(), 1);
}
