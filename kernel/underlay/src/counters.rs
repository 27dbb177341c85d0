//! Per-interface counters: what the NIC moved, and every frame it dropped, by reason.

/// Why a received frame was dropped before (or instead of) reaching the IP stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than its headers (Ethernet, ARP or IPv4).
    Runt,
    /// Longer than the interface MTU plus the Ethernet header.
    Oversized,
    /// An ethertype the appliance does not speak (neither IPv4 nor ARP).
    Ethertype,
    /// IPv6 (the underlay is IPv4 only).
    Ipv6,
    /// IPv4 header inconsistent: version, header length, total length.
    IpHeader,
    /// IPv4 header checksum wrong.
    IpChecksum,
    /// A fragment whose offset plus length passes 65535.
    FragOffset,
    /// A well-formed fragment for the appliance itself (not reassembled).
    Fragment,
    /// ARP packet malformed (hardware/protocol types, lengths, operation).
    ArpBad,
    /// ARP for an address that is not the interface's.
    ArpOther,
    /// ARP requests beyond the rate limit.
    ArpFlood,
    /// Unicast to another MAC, or IPv4 for another host with no data plane attached.
    NotOurs,
    /// The receive backlog was full.
    Backlog,
}

impl DropReason {
    pub const ALL: [DropReason; 13] = [
        DropReason::Runt,
        DropReason::Oversized,
        DropReason::Ethertype,
        DropReason::Ipv6,
        DropReason::IpHeader,
        DropReason::IpChecksum,
        DropReason::FragOffset,
        DropReason::Fragment,
        DropReason::ArpBad,
        DropReason::ArpOther,
        DropReason::ArpFlood,
        DropReason::NotOurs,
        DropReason::Backlog,
    ];

    /// The name the console shows.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Runt => "runt",
            DropReason::Oversized => "oversized",
            DropReason::Ethertype => "ethertype",
            DropReason::Ipv6 => "ipv6",
            DropReason::IpHeader => "ip-header",
            DropReason::IpChecksum => "ip-checksum",
            DropReason::FragOffset => "frag-offset",
            DropReason::Fragment => "fragment",
            DropReason::ArpBad => "arp-bad",
            DropReason::ArpOther => "arp-other",
            DropReason::ArpFlood => "arp-flood",
            DropReason::NotOurs => "not-ours",
            DropReason::Backlog => "backlog",
        }
    }
}

/// Counters of one interface. They only grow (wrapping at 2^64).
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Descriptors the device returned inconsistent.
    pub rx_errors: u64,
    /// Frames that could not be queued (queue full, no buffer, device error).
    pub tx_errors: u64,
    drops: [u64; DropReason::ALL.len()],
}

impl Counters {
    pub fn received(&mut self, bytes: usize) {
        self.rx_packets = self.rx_packets.wrapping_add(1);
        self.rx_bytes = self.rx_bytes.wrapping_add(bytes as u64);
    }
    pub fn sent(&mut self, bytes: usize) {
        self.tx_packets = self.tx_packets.wrapping_add(1);
        self.tx_bytes = self.tx_bytes.wrapping_add(bytes as u64);
    }
    pub fn dropped(&mut self, why: DropReason) {
        let i = why as usize;
        self.drops[i] = self.drops[i].wrapping_add(1);
    }
    pub fn drops(&self, why: DropReason) -> u64 {
        self.drops[why as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_counter_and_name() {
        let mut c = Counters::default();
        for (i, why) in DropReason::ALL.iter().enumerate() {
            for _ in 0..=i {
                c.dropped(*why);
            }
        }
        for (i, why) in DropReason::ALL.iter().enumerate() {
            assert_eq!(c.drops(*why), i as u64 + 1, "{}", why.name());
        }
        let mut names: std::vec::Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::ALL.len());
        c.received(60);
        c.sent(42);
        assert_eq!(
            (c.rx_packets, c.rx_bytes, c.tx_packets, c.tx_bytes),
            (1, 60, 1, 42)
        );
    }
}
