//! The data plane's state on one NIC (its sockets, the ARP tap) and the tap itself:
//! the NIC owns it, `dataplane` drives it.

use crate::packet::PacketBuf;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::net::Ipv4Addr;
use smoltcp::iface::SocketHandle;
use smoltcp::wire::IpProtocol;

/// The data plane's sockets on one NIC.
#[derive(Default)]
pub struct Sockets {
    pub(super) udp: Option<(u16, SocketHandle)>,
    pub(super) raw: Vec<(IpProtocol, SocketHandle)>,
    pub(super) collector: Option<SocketHandle>,
    /// Datagrams on the data plane's UDP port too large for any record we accept.
    pub truncated: u64,
    /// Copy ARP frames to the transit queue.
    pub arp_tap: bool,
}

/// Pushes a copy of `frame` to `transit` if it is ARP (and there is a buffer).
pub fn tap_arp(frame: &[u8], transit: &mut VecDeque<PacketBuf>, pool: &RefCell<Vec<PacketBuf>>) {
    if frame.get(12..14) != Some(&[0x08, 0x06]) || transit.len() >= super::TRANSIT {
        return;
    }
    let Some(mut copy) = pool.borrow_mut().pop() else {
        return;
    };
    copy.reset();
    if copy.set_len(frame.len()) {
        copy.frame_mut().copy_from_slice(frame);
        transit.push_back(copy);
    } else {
        pool.borrow_mut().push(copy);
    }
}

/// Whether `frame` (already screened: a well-formed IPv4 frame for this NIC) is a UDP
/// datagram for `port` on our address `ours`, unfragmented: a DTLS record the data
/// plane opens in the buffer it arrived in, without passing through the stack's socket.
/// Fragments stay with the stack, which reassembles.
pub fn is_dataplane_udp(frame: &[u8], ours: Ipv4Addr, port: u16) -> bool {
    use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, UdpPacket};
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return false;
    }
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return false;
    };
    if ip.next_header() != IpProtocol::Udp
        || ip.dst_addr() != ours
        || ip.more_frags()
        || ip.frag_offset() != 0
    {
        return false;
    }
    UdpPacket::new_checked(ip.payload()).is_ok_and(|udp| udp.dst_port() == port)
}

#[cfg(test)]
mod tests {
    use super::is_dataplane_udp;
    use core::net::Ipv4Addr;

    fn frame(dst: [u8; 4], port: u16, frag: u16, proto: u8) -> [u8; 14 + 20 + 8] {
        let mut f = [0u8; 42];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&28u16.to_be_bytes());
        ip[6..8].copy_from_slice(&frag.to_be_bytes());
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&[192, 0, 2, 2]);
        ip[16..20].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&4433u16.to_be_bytes());
        f[36..38].copy_from_slice(&port.to_be_bytes());
        f[38..40].copy_from_slice(&8u16.to_be_bytes());
        f
    }

    #[test]
    fn only_whole_udp_datagrams_for_our_port_and_address() {
        let ours = Ipv4Addr::new(192, 0, 2, 1);
        assert!(is_dataplane_udp(
            &frame([192, 0, 2, 1], 4444, 0, 17),
            ours,
            4444
        ));
        assert!(!is_dataplane_udp(
            &frame([192, 0, 2, 1], 4445, 0, 17),
            ours,
            4444
        ));
        assert!(!is_dataplane_udp(
            &frame([192, 0, 2, 9], 4444, 0, 17),
            ours,
            4444
        ));
        assert!(!is_dataplane_udp(
            &frame([192, 0, 2, 1], 4444, 0, 6),
            ours,
            4444
        ));
        // More fragments, or a later fragment: the stack reassembles.
        assert!(!is_dataplane_udp(
            &frame([192, 0, 2, 1], 4444, 0x2000, 17),
            ours,
            4444
        ));
        assert!(!is_dataplane_udp(
            &frame([192, 0, 2, 1], 4444, 0x0010, 17),
            ours,
            4444
        ));
        assert!(!is_dataplane_udp(&[0u8; 20], ours, 4444));
    }
}
