//! The wan side's outer headers, for the kernel's glue: sorting frames that arrive on
//! wan (DTLS datagrams for us, plaintext IPv4 in transit, ARP) and wrapping a record
//! into Ethernet + IPv4 + UDP in place, in front of it.
//!
//! To wrap a record without copying, the caller leaves [`OUTER_LEN`] bytes before it:
//! placing lan frames at `Gateway::HEADROOM + OUTER_LEN - 14` does that.

use core::net::SocketAddrV4;
use core::ops::Range;

use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, UdpPacket,
};

/// Ethernet + IPv4 + UDP.
pub const OUTER_LEN: usize = 14 + 20 + 8;

/// What a frame received on wan is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WanFrame {
    /// A UDP datagram to our endpoint: `payload` is its range in the frame.
    Dtls {
        from: SocketAddrV4,
        payload: Range<usize>,
    },
    /// An IPv4 packet not addressed to us (plaintext in transit): its range.
    Clear { packet: Range<usize> },
    /// ARP (for the kernel's wan neighbour handling).
    Arp,
    /// Damaged: an IPv4 header checksum that fails, or a UDP datagram to our endpoint
    /// that is truncated or fails its checksum.
    Invalid,
    /// Anything else (other protocols to our address, other EtherTypes, garbage).
    Other,
}

/// Sorts a frame received on wan. UDP checksums, when present, must verify.
pub fn classify(frame: &[u8], us: SocketAddrV4) -> WanFrame {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return WanFrame::Other;
    };
    match eth.ethertype() {
        EthernetProtocol::Arp => return WanFrame::Arp,
        EthernetProtocol::Ipv4 => {}
        _ => return WanFrame::Other,
    }
    let Some(ip) = crate::ipv4::checked(eth.payload()) else {
        return WanFrame::Other;
    };
    if !crate::ipv4::checksum_ok(&ip) {
        return WanFrame::Invalid;
    }
    let ip_start = 14;
    let ip_len = usize::from(ip.total_len());
    if ip.dst_addr() != *us.ip() {
        return WanFrame::Clear {
            packet: ip_start..ip_start + ip_len,
        };
    }
    if ip.next_header() != IpProtocol::Udp || ip.frag_offset() != 0 || ip.more_frags() {
        return WanFrame::Other;
    }
    // The destination port sits in the first 4 bytes: other ports are not ours to judge.
    if ip.payload().get(2..4) != Some(&us.port().to_be_bytes()[..]) {
        return WanFrame::Other;
    }
    let Ok(udp) = UdpPacket::new_checked(ip.payload()) else {
        return WanFrame::Invalid;
    };
    let (src, dst) = (
        IpAddress::Ipv4(ip.src_addr()),
        IpAddress::Ipv4(ip.dst_addr()),
    );
    if udp.checksum() != 0 && !udp.verify_checksum(&src, &dst) {
        return WanFrame::Invalid;
    }
    let start = ip_start + usize::from(ip.header_len()) + 8;
    let end = ip_start + usize::from(ip.header_len()) + usize::from(udp.len());
    WanFrame::Dtls {
        from: SocketAddrV4::new(ip.src_addr(), udp.src_port()),
        payload: start..end,
    }
}

/// Addresses of an outer header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outer {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub src_mac: EthernetAddress,
    pub dst_mac: EthernetAddress,
    /// IPv4 identification (the caller's counter).
    pub ident: u16,
    /// Compute the UDP checksum (a pass over the payload); zero means none in IPv4.
    pub udp_checksum: bool,
}

