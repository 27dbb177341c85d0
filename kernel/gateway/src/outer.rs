//! The wan side's outer headers, for the kernel's glue: sorting frames that arrive on
//! wan (DTLS datagrams for us, plaintext IPv4 in transit, ARP) and wrapping a record
//! into Ethernet + IPv4 + UDP in place, in front of it.
//!
//! To wrap a record without copying, the caller leaves [`OUTER_LEN`] bytes before it:
//! placing lan frames at `Gateway::HEADROOM + OUTER_LEN - 14` does that.

use core::net::SocketAddrV4;
use core::ops::Range;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr,
    UdpPacket,
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
    if !ip.verify_checksum() {
        return WanFrame::Other;
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
    let Ok(udp) = UdpPacket::new_checked(ip.payload()) else {
        return WanFrame::Other;
    };
    let (src, dst) = (
        IpAddress::Ipv4(ip.src_addr()),
        IpAddress::Ipv4(ip.dst_addr()),
    );
    if udp.dst_port() != us.port() || (udp.checksum() != 0 && !udp.verify_checksum(&src, &dst)) {
        return WanFrame::Other;
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
    let frame = &mut buf[start..payload.end];
    let mut eth = EthernetFrame::new_unchecked(&mut *frame);
    eth.set_src_addr(o.src_mac);
    eth.set_dst_addr(o.dst_mac);
    eth.set_ethertype(EthernetProtocol::Ipv4);
    let repr = Ipv4Repr {
        src_addr: *o.src.ip(),
        dst_addr: *o.dst.ip(),
        next_header: IpProtocol::Udp,
        payload_len: 8 + len,
        hop_limit: 64,
    };
    let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
    repr.emit(&mut ip, &ChecksumCapabilities::default());
    ip.set_ident(o.ident);
    ip.set_dont_frag(true);
    ip.fill_checksum();
    let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
    udp.set_src_port(o.src.port());
    udp.set_dst_port(o.dst.port());
    udp.set_len((8 + len) as u16);
    udp.set_checksum(0);
    if o.udp_checksum {
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
                assert_eq!(classify(&buf[r], o.dst), WanFrame::Other);
            }
        }
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
