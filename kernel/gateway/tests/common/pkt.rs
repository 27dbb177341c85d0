//! Real IPv4 packets for the simulated hosts, built with smoltcp's wire module.

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
    UdpPacket, UdpRepr,
};
use std::net::Ipv4Addr;

/// A UDP datagram in an IPv4 packet; `df` sets Don't Fragment.
pub fn udp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
    df: bool,
) -> Vec<u8> {
    let udp = UdpRepr {
        src_port: sport,
        dst_port: dport,
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload.len(),
        hop_limit: 64,
    };
    let mut b = vec![0u8; ip.buffer_len() + ip.payload_len];
    let caps = ChecksumCapabilities::default();
    let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
    ip.emit(&mut p, &caps);
    p.set_dont_frag(df);
    p.set_ident((sport ^ dport).wrapping_add(payload.len() as u16));
    p.fill_checksum();
    let mut u = UdpPacket::new_unchecked(p.payload_mut());
    udp.emit(
        &mut u,
        &IpAddress::Ipv4(src),
        &IpAddress::Ipv4(dst),
        payload.len(),
        |b| b.copy_from_slice(payload),
        &caps,
    );
    b
}

/// A TCP segment with the given control flag and MSS option (for SYNs).
pub fn tcp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    control: TcpControl,
    mss: Option<u16>,
    payload: &[u8],
) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: sport,
        dst_port: dport,
        control,
        seq_number: TcpSeqNumber(1000),
        ack_number: None,
        window_len: 64240,
        window_scale: if control == TcpControl::Syn {
            Some(7)
        } else {
            None
        },
        max_seg_size: mss,
        sack_permitted: control == TcpControl::Syn,
        sack_ranges: [None, None, None],
        timestamp: None,
        payload,
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let mut b = vec![0u8; ip.buffer_len() + ip.payload_len];
    let caps = ChecksumCapabilities::default();
    let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
    ip.emit(&mut p, &caps);
    p.set_dont_frag(true);
    p.fill_checksum();
    let mut t = TcpPacket::new_unchecked(p.payload_mut());
    tcp.emit(&mut t, &IpAddress::Ipv4(src), &IpAddress::Ipv4(dst), &caps);
    b
}

/// The parsed view of a packet a host received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub df: bool,
    pub more_frags: bool,
    pub frag_offset: u16,
    pub ident: u16,
    pub len: usize,
    pub payload: Vec<u8>,
}

/// Parses and checks (checksum) an IPv4 packet.
pub fn parse(b: &[u8]) -> Seen {
    let p = Ipv4Packet::new_checked(b).expect("valid IPv4");
    assert!(p.verify_checksum(), "IPv4 checksum");
    Seen {
        src: p.src_addr(),
        dst: p.dst_addr(),
        protocol: u8::from(p.next_header()),
        df: p.dont_frag(),
        more_frags: p.more_frags(),
        frag_offset: p.frag_offset(),
        ident: p.ident(),
        len: usize::from(p.total_len()),
        payload: p.payload().to_vec(),
    }
}

/// The UDP payload of a received (unfragmented) packet, checksum verified.
pub fn udp_payload(b: &[u8]) -> Option<Vec<u8>> {
    let p = Ipv4Packet::new_checked(b).ok()?;
    if p.next_header() != IpProtocol::Udp || p.more_frags() || p.frag_offset() != 0 {
        return None;
    }
    let u = UdpPacket::new_checked(p.payload()).ok()?;
    assert!(
        u.verify_checksum(
            &IpAddress::Ipv4(p.src_addr()),
            &IpAddress::Ipv4(p.dst_addr())
        ),
        "UDP checksum"
    );
    Some(u.payload().to_vec())
}

/// The MSS option of a TCP SYN, checksum verified.
pub fn tcp_mss(b: &[u8]) -> Option<u16> {
    let p = Ipv4Packet::new_checked(b).ok()?;
    let t = TcpPacket::new_checked(p.payload()).ok()?;
    let (s, d) = (IpAddress::Ipv4(p.src_addr()), IpAddress::Ipv4(p.dst_addr()));
    assert!(t.verify_checksum(&s, &d), "TCP checksum after clamping");
    TcpRepr::parse(&t, &s, &d, &ChecksumCapabilities::default())
        .ok()?
        .max_seg_size
}

/// Reassembles fragments of one datagram (by ident), returning the whole payload.
pub fn reassemble(frags: &[Seen]) -> Option<Vec<u8>> {
    let mut parts: Vec<&Seen> = frags.iter().collect();
    parts.sort_by_key(|f| f.frag_offset);
    let mut out = Vec::new();
    for f in &parts {
        if usize::from(f.frag_offset) != out.len() {
            return None;
        }
        out.extend_from_slice(&f.payload);
    }
    (!parts.last()?.more_frags).then_some(out)
}
