//! Two appliances back to back with the real DTLS engine, over a wan that loses,
//! duplicates and reorders frames: the tunnel comes up, a transfer between their lan
//! hosts arrives intact and never crosses the wan in the clear, enforcement decides
//! what happens to traffic without a peer, and a node rebooted from its saved
//! configuration disk rejoins with the same identity.

mod sim;

use sim::fabric::Faults;
use sim::host::Host;
use sim::{host_ip, Sim};
use std::net::Ipv4Addr;

const LOSSY: Faults = Faults {
    loss: 30,
    duplicate: 20,
    reorder: 50,
};

/// A datagram of the transfer: a marker no wan frame may carry in the clear, and its
/// sequence number.
fn payload(seq: u32) -> Vec<u8> {
    let mut p = b"VNETCRYPT-CLEAR-MARKER".to_vec();
    p.extend_from_slice(&seq.to_be_bytes());
    p.resize(1000, (seq % 251) as u8);
    p
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Frames on the wan carrying the marker in the clear.
fn clear_on_wan(sim: &Sim) -> usize {
    let f = sim.fabric.borrow();
    f.capture(sim.wan)
        .iter()
        .filter(|frame| contains(frame, b"VNETCRYPT-CLEAR-MARKER"))
        .count()
}

/// Two nodes that pin each other, enforcement drop.
fn pair(seed: u64, faults: Faults) -> Sim {
    let mut sim = Sim::new(seed, faults);
    let a = sim.add_node(1);
    let b = sim.add_node(2);
    sim.peer(a, b);
    sim.peer(b, a);
    sim.set(a, "enforcement drop");
    sim.set(b, "enforcement drop");
    sim
}

/// Starts the tunnel with a first packet (which waits for the handshake or is
/// dropped) and runs until both ends have it established.
fn bring_up(sim: &mut Sim) {
    sim.hosts[0].send_udp(host_ip(2), b"hello");
    let up = sim.run_until(30_000, |s| s.tunnels_up(0, 1) && s.tunnels_up(1, 1));
    assert!(up, "tunnel up within 30 s:\n{}", sim.cmd(0, "peers"));
}

/// Sends `count` datagrams from host `from` to `to`, one per step; the sequence
/// numbers `to` received (each checked intact).
fn transfer(sim: &mut Sim, from: usize, to: usize, first: u32, count: u32) -> Vec<u32> {
    let dst = sim.hosts[to].ip;
    let start = sim.hosts[to].received.len();
    for seq in first..first + count {
        assert!(
            sim.hosts[from].send_udp(dst, &payload(seq)),
            "host socket full"
        );
        sim.step();
    }
    sim.run_for(200);
    sim.hosts[to].received[start..]
        .iter()
        // Earlier probes ("hello") may arrive late: only the transfer's datagrams.
        .filter(|(_, data)| data.len() == 1000)
        .map(|(src, data)| {
            assert_eq!(*src.ip(), sim.hosts[from].ip, "source kept");
            let seq = u32::from_be_bytes(data[22..26].try_into().expect("4 bytes"));
            assert_eq!(*data, payload(seq), "datagram {seq} intact");
            seq
        })
        .collect()
}

#[test]
fn a_transfer_crosses_a_lossy_wan_sealed() {
    let mut sim = pair(11, LOSSY);
    bring_up(&mut sim);
    let got = transfer(&mut sim, 0, 1, 0, 300);
    let mut unique = got.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "no datagram delivered twice");
    // 3 % loss on the wan (no retransmission of UDP): most arrive.
    assert!(got.len() >= 270, "{} of 300 arrived", got.len());
    // And back.
    let back = transfer(&mut sim, 1, 0, 1000, 100);
    assert!(back.len() >= 90, "{} of 100 arrived back", back.len());
    assert_eq!(
        clear_on_wan(&sim),
        0,
        "nothing of the transfer in the clear"
    );
    assert!(sim.fabric.borrow().lost > 0, "the wan did lose frames");
    let sessions = sim.cmd(0, "sessions");
    assert!(sessions.contains("gw2"), "{sessions}");
}

