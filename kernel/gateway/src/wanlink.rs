//! A ready-made [`WanNeighbours`] for a caller whose IP stack owns wan ARP: it routes
//! (on-link, or the router) and learns next-hop MACs passively from the ARP frames the
//! caller sees on wan, while the IP stack keeps asking and answering (one owner).
//!
//! Learning follows RFC 826's merge rule: any ARP frame refreshes an address already
//! known (a moved router announces itself), a new address is added only from a frame
//! for our own address (the answer to the IP stack's request, or a request to us).
//! ARP is unauthenticated: a fabric attacker can misdirect records, which stay sealed
//! and authenticated (it could as well drop them); only on-link senders are learned.

use core::net::Ipv4Addr;
use core::time::Duration;

use smoltcp::wire::EthernetAddress;
use smoltcp::wire::{ArpRepr, EthernetFrame, EthernetProtocol};

use crate::arp::{self, Neighbours};
use crate::engine::WanNeighbours;
use vnetcrypt_types::Instant;
use vnetcrypt_types::Ipv4Prefix;

/// Our wan interface as the frame path needs it.
#[derive(Debug)]
pub struct WanLink {
    mac: EthernetAddress,
    ip: Ipv4Addr,
    subnet: Ipv4Prefix,
    router: Option<Ipv4Addr>,
    neighbours: Neighbours,
}

impl WanLink {
    /// Our wan MAC and address, its on-link prefix, the router for everything else,
    /// and how long a learned MAC stays usable without being confirmed again.
    pub fn new(
        mac: EthernetAddress,
        ip: Ipv4Addr,
        subnet: Ipv4Prefix,
        router: Option<Ipv4Addr>,
        lifetime: Duration,
    ) -> Self {
        Self {
            mac,
            ip,
            subnet,
            router,
            neighbours: Neighbours::new(lifetime),
        }
    }

    /// The next hop toward `dst`: itself on-link, else the router.
    pub fn next_hop(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        if self.subnet.contains(dst) {
            Some(dst)
        } else {
            self.router
        }
    }

    /// Learns from a whole Ethernet frame received on wan if it is ARP (see the module
    /// documentation); true if it taught or refreshed an entry.
    pub fn learn_arp(&mut self, now: Instant, frame: &[u8]) -> bool {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return false;
        };
        if eth.ethertype() != EthernetProtocol::Arp {
            return false;
        }
        let Some(ArpRepr::EthernetIpv4 {
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_protocol_addr: tpa,
            ..
        }) = arp::parse(eth.payload())
        else {
            return false;
        };
        if !self.subnet.contains(spa) || spa == self.ip || !sha.is_unicast() || sha == self.mac {
            return false;
        }
        let known = self.neighbours.lookup(now, spa).is_some();
        if !known && tpa != self.ip {
            return false;
        }
        self.neighbours.learn(now, spa, sha);
        true
    }
}

impl WanNeighbours for WanLink {
    fn our_mac(&self) -> EthernetAddress {
        self.mac
    }

    fn next_hop_mac(&mut self, now: Instant, dst: Ipv4Addr) -> Option<EthernetAddress> {
        self.neighbours.lookup(now, self.next_hop(dst)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::ArpOperation;

    const US: EthernetAddress = EthernetAddress([2, 0, 0, 2, 0, 1]);
    const ROUTER: EthernetAddress = EthernetAddress([2, 0, 0, 9, 9, 1]);
    const PEER: EthernetAddress = EthernetAddress([2, 0, 0, 2, 1, 1]);

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn link() -> WanLink {
        WanLink::new(
            US,
            ip("192.0.2.1"),
            Ipv4Prefix::new(ip("192.0.2.0"), 24).unwrap(),
            Some(ip("192.0.2.254")),
            Duration::from_secs(60),
        )
    }

    fn arp_frame(op: ArpOperation, sha: EthernetAddress, spa: &str, tpa: &str) -> [u8; 42] {
        let repr = ArpRepr::EthernetIpv4 {
            operation: op,
            source_hardware_addr: sha,
            source_protocol_addr: ip(spa),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: ip(tpa),
        };
        let mut b = [0u8; 42];
        arp::emit(&mut b, EthernetAddress::BROADCAST, &repr).unwrap();
        b
    }

    #[test]
    fn routes_on_link_or_by_the_router() {
        let mut l = link();
        let t = Instant::from_millis(1);
        assert_eq!(l.next_hop(ip("192.0.2.7")), Some(ip("192.0.2.7")));
        assert_eq!(l.next_hop(ip("198.51.100.7")), Some(ip("192.0.2.254")));
        assert_eq!(l.next_hop_mac(t, ip("198.51.100.7")), None);
        // The router answers the IP stack's request: learned, used for off-link.
        let reply = arp_frame(ArpOperation::Reply, ROUTER, "192.0.2.254", "192.0.2.1");
        assert!(l.learn_arp(t, &reply));
        assert_eq!(l.next_hop_mac(t, ip("198.51.100.7")), Some(ROUTER));
        assert_eq!(
            l.next_hop_mac(t, ip("192.0.2.2")),
            None,
            "on-link: not the router"
        );
        // Forgotten after the lifetime without confirmation.
        let later = t + Duration::from_secs(61);
        assert_eq!(l.next_hop_mac(later, ip("198.51.100.7")), None);
    }

    #[test]
    fn learns_only_what_concerns_us() {
        let mut l = link();
        let t = Instant::from_millis(1);
        // A request between two other hosts teaches nothing new.
        let other = arp_frame(ArpOperation::Request, PEER, "192.0.2.2", "192.0.2.3");
        assert!(!l.learn_arp(t, &other));
        // Off-link senders, our own address or MAC, non-ARP frames: never.
        let off = arp_frame(ArpOperation::Reply, PEER, "198.51.100.2", "192.0.2.1");
        assert!(!l.learn_arp(t, &off));
        let ours = arp_frame(ArpOperation::Reply, PEER, "192.0.2.1", "192.0.2.1");
        assert!(!l.learn_arp(t, &ours));
        let our_mac = arp_frame(ArpOperation::Reply, US, "192.0.2.2", "192.0.2.1");
        assert!(!l.learn_arp(t, &our_mac));
        let mut ipv4 = other;
        ipv4[12..14].copy_from_slice(&[8, 0]);
        assert!(!l.learn_arp(t, &ipv4));
        assert!(!l.learn_arp(t, &[0u8; 10]));
        assert_eq!(l.next_hop_mac(t, ip("192.0.2.2")), None);
        // A request to us teaches its sender; then any ARP of it refreshes (merge).
        let to_us = arp_frame(ArpOperation::Request, PEER, "192.0.2.2", "192.0.2.1");
        assert!(l.learn_arp(t, &to_us));
        assert_eq!(l.next_hop_mac(t, ip("192.0.2.2")), Some(PEER));
        let moved = EthernetAddress([2, 0, 0, 2, 1, 2]);
        let announce = arp_frame(ArpOperation::Request, moved, "192.0.2.2", "192.0.2.2");
        assert!(l.learn_arp(t, &announce));
        assert_eq!(l.next_hop_mac(t, ip("192.0.2.2")), Some(moved));
    }
}
