//! Screening of received frames before the IP stack sees them: malformed and foreign
//! frames are dropped here with a reason, so that every drop is counted (smoltcp drops
//! silently), and frames for other hosts are set aside for the gateway data plane.
//!
//! Guarantees: any byte string is accepted without panicking (all parsing goes through
//! `smoltcp::wire`'s checked constructors or explicit length checks).

use super::counters::DropReason;
use core::net::Ipv4Addr;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, IpProtocol,
    Ipv4Packet, UdpPacket,
};

const ETH_HEADER: usize = 14;
const IPV4_MIN_HEADER: usize = 20;
const ARP_IPV4_LEN: usize = 28;
const DHCP_CLIENT_PORT: u16 = 68;

/// What the interface knows about itself when judging a frame.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    pub mac: EthernetAddress,
    /// The interface address and prefix length, if any.
    pub address: Option<(Ipv4Addr, u8)>,
    pub mtu: u16,
    /// DHCP client running: DHCP replies are the stack's even before we have an address.
    pub dhcp: bool,
}

impl Identity {
    fn is_ours(&self, ip: Ipv4Addr) -> bool {
        let on_subnet = match self.address {
            Some((addr, len)) => ip == addr || ip == subnet_broadcast(addr, len),
            None => false,
        };
        on_subnet || ip == Ipv4Addr::BROADCAST
    }
}

fn subnet_broadcast(addr: Ipv4Addr, len: u8) -> Ipv4Addr {
    let host_bits = 32u32.saturating_sub(u32::from(len.min(32)));
    let mask = if host_bits >= 32 {
        0
    } else {
        u32::MAX << host_bits
    };
    Ipv4Addr::from(u32::from(addr) | !mask)
}

/// Where a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// To the appliance's own IP stack (ARP, ICMP, DHCP for this interface).
    Stack,
    /// An ARP request for our address: to the stack, subject to the rate limit.
    ArpRequest,
    /// IPv4 for another host: to the data plane, when there is one.
    Transit,
    Drop(DropReason),
}

/// Judges one received Ethernet frame.
pub fn screen(frame: &[u8], me: &Identity) -> Verdict {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return Verdict::Drop(DropReason::Runt);
    };
    if frame.len() > usize::from(me.mtu) + ETH_HEADER {
        return Verdict::Drop(DropReason::Oversized);
    }
    let dst = eth.dst_addr();
    if dst.is_unicast() && dst != me.mac {
        return Verdict::Drop(DropReason::NotOurs);
    }
    match eth.ethertype() {
        EthernetProtocol::Arp => screen_arp(eth.payload(), me),
        EthernetProtocol::Ipv4 => screen_ipv4(eth.payload(), me),
        EthernetProtocol::Ipv6 => Verdict::Drop(DropReason::Ipv6),
        _ => Verdict::Drop(DropReason::Ethertype),
    }
}

fn screen_arp(payload: &[u8], me: &Identity) -> Verdict {
    if payload.len() < ARP_IPV4_LEN {
        return Verdict::Drop(DropReason::Runt);
    }
    let Ok(packet) = ArpPacket::new_checked(payload) else {
        return Verdict::Drop(DropReason::ArpBad);
    };
    let Ok(ArpRepr::EthernetIpv4 {
        operation,
        target_protocol_addr,
        ..
    }) = ArpRepr::parse(&packet)
    else {
        return Verdict::Drop(DropReason::ArpBad);
    };
    let ours = me.address.is_some_and(|(a, _)| a == target_protocol_addr);
    match operation {
        _ if !ours => Verdict::Drop(DropReason::ArpOther),
        ArpOperation::Request => Verdict::ArpRequest,
        ArpOperation::Reply => Verdict::Stack,
        _ => Verdict::Drop(DropReason::ArpBad),
    }
}

fn screen_ipv4(payload: &[u8], me: &Identity) -> Verdict {
    if payload.len() < IPV4_MIN_HEADER {
        return Verdict::Drop(DropReason::Runt);
    }
    let Ok(ip) = Ipv4Packet::new_checked(payload) else {
        return Verdict::Drop(DropReason::IpHeader);
    };
    if ip.version() != 4 || usize::from(ip.header_len()) < IPV4_MIN_HEADER {
        return Verdict::Drop(DropReason::IpHeader);
    }
    if !ip.verify_checksum() {
        return Verdict::Drop(DropReason::IpChecksum);
    }
    let data_len = ip.total_len() - u16::from(ip.header_len());
    if u32::from(ip.frag_offset()) + u32::from(data_len) > 65535 {
        return Verdict::Drop(DropReason::FragOffset);
    }
    let dst = ip.dst_addr();
    let fragment = ip.more_frags() || ip.frag_offset() != 0;
    if me.is_ours(dst) {
        if fragment {
            return Verdict::Drop(DropReason::Fragment);
        }
        return Verdict::Stack;
    }
    if me.dhcp && !fragment && ip.next_header() == IpProtocol::Udp {
        let header = usize::from(ip.header_len());
        let total = usize::from(ip.total_len());
        if let Some(udp) = payload
            .get(header..total)
            .and_then(|p| UdpPacket::new_checked(p).ok())
        {
            if udp.dst_port() == DHCP_CLIENT_PORT {
                return Verdict::Stack;
            }
        }
    }
    if dst.is_multicast() || dst.is_unspecified() || dst.is_loopback() {
        return Verdict::Drop(DropReason::NotOurs);
    }
    Verdict::Transit
}
