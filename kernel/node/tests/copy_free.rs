//! The copy-free frame path in the node: once the wan next hop is learned (from the
//! ARP answer to the stack's own request), every record leaves as a whole frame built
//! in the buffer the lan NIC received the packet in (none goes through the wan UDP
//! socket), every record from the peer is opened in the buffer the wan NIC received
//! it in (none is copied out of the socket), and the engine copies no byte of an
//! established flow either way.

mod sim;

use sim::fabric::Faults;
use sim::{host_ip, Sim};

const CLEAN: Faults = Faults {
    loss: 0,
    duplicate: 0,
    reorder: 0,
};

/// (records sent through the UDP socket instead, engine bytes copied, records received
/// through the UDP socket instead of as frames) of node `i`.
fn frame_path(sim: &mut Sim, i: usize) -> (u64, u64, u64) {
    let out = sim.cmd(i, "counters");
    let line = out
        .lines()
        .find(|l| l.starts_with("frame path:"))
        .unwrap_or_else(|| panic!("no frame path line in:\n{out}"));
    let n: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1], n[2])
}

/// Two nodes pinning each other with DropUnencrypted, their tunnel up. Host A says
/// hello first; with `both_start` host B does too (so both stacks ask ARP for their
/// peer), else B only answers.
fn tunnel_up(seed: u64, both_start: bool) -> Sim {
    let mut sim = Sim::new(seed, CLEAN);
    let a = sim.add_node(1);
    let b = sim.add_node(2);
    sim.peer(a, b);
    sim.peer(b, a);
    sim.set(a, "enforcement drop");
    sim.set(b, "enforcement drop");
    sim.hosts[0].send_udp(host_ip(2), b"hello");
    if both_start {
        sim.hosts[1].send_udp(host_ip(1), b"hello");
    }
    let up = sim.run_until(30_000, |s| s.tunnels_up(0, 1) && s.tunnels_up(1, 1));
    assert!(
        up,
        "tunnel up:\n{}\n{}",
        sim.cmd(0, "peers"),
        sim.cmd(1, "peers")
    );
    sim.run_for(500);
    sim
}

#[test]
fn established_traffic_leaves_as_whole_frames_without_copies() {
    let mut sim = tunnel_up(31, true);
    let before = [frame_path(&mut sim, 0), frame_path(&mut sim, 1)];
    let (to_b, to_a) = (sim.hosts[1].ip, sim.hosts[0].ip);
    let (got_b, got_a) = (sim.hosts[1].received.len(), sim.hosts[0].received.len());
    for i in 0..100u32 {
        let data = vec![(i % 251) as u8; 1000];
        assert!(sim.hosts[0].send_udp(to_b, &data));
        assert!(sim.hosts[1].send_udp(to_a, &data));
        sim.step();
    }
    sim.run_for(200);
    assert_eq!(sim.hosts[1].received.len() - got_b, 100, "a -> b delivered");
    assert_eq!(sim.hosts[0].received.len() - got_a, 100, "b -> a delivered");
    let after = [frame_path(&mut sim, 0), frame_path(&mut sim, 1)];
    assert_eq!(
        after, before,
        "(records not framed, bytes copied, records through the socket) unchanged"
    );
}

/// The gateway that only answered (its stack never asked ARP for its peer: it learned
/// the peer from the peer's request) frames its records too: the request to its own
/// address teaches the frame path the asker's MAC, while the stack still answers it.
#[test]
fn the_answering_gateway_frames_its_records_too() {
    // Only A's side starts: B's stack learns A from A's ARP request and never asks.
    let mut sim = tunnel_up(37, false);
    let before = frame_path(&mut sim, 1);
    let to_a = sim.hosts[0].ip;
    let got_a = sim.hosts[0].received.len();
    for i in 0..50u32 {
        assert!(sim.hosts[1].send_udp(to_a, &[(i % 251) as u8; 500]));
        sim.step();
    }
    sim.run_for(200);
    assert_eq!(sim.hosts[0].received.len() - got_a, 50, "b -> a delivered");
    let after = frame_path(&mut sim, 1);
    assert_eq!(
        after.0, before.0,
        "B's records all left as whole frames (none through the wan UDP socket)"
    );
}

/// A lan NIC whose device completes no transmission for a while (a stalled host)
/// fills its ring: the data plane then leaves frames in the receive queues instead of
/// dropping them as `lan full`, and delivers every one once the device catches up.
#[test]
fn a_full_transmit_ring_holds_frames_back_instead_of_dropping_them() {
    let mut sim = tunnel_up(41, true);
    let to_b = sim.hosts[1].ip;
    let got_b = sim.hosts[1].received.len();
    sim.stall_lan_tx(1, true);
    // More than B's lan ring (64) and its transit queue (64) hold.
    for i in 0..100u32 {
        assert!(sim.hosts[0].send_udp(to_b, &[(i % 251) as u8; 200]));
        sim.step();
    }
    sim.run_for(50);
    sim.stall_lan_tx(1, false);
    sim.run_for(500);
    assert_eq!(
        sim.hosts[1].received.len() - got_b,
        100,
        "a -> b, all delivered"
    );
    let counters = sim.cmd(1, "counters");
    assert!(counters.contains("lan full 0"), "{counters}");
}