#[test]
fn hosts_ping_each_other_through_the_tunnel() {
    let mut sim = pair(12, Faults::default());
    for seq in 0..5 {
        sim.hosts[0].ping(host_ip(2), seq);
        sim.run_for(300);
    }
    // The first echo may be lost while the handshake runs.
    let replies = &sim.hosts[0].echo_replies;
    assert!(
        replies.len() >= 4 && replies.ends_with(&[1, 2, 3, 4]),
        "{replies:?}"
    );
    assert_eq!(clear_on_wan(&sim), 0);
}

/// A host at 10.9.0.10 is private, covered by no peer: a wan router would carry it.
fn with_wan_router(sim: &mut Sim) {
    let wan = sim.wan;
    let now = sim.now_us();
    let router = Host::new(
        &sim.fabric,
        wan,
        [2, 0, 0, 0, 0xfe, 1],
        Ipv4Addr::new(192, 0, 2, 254),
        24,
        None,
        now,
    );
    sim.hosts.push(router);
    sim.set(0, "interface wan gateway 192.0.2.254");
}

#[test]
fn drop_unencrypted_keeps_traffic_without_a_peer_off_the_wan() {
    let mut sim = pair(13, Faults::default());
    with_wan_router(&mut sim);
    for seq in 0..20 {
        sim.hosts[0].send_udp(Ipv4Addr::new(10, 9, 0, 10), &payload(seq));
        sim.step();
    }
    sim.run_for(500);
    assert_eq!(clear_on_wan(&sim), 0, "dropped, never sent in the clear");
    let counters = sim.cmd(0, "counters");
    assert!(counters.contains("drop"), "{counters}");
}

#[test]
fn allow_unencrypted_forwards_traffic_without_a_peer_in_the_clear() {
    let mut sim = pair(14, Faults::default());
    with_wan_router(&mut sim);
    sim.set(0, "enforcement allow");
    for seq in 0..20 {
        sim.hosts[0].send_udp(Ipv4Addr::new(10, 9, 0, 10), &payload(seq));
        sim.step();
    }
    sim.run_for(500);
    let clear = clear_on_wan(&sim);
    assert!(clear >= 19, "forwarded in the clear: {clear} of 20");
    // Traffic to the peer's prefix is still sealed.
    bring_up(&mut sim);
    let got = transfer(&mut sim, 0, 1, 100, 20);
    assert!(got.len() >= 18, "{got:?}");
    assert_eq!(clear_on_wan(&sim), clear, "the peer's traffic sealed");
}

#[test]
fn a_node_rebooted_from_its_saved_disk_rejoins() {
    let mut sim = pair(15, LOSSY);
    sim.set(0, "config save");
    sim.set(1, "config save");
    let fp_b = sim.fingerprint(1);
    bring_up(&mut sim);
    let got = transfer(&mut sim, 0, 1, 0, 50);
    assert!(got.len() >= 40, "before the reboot: {got:?}");

    sim.boot(1);
    let log = sim.nodes[1].boot_log.clone();
    assert!(log.contains("config: loaded slot"), "{log}");
    assert_eq!(sim.fingerprint(1), fp_b, "same identity after the reboot");
    let config = sim.cmd(1, "config show");
    assert!(config.contains("peer add gw1"), "{config}");

    // The rebooted node starts afresh; traffic in both directions brings the tunnel
    // back (A's stale session is replaced).
    let up = sim.run_until(60_000, |s| {
        s.hosts[1].send_udp(host_ip(1), b"ping");
        s.hosts[0].send_udp(host_ip(2), b"ping");
        s.tunnels_up(0, 1) && s.tunnels_up(1, 1)
    });
    assert!(up, "tunnel back within 60 s:\n{}", sim.cmd(0, "peers"));
    sim.run_for(500);
    let got = transfer(&mut sim, 0, 1, 500, 50);
    assert!(got.len() >= 40, "after the reboot: {got:?}");
    let back = transfer(&mut sim, 1, 0, 600, 50);
    assert!(back.len() >= 40, "back after the reboot: {back:?}");
    assert_eq!(clear_on_wan(&sim), 0);
}

