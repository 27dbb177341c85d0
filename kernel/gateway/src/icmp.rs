//! ICMP "fragmentation needed and DF set" (type 3, code 4) with the next-hop MTU
//! (RFC 1191), built in place over the offending frame: no allocation, no copy beyond
//! the quoted header.

use core::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, Icmpv4Packet, IpProtocol, Ipv4Packet,
    Ipv4Repr,
};

const ETH: usize = 14;
const IP: usize = 20;
const ICMP_HDR: usize = 8;

/// Replaces the Ethernet frame at `buf[frame_off..]` (an IPv4 packet of `ip_len` bytes
/// that cannot be carried) with an ICMP fragmentation-needed message back to its
/// sender, advertising `mtu`. Returns the new frame's length, or `None` if the input is
/// not a valid IPv4 frame or the buffer is too small.
pub fn frag_needed_in_place(
    buf: &mut [u8],
    frame_off: usize,
    ip_len: usize,
    our_mac: EthernetAddress,
    our_ip: Ipv4Addr,
    mtu: u16,
) -> Option<usize> {
    let frame = buf.get(frame_off..frame_off.checked_add(ETH + ip_len)?)?;
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let sender_mac = eth.src_addr();
    let ip = crate::ipv4::checked(eth.payload())?;
    let sender_ip = ip.src_addr();
    let quote = (usize::from(ip.header_len()) + 8).min(ip_len);
    let new_ip_len = IP + ICMP_HDR + quote;
    if buf.len() < frame_off + ETH + new_ip_len {
        return None;
    }
    let ip_at = frame_off + ETH;
    buf.copy_within(ip_at..ip_at + quote, ip_at + IP + ICMP_HDR);

    let mut eth = EthernetFrame::new_unchecked(&mut buf[frame_off..frame_off + ETH + new_ip_len]);
    eth.set_dst_addr(sender_mac);
    eth.set_src_addr(our_mac);
    eth.set_ethertype(EthernetProtocol::Ipv4);
    let repr = Ipv4Repr {
        src_addr: our_ip,
        dst_addr: sender_ip,
        next_header: IpProtocol::Icmp,
        payload_len: ICMP_HDR + quote,
        hop_limit: 64,
    };
    let mut ipp = Ipv4Packet::new_unchecked(eth.payload_mut());
    repr.emit(&mut ipp, &ChecksumCapabilities::default());
    let icmp_bytes = ipp.payload_mut();
    icmp_bytes[0] = 3; // destination unreachable
    icmp_bytes[1] = 4; // fragmentation needed and DF set
    icmp_bytes[4..6].copy_from_slice(&[0, 0]);
    icmp_bytes[6..8].copy_from_slice(&mtu.to_be_bytes());
    let mut icmp = Icmpv4Packet::new_unchecked(icmp_bytes);
    icmp.fill_checksum();
    Some(ETH + new_ip_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::Icmpv4Message;

    #[test]
    fn builds_valid_frag_needed() {
        let host_mac = EthernetAddress([2, 0, 0, 0, 0, 5]);
        let gw_mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let mut buf = alloc::vec![0u8; 8 + ETH + 1500];
        let off = 8;
        {
            let mut f = EthernetFrame::new_unchecked(&mut buf[off..]);
            f.set_src_addr(host_mac);
            f.set_dst_addr(gw_mac);
            f.set_ethertype(EthernetProtocol::Ipv4);
            let repr = Ipv4Repr {
                src_addr: Ipv4Addr::new(10, 1, 0, 5),
                dst_addr: Ipv4Addr::new(10, 2, 0, 9),
                next_header: IpProtocol::Udp,
                payload_len: 1480,
                hop_limit: 64,
            };
            let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
            repr.emit(&mut p, &ChecksumCapabilities::default());
            p.set_dont_frag(true);
            p.payload_mut()[..8].copy_from_slice(b"UDPHEADR");
            p.fill_checksum();
        }
        let n = frag_needed_in_place(
            &mut buf,
            off,
            1500,
            gw_mac,
            Ipv4Addr::new(10, 1, 0, 1),
            1435,
        )
        .unwrap();
        assert_eq!(n, ETH + 20 + 8 + 28);
        let f = EthernetFrame::new_checked(&buf[off..off + n]).unwrap();
        assert_eq!(f.dst_addr(), host_mac);
        assert_eq!(f.src_addr(), gw_mac);
        let p = Ipv4Packet::new_checked(f.payload()).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.dst_addr(), Ipv4Addr::new(10, 1, 0, 5));
        let i = Icmpv4Packet::new_checked(p.payload()).unwrap();
        assert!(i.verify_checksum());
        assert_eq!(i.msg_type(), Icmpv4Message::DstUnreachable);
        assert_eq!(i.msg_code(), 4);
        assert_eq!(u16::from_be_bytes([p.payload()[6], p.payload()[7]]), 1435);
        // The quote is the original header and 8 bytes of its payload. (smoltcp's
        // Icmpv4Repr::parse insists on a whole quoted packet, which RFC 792 does not.)
        let q = i.data();
        assert_eq!(q.len(), 28);
        assert_eq!(q[0], 0x45);
        assert_eq!(&q[16..20], &[10, 2, 0, 9]);
        assert_eq!(&q[20..28], b"UDPHEADR");
    }

    #[test]
    fn garbage_is_refused() {
        let mut buf = [0u8; 40];
        assert!(frag_needed_in_place(
            &mut buf,
            0,
            26,
            EthernetAddress([0; 6]),
            Ipv4Addr::UNSPECIFIED,
            1
        )
        .is_none());
        assert!(frag_needed_in_place(
            &mut buf,
            30,
            26,
            EthernetAddress([0; 6]),
            Ipv4Addr::UNSPECIFIED,
            1
        )
        .is_none());
    }
}
