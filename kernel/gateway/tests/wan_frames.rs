//! The frame path over the test double: whole Ethernet frames in and out on both sides,
//! the handshake included, in the caller's buffer; no byte copied on the established
//! path; outer headers checked; jumbo frames and DF.

mod common;

use common::double::TestLayer;
use common::frame_cases as cases;
use common::frames::{host_ip, FramePair};
use common::pkt;
use common::sim::World;
use vnetcrypt_gateway::engine::SLOT;
use vnetcrypt_gateway::{DropReason, Enforcement, Gateway};

fn pair(seed: u64, wan_mtu: usize) -> FramePair<TestLayer> {
    pair_with(seed, wan_mtu, wan_mtu)
}

fn pair_with(seed: u64, wan_mtu: usize, lan_mtu: usize) -> FramePair<TestLayer> {
    let mut w = World::new(2, 1, Enforcement::DropUnencrypted, seed);
    for i in 0..2 {
        w.reconfigure(i, |c, _| {
            c.wan_mtu = wan_mtu;
            c.lan_mtu = lan_mtu;
        });
    }
    let now = w.now;
    let mut nodes = w.nodes.into_iter().map(|n| n.gw);
    FramePair::new([nodes.next().unwrap(), nodes.next().unwrap()], now)
}

fn established(seed: u64, wan_mtu: usize) -> FramePair<TestLayer> {
    established_with(seed, wan_mtu, wan_mtu)
}

fn established_with(seed: u64, wan_mtu: usize, lan_mtu: usize) -> FramePair<TestLayer> {
    let mut p = pair_with(seed, wan_mtu, lan_mtu);
    p.establish();
    p
}

#[test]
fn handshake_and_traffic_as_whole_frames() {
    let p = established(1, 1500);
    cases::wire_frames_are_whole(&p);
}

#[test]
fn established_path_copies_nothing_both_ways() {
    let mut p = established(2, 1500);
    cases::established_path_copies_nothing(&mut p, &[64, 576, 1400]);
}

#[test]
fn wan_frames_are_checked_before_opening() {
    let mut p = established(3, 1500);
    cases::wan_frames_are_checked(&mut p);
}

#[test]
fn single_bit_flips_never_open() {
    let mut p = established(10, 1500);
    cases::single_bit_flips_never_open(&mut p, 10);
}

#[test]
fn unknown_next_hop_falls_back_to_the_datagram() {
    let mut p = established(4, 1500);
    cases::unknown_next_hop_falls_back(&mut p);
}

#[test]
fn lan_jumbo_frames_over_a_standard_wan() {
    let mut p = established_with(5, 1500, 9000);
    assert!(p.sides[0].buf.len() >= 9014);
    cases::too_big_is_answered_or_fragmented(&mut p, 9000);
}

#[test]
fn jumbo_wan_carries_jumbo_frames() {
    let mut p = established(6, 9000);
    assert_eq!(p.sides[0].buf.len(), p.sides[0].gw.frame_buffer_len());
    assert!(p.sides[0].gw.tunnel_mtu() > 8900);
    cases::established_path_copies_nothing(&mut p, &[64, 1400, 8000]);
    cases::too_big_is_answered_or_fragmented(&mut p, 9000);
}

#[test]
fn wan_mtu_is_capped_at_9000() {
    let p = pair(7, 65_000);
    assert_eq!(p.sides[0].gw.config().wan_mtu, 9000);
    assert_eq!(p.sides[0].gw.config().lan_mtu, 9000);
}

#[test]
fn jumbo_packets_waiting_for_a_session() {
    let mut p = pair(8, 9000);
    // Before any session: a packet larger than a waiting slot is fragmented to fit
    // (and arrives once the tunnel is up); with DF it is dropped and counted.
    let payload: Vec<u8> = (0..5000).map(|i| (i * 7) as u8).collect();
    let ip = pkt::udp(host_ip(0), host_ip(1), 7, 8, &payload, false);
    let df = pkt::udp(host_ip(0), host_ip(1), 7, 8, &payload, true);
    p.send(0, &ip);
    p.send(0, &df);
    p.run(200);
    let frags: Vec<_> = p.sides[1].delivered.iter().map(|b| pkt::parse(b)).collect();
    assert!(frags.len() >= 4, "{} pieces", frags.len());
    assert!(frags.iter().all(|f| f.len <= SLOT));
    assert_eq!(pkt::reassemble(&frags).unwrap(), ip[20..]);
    let c = p.sides[0].gw.counters();
    assert_eq!(c.dropped(DropReason::SessionQueueFull), 1);
    assert_eq!(c.dropped_total(), 1);
}