/// A UDP datagram on the wan from `src` to `dst`, as anyone on the fabric can send it
/// (any source address and port, a peer's among them).
fn spoofed_udp(
    dst_mac: [u8; 6],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    data: &[u8],
) -> Vec<u8> {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpProtocol, Ipv4Packet,
        Ipv4Repr, UdpPacket, UdpRepr,
    };
    let udp = UdpRepr {
        src_port: src.1,
        dst_port: dst.1,
    };
    let ip = Ipv4Repr {
        src_addr: src.0,
        dst_addr: dst.0,
        next_header: IpProtocol::Udp,
        payload_len: 8 + data.len(),
        hop_limit: 64,
    };
    let mut frame = vec![0; 14 + 20 + 8 + data.len()];
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: EthernetAddress([2, 0, 0, 0, 0xee, 1]),
        dst_addr: EthernetAddress(dst_mac),
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut eth);
    let caps = ChecksumCapabilities::default();
    let mut p = Ipv4Packet::new_unchecked(eth.payload_mut());
    ip.emit(&mut p, &caps);
    udp.emit(
        &mut UdpPacket::new_unchecked(p.payload_mut()),
        &src.0.into(),
        &dst.0.into(),
        data.len(),
        |b| b.copy_from_slice(data),
        &caps,
    );
    frame
}

#[test]
fn forged_datagrams_from_a_peers_endpoint_do_not_disturb_the_tunnel() {
    let mut sim = pair(16, Faults::default());
    bring_up(&mut sim);
    let got = transfer(&mut sim, 0, 1, 0, 20);
    assert_eq!(got.len(), 20);
    let stats_before = sim.cmd(1, "peer show gw1");
    let events_before = sim.cmd(1, "events");
    // "handshakes N started N completed N failed; rekeys N; replaced N; drops N"
    let line = |s: &str| {
        let l = s
            .lines()
            .find(|l| l.contains("handshakes"))
            .expect("counters");
        let (handshakes, drops) = l.rsplit_once("; drops ").expect("drops");
        (
            handshakes.to_string(),
            drops.trim().parse::<u64>().expect("a count"),
        )
    };

    // An attacker on the fabric sends, from A's endpoint to B's DTLS port: garbage,
    // application-data records of the current epoch with junk inside, a handshake
    // record, an alert, and a datagram larger than any record.
    let attacker = sim.fabric.borrow_mut().attach(sim.wan);
    let from = (sim::wan_ip(1), sim::DTLS_PORT);
    let to = (sim::wan_ip(2), sim::DTLS_PORT);
    let mut forged: Vec<Vec<u8>> = vec![vec![0xff; 64], Vec::new(), vec![23; 13]];
    for seq in 0..20u8 {
        let mut r = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 200 + seq, 0, 40];
        r.extend_from_slice(&[seq; 40]);
        forged.push(r);
    }
    forged.push(
        [
            &[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 12][..],
            &[1; 12],
        ]
        .concat(),
    );
    forged.push(vec![21, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 250, 0, 2, 2, 40]);
    forged.push(vec![23; 3000]);
    for data in &forged {
        let frame = spoofed_udp(sim::wan_mac(2), from, to, data);
        sim.fabric.borrow_mut().transmit(attacker, &frame);
        sim.step();
    }
    sim.run_for(100);

    assert!(sim.tunnels_up(0, 1) && sim.tunnels_up(1, 1));
    let got = transfer(&mut sim, 0, 1, 100, 20);
    assert_eq!(got.len(), 20, "the tunnel carries on: {got:?}");
    let back = transfer(&mut sim, 1, 0, 200, 20);
    assert_eq!(back.len(), 20, "both ways");
    let (before, drops_before) = line(&stats_before);
    let (after, drops_after) = line(&sim.cmd(1, "peer show gw1"));
    assert_eq!(
        after, before,
        "no handshake started, failed or replaced because of forged datagrams"
    );
    assert!(
        drops_after > drops_before,
        "forged records are counted as drops"
    );
    assert_eq!(
        sim.cmd(1, "events"),
        events_before,
        "forged datagrams record no event (no handshake, failure, down, move)"
    );
    assert_eq!(clear_on_wan(&sim), 0);
}
