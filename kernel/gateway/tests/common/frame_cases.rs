//! Scenarios of the frame path, run over the test double (`wan_frames`) and over the
//! real DTLS engine (`dtls_frames`).

use smoltcp::wire::{EthernetFrame, Icmpv4Packet, IpProtocol, Ipv4Packet, UdpPacket};
use vnetcrypt_gateway::outer::OUTER_LEN;
use vnetcrypt_gateway::session::SessionLayer;
use vnetcrypt_gateway::{DropReason, FrameVerdict, Gateway};

use super::frames::{host_ip, lan_mac, wan_ip, wan_mac, FramePair};
use super::pkt;

/// Every frame that crossed wan is a whole Ethernet + IPv4 + UDP frame between the
/// two gateways' MACs and endpoints, with valid checksums and DF set.
pub fn wire_frames_are_whole<L: SessionLayer>(p: &FramePair<L>) {
    assert!(!p.wire_log.is_empty());
    for f in &p.wire_log {
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert!(ip.dont_frag());
        assert_eq!(ip.next_header(), IpProtocol::Udp);
        assert_eq!(usize::from(ip.total_len()) + 14, f.len());
        let (from, to) = if ip.src_addr() == wan_ip(0) {
            (0, 1)
        } else {
            (1, 0)
        };
        assert_eq!(ip.dst_addr(), wan_ip(to));
        assert_eq!(eth.src_addr(), wan_mac(from));
        assert_eq!(eth.dst_addr(), wan_mac(to));
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!((udp.src_port(), udp.dst_port()), (4433, 4433));
    }
    for s in &p.sides {
        assert!(s.unframed.is_empty(), "{:?}", s.unframed);
        assert_eq!(s.gw.counters().wan_unframed, 0);
    }
}

/// Established, a packet crosses both engines in one buffer both ways, of several
/// sizes, with no byte copied by either engine; what arrives is what was sent.
pub fn established_path_copies_nothing<L: SessionLayer>(p: &mut FramePair<L>, sizes: &[usize]) {
    let off = Gateway::<L>::FRAME_OFFSET;
    for from in [0, 1] {
        for &size in sizes {
            let ip = pkt::udp(
                host_ip(from),
                host_ip(1 - from),
                7,
                8,
                &vec![0x3c; size - 28],
                true,
            );
            let frame = FramePair::<L>::lan_frame(from, &ip);
            let mut buf = vec![0u8; p.sides[from].gw.frame_buffer_len()];
            buf[off..off + frame.len()].copy_from_slice(&frame);
            let (out, copied) = p.carry_in_place(from, &mut buf, frame.len());
            assert_eq!(
                out,
                Some(off..off + frame.len()),
                "delivered in place, {size} B from {from}"
            );
            assert_eq!(copied, [0, 0], "bytes copied by the engines, {size} B");
            assert_eq!(&buf[off + 14..off + frame.len()], &ip[..]);
            assert_eq!(&buf[off + 6..off + 12], lan_mac(1 - from).as_bytes());
        }
    }
}

