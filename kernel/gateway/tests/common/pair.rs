//! Two established gateways taken out of a simulation, for the allocation test and the
//! benchmark: frames go A(lan) → A(wan) → B(wan) → B(lan) through caller buffers only.

use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::wire::EthernetAddress;
use vnetcrypt_gateway::{Enforcement, Instant, Verdict};

use super::pkt;
use super::sim::{Gw, World};

pub struct Pair {
    pub a: Gw,
    pub b: Gw,
    pub now: Instant,
    a_wan: SocketAddrV4,
    a_lan_mac: EthernetAddress,
    host_a: (EthernetAddress, Ipv4Addr),
    host_b: Ipv4Addr,
}

impl Pair {
    /// Builds the pair and establishes the session (and ARP) with one packet each way.
    pub fn new(seed: u64) -> Pair {
        let mut w = World::new(2, 1, Enforcement::DropUnencrypted, seed);
        let (a1, b1) = (w.host(0, 0), w.host(1, 0));
        let (ia, ib) = (w.hosts[a1].ip, w.hosts[b1].ip);
        w.send(a1, pkt::udp(ia, ib, 1, 2, b"warmup", false));
        w.send(b1, pkt::udp(ib, ia, 2, 1, b"warmup", false));
        w.run(20);
        assert_eq!(w.udp_received(b1).len(), 1);
        assert_eq!(w.udp_received(a1).len(), 1);
        let host_a = (w.hosts[a1].mac, ia);
        let now = w.now;
        let mut nodes = w.nodes.into_iter();
        let na = nodes.next().unwrap();
        let nb = nodes.next().unwrap();
        Pair {
            a_wan: na.wan,
            a_lan_mac: na.lan_mac,
            a: na.gw,
            b: nb.gw,
            now,
            host_a,
            host_b: ib,
        }
    }

    /// A lan frame from host A to host B: a UDP packet of `ip_len` bytes in total.
    pub fn frame(&self, ip_len: usize, sport: u16) -> Vec<u8> {
        let payload = vec![0x5a; ip_len - 28];
        let ip = pkt::udp(self.host_a.1, self.host_b, sport, 9, &payload, false);
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(self.a_lan_mac.as_bytes());
        f[6..12].copy_from_slice(self.host_a.0.as_bytes());
        f[12..14].copy_from_slice(&[8, 0]);
        f.extend_from_slice(&ip);
        f
    }

    /// Offset at which a lan frame must be placed in a buffer.
    pub const FRAME_OFFSET: usize = Gw::HEADROOM;

    /// Sends the frame at `buf[FRAME_OFFSET..FRAME_OFFSET + len]` through A then B;
    /// returns the length of the frame B delivers on its lan, or 0 if anything else
    /// happened. The buffer is transformed in place.
    pub fn encap_decap(&mut self, buf: &mut [u8], len: usize) -> usize {
        let now = self.now;
        let (start, dlen) = match self.a.handle_lan_frame(now, buf, Self::FRAME_OFFSET, len) {
            Verdict::ToPeer { datagram, .. } => (datagram.as_ptr() as usize, datagram.len()),
            _ => return 0,
        };
        let off = start - buf.as_ptr() as usize;
        match self.b.handle_wan_datagram(now, self.a_wan, buf, off, dlen) {
            Verdict::ToLan { frame } => frame.len(),
            _ => 0,
        }
    }
}