/// Writes Ethernet + IPv4 (DF set) + UDP headers in front of `buf[payload]`; the whole
/// frame's range. `None` if fewer than [`OUTER_LEN`] bytes precede the payload or it
/// is too long for one IPv4 packet.
pub fn encapsulate(buf: &mut [u8], payload: Range<usize>, o: &Outer) -> Option<Range<usize>> {
    let start = payload.start.checked_sub(OUTER_LEN)?;
    let len = payload.len();
    if payload.end > buf.len() || len + 28 > usize::from(u16::MAX) {
        return None;
    }
    // Written field by field: this runs for every record sent.
    let h = &mut buf[start..payload.start];
    h[0..6].copy_from_slice(o.dst_mac.as_bytes());
    h[6..12].copy_from_slice(o.src_mac.as_bytes());
    h[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (28 + len) as u16;
    let ip = &mut h[14..34];
    ip[0] = 0x45; // version 4, 20-byte header
    ip[1] = 0; // DSCP/ECN
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[4..6].copy_from_slice(&o.ident.to_be_bytes());
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF, offset 0
    ip[8] = 64; // TTL
    ip[9] = u8::from(IpProtocol::Udp);
    ip[10..12].copy_from_slice(&[0, 0]);
    ip[12..16].copy_from_slice(&o.src.ip().octets());
    ip[16..20].copy_from_slice(&o.dst.ip().octets());
    let sum = !crate::ipv4::header_sum(ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let udp = &mut h[34..42];
    udp[0..2].copy_from_slice(&o.src.port().to_be_bytes());
    udp[2..4].copy_from_slice(&o.dst.port().to_be_bytes());
    udp[4..6].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    udp[6..8].copy_from_slice(&[0, 0]);
    if o.udp_checksum {
        let ip_frame = &mut buf[start + 14..payload.end];
        let mut ipp = Ipv4Packet::new_unchecked(ip_frame);
        let mut udp = UdpPacket::new_unchecked(ipp.payload_mut());
        udp.fill_checksum(&IpAddress::Ipv4(*o.src.ip()), &IpAddress::Ipv4(*o.dst.ip()));
    }
    Some(start..payload.end)
}

/// Writes an Ethernet header in front of `buf[packet]` (a plaintext IPv4 packet for
/// wan); the frame's range. `None` without 14 bytes before it.
pub fn frame_clear(
    buf: &mut [u8],
    packet: Range<usize>,
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
) -> Option<Range<usize>> {
    let start = packet.start.checked_sub(14)?;
    let hdr = buf.get_mut(start..packet.start)?;
    hdr[0..6].copy_from_slice(dst_mac.as_bytes());
    hdr[6..12].copy_from_slice(src_mac.as_bytes());
    hdr[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    Some(start..packet.end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn outer(udp_checksum: bool) -> Outer {
        Outer {
            src: "192.0.2.1:4433".parse().unwrap(),
            dst: "192.0.2.2:4433".parse().unwrap(),
            src_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
            ident: 7,
            udp_checksum,
        }
    }

    #[test]
    fn wraps_and_sorts_back() {
        for sum in [false, true] {
            let mut buf = vec![0u8; OUTER_LEN + 100];
            buf[OUTER_LEN..].copy_from_slice(&[0xab; 100]);
            let o = outer(sum);
            let r = encapsulate(&mut buf, OUTER_LEN..OUTER_LEN + 100, &o).unwrap();
            assert_eq!(r, 0..OUTER_LEN + 100);
            let got = classify(&buf[r.clone()], o.dst);
            assert_eq!(
                got,
                WanFrame::Dtls {
                    from: o.src,
                    payload: OUTER_LEN..OUTER_LEN + 100
                }
            );
            // Not our port, or not our address.
            assert_eq!(
                classify(&buf[r.clone()], "192.0.2.2:9".parse().unwrap()),
                WanFrame::Other
            );
            assert_eq!(
                classify(&buf[r.clone()], "192.0.2.3:4433".parse().unwrap()),
                WanFrame::Clear {
                    packet: 14..OUTER_LEN + 100
                }
            );
            if sum {
                // A corrupted payload fails the UDP checksum.
                buf[OUTER_LEN + 5] ^= 1;
                assert_eq!(classify(&buf[r], o.dst), WanFrame::Invalid);
            }
        }
    }

    /// A record of 4 bytes (`de ad be ef`) from 192.0.2.1:4433 to 192.0.2.2:4433, DF,
    /// ident 7, TTL 64, as written by hand from RFC 791/768 (checksums computed apart).
    const FIXTURE: [u8; 46] = [
        // Ethernet: to 02:00:00:00:00:02 from 02:00:00:00:00:01, IPv4
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
        // IPv4: 20-byte header, total 32, ident 7, DF, TTL 64, UDP, checksum b6c2
        0x45, 0x00, 0x00, 0x20, 0x00, 0x07, 0x40, 0x00, 0x40, 0x11, 0xb6, 0xc2, 192, 0, 2, 1, 192,
        0, 2, 2, // UDP: 4433 -> 4433, length 12, no checksum
        0x11, 0x51, 0x11, 0x51, 0x00, 0x0c, 0x00, 0x00, // the record
        0xde, 0xad, 0xbe, 0xef,
    ];
    const FIXTURE_UDP_CHECKSUM: [u8; 2] = [0xbb, 0x92];

    #[test]
    fn emits_and_parses_the_fixture() {
        for sum in [false, true] {
            let mut want = FIXTURE;
            if sum {
                want[40..42].copy_from_slice(&FIXTURE_UDP_CHECKSUM);
            }
            let mut buf = [0u8; 46];
            buf[OUTER_LEN..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
            let o = outer(sum);
            assert_eq!(encapsulate(&mut buf, OUTER_LEN..46, &o), Some(0..46));
            assert_eq!(buf, want, "udp checksum {sum}");
            assert_eq!(
                classify(&want, o.dst),
                WanFrame::Dtls {
                    from: o.src,
                    payload: OUTER_LEN..46
                }
            );
        }
        // A damaged IPv4 checksum, a wrong UDP checksum, a UDP length past the packet.
        let mut bad = FIXTURE;
        bad[24] ^= 1;
        assert_eq!(classify(&bad, outer(false).dst), WanFrame::Invalid);
        let mut bad = FIXTURE;
        bad[40..42].copy_from_slice(&[0xbb, 0x93]);
        assert_eq!(classify(&bad, outer(false).dst), WanFrame::Invalid);
        let mut bad = FIXTURE;
        bad[39] = 13;
        assert_eq!(classify(&bad, outer(false).dst), WanFrame::Invalid);
        // Ethernet padding after the packet is not part of the record.
        let mut padded = [0u8; 60];
        padded[..46].copy_from_slice(&FIXTURE);
        assert_eq!(
            classify(&padded, outer(false).dst),
            WanFrame::Dtls {
                from: outer(false).src,
                payload: OUTER_LEN..46
            }
        );
        // To another port of ours: the host's (DHCP, management), not judged here.
        let mut other = FIXTURE;
        other[36..38].copy_from_slice(&68u16.to_be_bytes());
        assert_eq!(classify(&other, outer(false).dst), WanFrame::Other);
    }

    #[test]
    fn refuses_without_room_and_sorts_garbage() {
        let mut buf = vec![0u8; 60];
        assert!(encapsulate(&mut buf, 10..20, &outer(false)).is_none());
        assert!(frame_clear(
            &mut buf,
            10..20,
            EthernetAddress([0; 6]),
            EthernetAddress([0; 6])
        )
        .is_none());
        assert_eq!(
            frame_clear(
                &mut buf,
                14..40,
                EthernetAddress([0; 6]),
                EthernetAddress([1; 6])
            ),
            Some(0..40)
        );
        assert_eq!(classify(&[0u8; 5], outer(false).dst), WanFrame::Other);
        let mut arp = [0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(classify(&arp, outer(false).dst), WanFrame::Arp);
    }
}