/// Wan frames are judged by their outer headers before anything else: not ours,
/// damaged or from a stranger, they are dropped (counted) or left to the host stack,
/// and the tunnel keeps working.
pub fn wan_frames_are_checked<L: SessionLayer>(p: &mut FramePair<L>) {
    // A genuine record from side 0.
    let ip = pkt::udp(host_ip(0), host_ip(1), 7, 8, b"genuine", false);
    let frame = FramePair::<L>::lan_frame(0, &ip);
    p.wire_log.clear();
    assert!(matches!(p.lan_now(0, &frame), FrameVerdict::ToWan(_)));
    let (_, record) = p.wire.pop_back().unwrap();
    let c = |p: &FramePair<L>, r| p.sides[1].gw.counters().dropped(r);

    // To another unicast MAC.
    let mut f = record.clone();
    f[0..6].copy_from_slice(&[2, 9, 9, 9, 9, 9]);
    assert_eq!(
        p.wan_now(1, &f),
        FrameVerdict::Dropped(DropReason::NotOurMac)
    );
    // Broadcast and ARP are the host stack's.
    let mut f = record.clone();
    f[0..6].copy_from_slice(&[0xff; 6]);
    assert_eq!(p.wan_now(1, &f), FrameVerdict::Host);
    let mut f = record.clone();
    f[12..14].copy_from_slice(&[8, 6]);
    assert_eq!(p.wan_now(1, &f), FrameVerdict::Host);
    // A damaged outer IPv4 header.
    let before = c(p, DropReason::MalformedPacket);
    let mut f = record.clone();
    f[14 + 8] ^= 0x10; // TTL
    assert_eq!(
        p.wan_now(1, &f),
        FrameVerdict::Dropped(DropReason::MalformedPacket)
    );
    // A UDP checksum that does not match.
    let mut f = record.clone();
    f[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0x12, 0x34]);
    assert_eq!(
        p.wan_now(1, &f),
        FrameVerdict::Dropped(DropReason::MalformedPacket)
    );
    assert_eq!(c(p, DropReason::MalformedPacket), before + 2);
    // The genuine frame opens; the same record again from another source address
    // (outer headers fixed up, as a watcher would replay it) is no peer's endpoint,
    // is tried against the sessions, fails the replay window, and moves nothing.
    assert!(p.sides[1].delivered.is_empty());
    assert!(matches!(p.wan_now(1, &record), FrameVerdict::ToLan(_)));
    assert_eq!(p.sides[1].delivered, vec![ip.clone()]);
    let mut f = record.clone();
    f[14 + 12..14 + 16].copy_from_slice(&[192, 0, 2, 99]);
    let mut ipp = Ipv4Packet::new_unchecked(&mut f[14..]);
    ipp.fill_checksum();
    assert_eq!(p.wan_now(1, &f), FrameVerdict::Dropped(DropReason::Replay));
    assert_eq!(p.sides[1].gw.counters().endpoint_moves, 0);
    assert_eq!(p.sides[1].delivered, vec![ip]);
}

/// Without a known next hop the record comes back as a datagram for the host stack
/// (never dropped), and it is counted.
pub fn unknown_next_hop_falls_back<L: SessionLayer>(p: &mut FramePair<L>) {
    p.sides[0].link.known.clear();
    let ip = pkt::udp(host_ip(0), host_ip(1), 7, 8, b"no neighbour", false);
    let frame = FramePair::<L>::lan_frame(0, &ip);
    match p.lan_now(0, &frame) {
        FrameVerdict::ToPeer { to, datagram } => {
            assert_eq!(*to.ip(), wan_ip(1));
            assert_eq!(datagram.start, OUTER_LEN, "the record, where it was sealed");
        }
        v => panic!("{v:?}"),
    }
    assert_eq!(p.sides[0].gw.counters().wan_unframed, 1);
}

