//! One node on its lan: ARP for its address is answered exactly once (the stack owns
//! it, also while the data plane runs), and it answers pings.

mod sim;

use sim::fabric::Faults;
use sim::{lan_ip, Sim};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr,
};
use std::net::Ipv4Addr;

const ASKER_MAC: [u8; 6] = [2, 0, 0, 9, 9, 9];
const ASKER_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 99);

fn arp_request(target: Ipv4Addr) -> Vec<u8> {
    let mut frame = vec![0; 14 + 28];
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: EthernetAddress(ASKER_MAC),
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut eth);
    ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(ASKER_MAC),
        source_protocol_addr: ASKER_IP,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    }
    .emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
    frame
}

/// ARP replies to the asker on `segment` so far, with the address they give.
fn replies_to_asker(sim: &Sim, segment: usize) -> Vec<(Ipv4Addr, [u8; 6])> {
    let f = sim.fabric.borrow();
    f.capture(segment)
        .iter()
        .filter_map(|frame| {
            let eth = EthernetFrame::new_checked(&frame[..]).ok()?;
            if eth.ethertype() != EthernetProtocol::Arp {
                return None;
            }
            let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()?;
            match arp {
                ArpRepr::EthernetIpv4 {
                    operation: ArpOperation::Reply,
                    source_hardware_addr,
                    source_protocol_addr,
                    target_hardware_addr,
                    ..
                } if target_hardware_addr.0 == ASKER_MAC => {
                    Some((source_protocol_addr, source_hardware_addr.0))
                }
                _ => None,
            }
        })
        .collect()
}

fn one_request_one_reply(sim: &mut Sim) {
    let lan = sim.nodes[0].lan;
    let asker = sim.fabric.borrow_mut().attach(lan);
    let before = replies_to_asker(sim, lan).len();
    sim.fabric
        .borrow_mut()
        .transmit(asker, &arp_request(lan_ip(1)));
    sim.run_for(50);
    let replies = replies_to_asker(sim, lan);
    assert_eq!(
        replies[before..],
        [(lan_ip(1), sim::lan_mac(1))],
        "one request for the lan address, one reply"
    );
}

#[test]
fn arp_for_the_lan_address_is_answered_once_with_the_data_plane_running() {
    let mut sim = Sim::new(1, Faults::default());
    sim.add_node(1);
    sim.run_for(10);
    let peers = sim.cmd(0, "peers");
    assert!(!peers.contains("inactive"), "data plane runs: {peers}");
    one_request_one_reply(&mut sim);
}

#[test]
fn arp_for_the_lan_address_is_answered_once_without_the_data_plane() {
    let mut sim = Sim::new(2, Faults::default());
    sim.add_node(1);
    // Without a wan address the data plane cannot start; the stack still answers.
    sim.set(0, "interface wan address none");
    sim.run_for(10);
    let peers = sim.cmd(0, "peers");
    assert!(peers.contains("inactive"), "data plane stopped: {peers}");
    one_request_one_reply(&mut sim);
}

#[test]
fn the_lan_host_pings_the_node() {
    let mut sim = Sim::new(3, Faults::default());
    sim.add_node(1);
    for seq in 0..5 {
        sim.hosts[0].ping(lan_ip(1), seq);
        sim.run_for(20);
    }
    assert_eq!(sim.hosts[0].echo_replies, [0, 1, 2, 3, 4]);
    let view = sim.cmd(0, "interfaces");
    assert!(view.contains("lan: mac 02:00:00:00:01:02"), "{view}");
}

#[test]
fn an_idle_node_has_no_deadline_now() {
    let mut sim = Sim::new(4, Faults::default());
    sim.add_node(1);
    // Nothing to start the data plane on: it must not ask to be polled at once.
    sim.set(0, "interface wan address none");
    sim.run_for(2_000);
    let now = sim.now_us();
    let at = sim.node(0).poll_at();
    assert!(at.is_none_or(|t| t > now), "deadline {at:?} at {now}");
    // With the data plane running and no peer, the same.
    sim.set(0, &format!("interface wan address {}/24", sim::wan_ip(1)));
    sim.run_for(2_000);
    let now = sim.now_us();
    let at = sim.node(0).poll_at();
    assert!(at.is_none_or(|t| t > now), "deadline {at:?} at {now}");
}
