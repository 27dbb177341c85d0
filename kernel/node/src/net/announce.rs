//! ARP frames the interface sends on its own when its address changes: a gratuitous
//! ARP (so that hosts update their caches) and a request for the default gateway (so
//! that its reply fills smoltcp's neighbour cache before the first packet needs it:
//! smoltcp drops a packet whose next hop is unresolved instead of queueing it).

use crate::packet::PacketBuf;
use core::net::Ipv4Addr;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr,
};

const FRAME_LEN: usize = 14 + 28;

/// Writes an ARP request "who has `target`, tell `sender`" (broadcast) into `buf`.
pub fn arp_request(buf: &mut PacketBuf, mac: EthernetAddress, sender: Ipv4Addr, target: Ipv4Addr) {
    buf.reset();
    buf.set_len(FRAME_LEN);
    let mut frame = EthernetFrame::new_unchecked(buf.frame_mut());
    EthernetRepr {
        src_addr: mac,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut frame);
    ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: mac,
        source_protocol_addr: sender,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    }
    .emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
}