/// The ICMP fragmentation-needed message a workload got last, with its MTU.
pub fn last_frag_needed_mtu<L: SessionLayer>(p: &FramePair<L>, side: usize) -> usize {
    let icmp = p.sides[side].delivered.last().expect("an answer");
    let ip = Ipv4Packet::new_checked(&icmp[..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.dst_addr(), host_ip(side));
    let m = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(m.verify_checksum());
    assert_eq!((u8::from(m.msg_type()), m.msg_code()), (3, 4));
    usize::from(u16::from_be_bytes([ip.payload()[6], ip.payload()[7]]))
}

/// Frames larger than the tunnel carries: DF gets ICMP fragmentation-needed with the
/// tunnel's MTU, others arrive fragmented and reassemble into the original; a packet
/// at the tunnel MTU crosses whole, in place. `big` exceeds the tunnel MTU.
pub fn too_big_is_answered_or_fragmented<L: SessionLayer>(p: &mut FramePair<L>, big: usize) {
    let mtu = p.sides[0].gw.tunnel_mtu();
    assert!(big > mtu);
    // At the MTU: whole and in place.
    established_path_copies_nothing(p, &[mtu]);
    // DF, too big: an answer, nothing on wan.
    let ip = pkt::udp(host_ip(0), host_ip(1), 7, 8, &vec![1; big - 28], true);
    p.wire_log.clear();
    p.send(0, &ip);
    p.run(5);
    assert!(p.wire_log.is_empty());
    assert_eq!(last_frag_needed_mtu(p, 0), mtu);
    assert_eq!(p.sides[0].gw.counters().icmp_frag_needed, 1);
    // Not DF: fragments, each a whole frame within the wan MTU, reassembled.
    let payload: Vec<u8> = (0..big - 28).map(|i| i as u8).collect();
    let ip = pkt::udp(host_ip(0), host_ip(1), 7, 8, &payload, false);
    p.sides[1].delivered.clear();
    let copied = p.sides[0].gw.bytes_copied();
    p.send(0, &ip);
    p.run(5);
    // Fragments are written and queued: the counter sees those copies (so its zero on
    // the established path means something).
    assert!(p.sides[0].gw.bytes_copied() >= copied + 2 * (big as u64 - 20));
    let wan_mtu = p.sides[0].gw.config().wan_mtu;
    assert!(p.wire_log.len() >= 2);
    assert!(p.wire_log.iter().all(|f| f.len() - 14 <= wan_mtu));
    let frags: Vec<_> = p.sides[1].delivered.iter().map(|b| pkt::parse(b)).collect();
    assert!(frags.len() >= 2);
    assert_eq!(pkt::reassemble(&frags).unwrap(), ip[20..]);
    wire_frames_are_whole(p);
}

/// An attacker who sees records flips any one bit of a wan frame in flight: the frame
/// opens only if the bit is in the Ethernet source (unauthenticated by design, and
/// then it is the genuine packet), and otherwise is dropped (counted) or left to the
/// host stack; the tunnel keeps working and nothing is copied.
pub fn single_bit_flips_never_open<L: SessionLayer>(p: &mut FramePair<L>, seed: u64) {
    let mut rng = super::double::Rng::new(seed);
    let mut opened = 0;
    for n in 0..400u16 {
        let ip = pkt::udp(host_ip(0), host_ip(1), 7, n, b"flip me", false);
        assert!(matches!(
            p.lan_now(0, &FramePair::<L>::lan_frame(0, &ip)),
            FrameVerdict::ToWan(_)
        ));
        let (_, mut f) = p.wire.pop_back().unwrap();
        let bit = rng.below(f.len() as u64 * 8) as usize;
        f[bit / 8] ^= 1 << (bit % 8);
        let before = p.sides[1].delivered.len();
        match p.wan_now(1, &f) {
            FrameVerdict::ToLan(_) => {
                // The Ethernet source, or the outer UDP source port (the record
                // authenticates; the peer's endpoint follows it, as for a NAT that
                // changed its mapping: the next genuine record moves it back).
                assert!(
                    (48..96).contains(&bit) || (34 * 8..36 * 8).contains(&bit),
                    "opened with bit {bit} flipped"
                );
                assert_eq!(p.sides[1].delivered[before..], [ip]);
                opened += 1;
            }
            // Consumed: a flipped content type makes it a (bogus) handshake record,
            // which the session absorbs.
            FrameVerdict::Dropped(_) | FrameVerdict::Host | FrameVerdict::Consumed => {
                assert_eq!(p.sides[1].delivered.len(), before, "bit {bit}");
            }
            v => panic!("bit {bit}: {v:?}"),
        }
    }
    assert!(opened < 400);
    // A genuine record from side 0's own port brings its endpoint back, should a
    // flipped port have moved it (once the source's admission bucket, drained by
    // the flipped records that came from a port no longer its endpoint, refills).
    p.run(2_000);
    let ip = pkt::udp(host_ip(0), host_ip(1), 7, 9, b"from home", false);
    assert!(matches!(
        p.lan_now(0, &FramePair::<L>::lan_frame(0, &ip)),
        FrameVerdict::ToWan(_)
    ));
    let (_, f) = p.wire.pop_back().unwrap();
    assert!(matches!(p.wan_now(1, &f), FrameVerdict::ToLan(_)));
    let copied = p.sides[1].gw.bytes_copied();
    established_path_copies_nothing(p, &[100]);
    assert_eq!(p.sides[1].gw.bytes_copied(), copied);
}
