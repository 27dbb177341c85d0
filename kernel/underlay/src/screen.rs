//! Screening of received frames before the IP stack sees them: malformed and foreign
//! frames are dropped here with a reason, so that every drop is counted (smoltcp drops
//! silently), and frames for other hosts are set aside for the gateway data plane.
//!
//! Guarantees: any byte string is accepted without panicking (all parsing goes through
//! `smoltcp::wire`'s checked constructors or explicit length checks).

use crate::counters::DropReason;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const US: [u8; 6] = [0x52, 0x54, 0, 0, 0, 2];
    const HOST: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
    const BCAST: [u8; 6] = [0xff; 6];

    fn me() -> Identity {
        Identity {
            mac: EthernetAddress(US),
            address: Some((Ipv4Addr::new(10, 0, 0, 2), 24)),
            mtu: 1500,
            dhcp: false,
        }
    }

    fn eth(dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&HOST);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn checksum(h: &[u8]) -> u16 {
        let mut sum: u32 = h
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// An IPv4 header (20 bytes, valid checksum) + payload, with the knobs the tests turn.
    fn ipv4(
        dst: [u8; 4],
        proto: u8,
        payload: &[u8],
        frag: u16,
        fix: impl Fn(&mut [u8]),
    ) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut h = Vec::new();
        h.extend_from_slice(&[0x45, 0]);
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&[0x12, 0x34]);
        h.extend_from_slice(&frag.to_be_bytes());
        h.extend_from_slice(&[64, proto, 0, 0]);
        h.extend_from_slice(&[10, 0, 0, 1]);
        h.extend_from_slice(&dst);
        fix(&mut h);
        let c = checksum(&h[..20]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h.extend_from_slice(payload);
        h
    }

    fn udp(dst_port: u16) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&40000u16.to_be_bytes());
        u.extend_from_slice(&dst_port.to_be_bytes());
        u.extend_from_slice(&13u16.to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(b"hello");
        u
    }

    fn arp_packet(op: u16, target: [u8; 4]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
        a.extend_from_slice(&op.to_be_bytes());
        a.extend_from_slice(&HOST);
        a.extend_from_slice(&[10, 0, 0, 1]);
        a.extend_from_slice(&[0; 6]);
        a.extend_from_slice(&target);
        a
    }

    fn to_us(dst: [u8; 4]) -> Vec<u8> {
        eth(US, 0x0800, &ipv4(dst, 17, &udp(9), 0, |_| {}))
    }

    #[test]
    fn well_formed_traffic_for_us_goes_to_the_stack() {
        assert_eq!(screen(&to_us([10, 0, 0, 2]), &me()), Verdict::Stack);
        // Subnet and limited broadcast.
        let b = eth(
            BCAST,
            0x0800,
            &ipv4([10, 0, 0, 255], 17, &udp(9), 0, |_| {}),
        );
        assert_eq!(screen(&b, &me()), Verdict::Stack);
        let b = eth(BCAST, 0x0800, &ipv4([255; 4], 17, &udp(9), 0, |_| {}));
        assert_eq!(screen(&b, &me()), Verdict::Stack);
        // A full 1514-byte frame is not oversized at MTU 1500.
        let full = eth(US, 0x0800, &ipv4([10, 0, 0, 2], 17, &[0; 1480], 0, |_| {}));
        assert_eq!(full.len(), 1514);
        assert_eq!(screen(&full, &me()), Verdict::Stack);
    }

    #[test]
    fn runts() {
        for len in 0..14 {
            assert_eq!(
                screen(&[0u8; 14][..len], &me()),
                Verdict::Drop(DropReason::Runt)
            );
        }
        assert_eq!(
            screen(&eth(US, 0x0800, &[]), &me()),
            Verdict::Drop(DropReason::Runt)
        );
        assert_eq!(
            screen(&eth(US, 0x0800, &[0x45; 19]), &me()),
            Verdict::Drop(DropReason::Runt)
        );
        assert_eq!(
            screen(
                &eth(BCAST, 0x0806, &arp_packet(1, [10, 0, 0, 2])[..27]),
                &me()
            ),
            Verdict::Drop(DropReason::Runt)
        );
    }

    #[test]
    fn oversized_against_the_configured_mtu() {
        let big = eth(US, 0x0800, &ipv4([10, 0, 0, 2], 17, &[0; 1481], 0, |_| {}));
        assert_eq!(screen(&big, &me()), Verdict::Drop(DropReason::Oversized));
        let jumbo = Identity { mtu: 9000, ..me() };
        assert_eq!(screen(&big, &jumbo), Verdict::Stack);
    }

    #[test]
    fn bad_ipv4_headers() {
        let bad = |fix: fn(&mut [u8])| eth(US, 0x0800, &ipv4([10, 0, 0, 2], 17, &udp(9), 0, fix));
        let ihl_3 = bad(|h| h[0] = 0x43);
        assert_eq!(screen(&ihl_3, &me()), Verdict::Drop(DropReason::IpHeader));
        let version_6 = bad(|h| h[0] = 0x65);
        assert_eq!(
            screen(&version_6, &me()),
            Verdict::Drop(DropReason::IpHeader)
        );
        let too_long = bad(|h| h[2..4].copy_from_slice(&1400u16.to_be_bytes()));
        assert_eq!(
            screen(&too_long, &me()),
            Verdict::Drop(DropReason::IpHeader)
        );
        let shorter_than_header = bad(|h| h[2..4].copy_from_slice(&10u16.to_be_bytes()));
        assert_eq!(
            screen(&shorter_than_header, &me()),
            Verdict::Drop(DropReason::IpHeader)
        );
        let mut csum = to_us([10, 0, 0, 2]);
        csum[14 + 11] ^= 1;
        assert_eq!(screen(&csum, &me()), Verdict::Drop(DropReason::IpChecksum));
    }

    #[test]
    fn fragments() {
        // Offset 8190 * 8 = 65520, plus 100 bytes: beyond 65535.
        let absurd = eth(
            US,
            0x0800,
            &ipv4([10, 0, 0, 2], 17, &[0; 100], 8190, |_| {}),
        );
        assert_eq!(
            screen(&absurd, &me()),
            Verdict::Drop(DropReason::FragOffset)
        );
        // The same data at the largest offset that still fits is a plain fragment.
        let edge = eth(US, 0x0800, &ipv4([10, 0, 0, 2], 17, &[0; 15], 8190, |_| {}));
        assert_eq!(screen(&edge, &me()), Verdict::Drop(DropReason::Fragment));
        let first = eth(
            US,
            0x0800,
            &ipv4([10, 0, 0, 2], 17, &udp(9), 0x2000, |_| {}),
        );
        assert_eq!(screen(&first, &me()), Verdict::Drop(DropReason::Fragment));
        // Fragments in transit are the data plane's business.
        let transit = eth(
            US,
            0x0800,
            &ipv4([192, 0, 2, 7], 17, &udp(9), 0x2000, |_| {}),
        );
        assert_eq!(screen(&transit, &me()), Verdict::Transit);
    }

    #[test]
    fn ethertypes() {
        assert_eq!(
            screen(&eth(US, 0x86dd, &[0x60; 40]), &me()),
            Verdict::Drop(DropReason::Ipv6)
        );
        assert_eq!(
            screen(&eth(US, 0x88b5, &[0; 46]), &me()),
            Verdict::Drop(DropReason::Ethertype)
        );
        assert_eq!(
            screen(&eth(US, 0x8100, &[0; 46]), &me()),
            Verdict::Drop(DropReason::Ethertype)
        );
    }

    #[test]
    fn arp_requests_and_replies() {
        let req = |target| eth(BCAST, 0x0806, &arp_packet(1, target));
        assert_eq!(screen(&req([10, 0, 0, 2]), &me()), Verdict::ArpRequest);
        assert_eq!(
            screen(&req([10, 0, 0, 9]), &me()),
            Verdict::Drop(DropReason::ArpOther)
        );
        let no_address = Identity {
            address: None,
            ..me()
        };
        assert_eq!(
            screen(&req([10, 0, 0, 2]), &no_address),
            Verdict::Drop(DropReason::ArpOther)
        );
        let reply = eth(US, 0x0806, &arp_packet(2, [10, 0, 0, 2]));
        assert_eq!(screen(&reply, &me()), Verdict::Stack);
        let mut odd_op = arp_packet(7, [10, 0, 0, 2]);
        assert_eq!(
            screen(&eth(BCAST, 0x0806, &odd_op), &me()),
            Verdict::Drop(DropReason::ArpBad)
        );
        odd_op[7] = 1;
        odd_op[1] = 6; // hardware type IEEE 802
        assert_eq!(
            screen(&eth(BCAST, 0x0806, &odd_op), &me()),
            Verdict::Drop(DropReason::ArpBad)
        );
    }

    #[test]
    fn other_hosts_and_macs() {
        assert_eq!(
            screen(
                &eth(HOST, 0x0800, &ipv4([10, 0, 0, 2], 17, &udp(9), 0, |_| {})),
                &me()
            ),
            Verdict::Drop(DropReason::NotOurs)
        );
        assert_eq!(screen(&to_us([192, 0, 2, 7]), &me()), Verdict::Transit);
        let mcast = eth(BCAST, 0x0800, &ipv4([224, 0, 0, 22], 2, &[0; 8], 0, |_| {}));
        assert_eq!(screen(&mcast, &me()), Verdict::Drop(DropReason::NotOurs));
    }

    #[test]
    fn dhcp_replies_reach_the_client_before_it_has_an_address() {
        let offer = eth(US, 0x0800, &ipv4([10, 0, 0, 123], 17, &udp(68), 0, |_| {}));
        let client = Identity {
            address: None,
            dhcp: true,
            ..me()
        };
        assert_eq!(screen(&offer, &client), Verdict::Stack);
        let no_client = Identity {
            address: None,
            ..me()
        };
        assert_eq!(screen(&offer, &no_client), Verdict::Transit);
    }

    #[test]
    fn garbage_and_mutations_never_panic() {
        let mut s: u32 = 0x1234_5678;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s
        };
        let ids = [
            me(),
            Identity {
                address: None,
                dhcp: true,
                mtu: 9000,
                ..me()
            },
        ];
        for len in 0..1600 {
            let frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            for id in &ids {
                let _ = screen(&frame, id);
            }
        }
        // Every single-byte change of valid frames (IPv4/UDP, ARP).
        for base in [
            to_us([10, 0, 0, 2]),
            eth(BCAST, 0x0806, &arp_packet(1, [10, 0, 0, 2])),
        ] {
            for i in 0..base.len() {
                for v in [0u8, 1, 0x0f, 0x45, 0x80, 0xff, next() as u8] {
                    let mut f = base.clone();
                    f[i] = v;
                    for id in &ids {
                        let _ = screen(&f, id);
                    }
                }
                // And every truncation.
                let _ = screen(&base[..i], &ids[0]);
            }
        }
    }
}