#[test]
fn frame_offset_puts_the_outer_headers_at_the_start() {
    type Gw = Gateway<TestLayer>;
    assert_eq!(
        Gw::FRAME_OFFSET + 14,
        Gw::HEADROOM + vnetcrypt_gateway::outer::OUTER_LEN
    );
}

/// The frame path keeps the clear-traffic rules: plaintext on wan from a peer's
/// prefix while its tunnel is up is refused, a reply from the internet reaches the
/// workload as a lan frame in the same buffer, and what the workload sends to the
/// internet leaves as a whole wan frame to the next hop; traffic for our own wan
/// address that is not a record is the host stack's.
#[test]
fn clear_traffic_as_whole_frames() {
    use common::frames::{host_mac, lan_mac, wan_ip, wan_mac};
    use smoltcp::wire::EthernetAddress;
    use vnetcrypt_gateway::FrameVerdict;

    let mut p = established(9, 1500);
    let wan_frame = |ip: &[u8]| {
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(wan_mac(1).as_bytes());
        f[6..12].copy_from_slice(&[2, 0, 0, 9, 9, 1]);
        f[12..14].copy_from_slice(&[8, 0]);
        f.extend_from_slice(ip);
        f
    };
    // From the peer's prefix, in the clear, while its tunnel is up.
    let spoof = pkt::udp(host_ip(0), host_ip(1), 1, 2, b"clear", false);
    assert_eq!(
        p.wan_now(1, &wan_frame(&spoof)),
        FrameVerdict::Dropped(DropReason::ClearFromTunnelPeer)
    );
    // A reply from the internet to the workload.
    let internet: std::net::Ipv4Addr = "198.51.100.7".parse().unwrap();
    let reply = pkt::udp(internet, host_ip(1), 53, 5353, b"answer", false);
    let f = wan_frame(&reply);
    match p.wan_now(1, &f) {
        FrameVerdict::ToLan(r) => {
            assert_eq!(
                r,
                0..f.len(),
                "the same frame, its Ethernet header rewritten"
            );
            assert_eq!(p.sides[1].buf[0..6], *host_mac(1).as_bytes());
            assert_eq!(p.sides[1].buf[6..12], *lan_mac(1).as_bytes());
        }
        v => panic!("{v:?}"),
    }
    assert_eq!(p.sides[1].delivered.last(), Some(&reply));
    // The workload's packet to the internet: whole frame to the router.
    let router = EthernetAddress([2, 0, 0, 9, 9, 1]);
    p.sides[1].link.known.push((internet, router));
    let out = pkt::udp(host_ip(1), internet, 5353, 53, b"question", false);
    let lan = FramePair::<TestLayer>::lan_frame(1, &out);
    match p.lan_now(1, &lan) {
        FrameVerdict::ToWan(r) => {
            let f = &p.sides[1].buf[r];
            assert_eq!(&f[0..6], router.as_bytes());
            assert_eq!(&f[6..12], wan_mac(1).as_bytes());
            assert_eq!(&f[14..], &out[..]);
        }
        v => panic!("{v:?}"),
    }
    // For our wan address but not a record: ICMP, another UDP port.
    let ping = {
        let mut ip = pkt::udp(internet, wan_ip(1), 1, 4433, b"x", false);
        ip[9] = 1; // ICMP
        let mut v = smoltcp::wire::Ipv4Packet::new_unchecked(&mut ip[..]);
        v.fill_checksum();
        ip
    };
    assert_eq!(p.wan_now(1, &wan_frame(&ping)), FrameVerdict::Host);
    let dhcp = pkt::udp(internet, wan_ip(1), 67, 68, b"offer", false);
    assert_eq!(p.wan_now(1, &wan_frame(&dhcp)), FrameVerdict::Host);
}
