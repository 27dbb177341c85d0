//! Lan-side ARP: the neighbour cache of workloads' MACs and the frames we send (requests
//! to resolve workloads, replies for our own address and, with proxy ARP, for peer
//! prefixes). Fixed capacity; the least recently confirmed entry makes room.

use core::net::Ipv4Addr;
use core::time::Duration;

use heapless::IndexMap;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr,
};

use crate::Instant;

/// Neighbours remembered at once.
pub const NEIGHBOURS: usize = 256;

/// Length of an ARP frame over Ethernet (without padding).
pub const ARP_FRAME_LEN: usize = 14 + 28;

/// The cache of lan neighbours.
#[derive(Debug)]
pub struct Neighbours {
    map: IndexMap<Ipv4Addr, (EthernetAddress, Instant), crate::hash::BuildWordHasher, NEIGHBOURS>,
    lifetime: Duration,
}

impl Neighbours {
    /// An empty cache whose entries live `lifetime` after their last confirmation.
    pub fn new(lifetime: Duration) -> Self {
        Self {
            map: IndexMap::new(),
            lifetime,
        }
    }

    /// The MAC of `ip`, if known and fresh.
    pub fn lookup(&self, now: Instant, ip: Ipv4Addr) -> Option<EthernetAddress> {
        let (mac, at) = self.map.get(&ip)?;
        (now.saturating_since(*at) < self.lifetime).then_some(*mac)
    }

    /// Whether `ip` is known but past half its lifetime: time to ask again, so that a
    /// neighbour we only hear IP traffic from (a router we check sources against)
    /// never expires while it is in use.
    pub fn stale(&self, now: Instant, ip: Ipv4Addr) -> bool {
        self.map
            .get(&ip)
            .is_some_and(|(_, at)| now.saturating_since(*at) >= self.lifetime / 2)
    }

    /// Records `ip` at `mac`.
    pub fn learn(&mut self, now: Instant, ip: Ipv4Addr, mac: EthernetAddress) {
        if let Some(e) = self.map.get_mut(&ip) {
            *e = (mac, now);
            return;
        }
        if self.map.len() == NEIGHBOURS {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.map.swap_remove(&k);
            }
        }
        let _ = self.map.insert(ip, (mac, now));
    }
}

/// A parsed ARP frame addressed to (or broadcast on) our lan.
pub fn parse(frame_payload: &[u8]) -> Option<ArpRepr> {
    let pkt = ArpPacket::new_checked(frame_payload).ok()?;
    ArpRepr::parse(&pkt).ok()
}

/// Writes an ARP frame into `buf`; its length. `buf` must hold [`ARP_FRAME_LEN`] bytes.
pub fn emit(buf: &mut [u8], eth_dst: EthernetAddress, repr: &ArpRepr) -> Option<usize> {
    let ArpRepr::EthernetIpv4 {
        source_hardware_addr,
        ..
    } = repr
    else {
        return None;
    };
    let buf = buf.get_mut(..ARP_FRAME_LEN)?;
    let mut frame = EthernetFrame::new_unchecked(buf);
    EthernetRepr {
        src_addr: *source_hardware_addr,
        dst_addr: eth_dst,
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut frame);
    let mut pkt = ArpPacket::new_unchecked(frame.payload_mut());
    repr.emit(&mut pkt);
    Some(ARP_FRAME_LEN)
}

/// A who-has request for `target`.
pub fn request(our_mac: EthernetAddress, our_ip: Ipv4Addr, target: Ipv4Addr) -> ArpRepr {
    ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: our_mac,
        source_protocol_addr: our_ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    }
}

/// The reply to a request from `asker` (`asker_mac`) for `answered_ip`, at `our_mac`.
pub fn reply(
    our_mac: EthernetAddress,
    answered_ip: Ipv4Addr,
    asker_mac: EthernetAddress,
    asker_ip: Ipv4Addr,
) -> ArpRepr {
    ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: our_mac,
        source_protocol_addr: answered_ip,
        target_hardware_addr: asker_mac,
        target_protocol_addr: asker_ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M1: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const M2: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    #[test]
    fn cache_expires_and_evicts() {
        let mut n = Neighbours::new(Duration::from_secs(10));
        let a: Ipv4Addr = "10.1.0.5".parse().unwrap();
        n.learn(Instant::ZERO, a, M1);
        assert_eq!(n.lookup(Instant::from_millis(9_999), a), Some(M1));
        assert_eq!(n.lookup(Instant::from_millis(10_000), a), None);
        n.learn(Instant::from_millis(10_000), a, M2);
        assert_eq!(n.lookup(Instant::from_millis(10_001), a), Some(M2));
        for i in 0..NEIGHBOURS as u32 {
            n.learn(
                Instant::from_millis(20_000 + u64::from(i)),
                Ipv4Addr::from(0x0b00_0000 + i),
                M1,
            );
        }
        // The oldest (a) made room.
        assert_eq!(n.lookup(Instant::from_millis(20_000), a), None);
    }

    #[test]
    fn request_round_trips_through_bytes() {
        let mut buf = [0u8; 64];
        let r = request(M1, "10.1.0.1".parse().unwrap(), "10.1.0.5".parse().unwrap());
        let n = emit(&mut buf, EthernetAddress::BROADCAST, &r).unwrap();
        let f = EthernetFrame::new_checked(&buf[..n]).unwrap();
        assert_eq!(f.ethertype(), EthernetProtocol::Arp);
        assert_eq!(f.dst_addr(), EthernetAddress::BROADCAST);
        assert_eq!(parse(f.payload()), Some(r));
        assert_eq!(parse(&buf[14..20]), None);
    }
}
