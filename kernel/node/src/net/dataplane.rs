//! Hooks for the gateway data plane on top of the NICs: the UDP socket that carries
//! DTLS on wan, raw IPv4 output for packets the data plane forwards in the clear, and
//! a tap that gives the data plane a copy of every ARP frame on lan (it resolves
//! workloads and answers proxy ARP itself).
//!
//! The sockets belong to the NIC's smoltcp interface, so ARP resolution and routing of
//! what the data plane sends on wan is the interface's (static route or DHCP).

use super::nic::Nic;
use super::Interfaces;
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddrV4;
use smoltcp::socket::{raw, udp};
use smoltcp::wire::{IpEndpoint, IpProtocol, IpVersion};
use vnetcrypt_console::config::Iface;

/// Datagrams the DTLS socket buffers each way.
const UDP_PACKETS: usize = 128;
/// Bytes of payload it buffers each way.
const UDP_BYTES: usize = UDP_PACKETS * 1600;
/// Packets each raw (clear-forwarding) socket buffers for sending.
const RAW_PACKETS: usize = 32;
/// Protocols the data plane can forward in the clear on wan.
const RAW_PROTOCOLS: [IpProtocol; 3] = [IpProtocol::Tcp, IpProtocol::Udp, IpProtocol::Icmp];

fn packet_buffer<'a>(packets: usize, bytes: usize) -> udp::PacketBuffer<'a> {
    udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; packets], vec![0u8; bytes])
}

impl Nic {
    /// Binds the data plane's UDP socket to `port` (closing an earlier one).
    pub fn udp_open(&mut self, port: u16) {
        if self.dataplane.udp.is_some_and(|(p, _)| p == port) {
            return;
        }
        if let Some((_, h)) = self.dataplane.udp.take() {
            self.sockets.remove(h);
        }
        let mut s = udp::Socket::new(
            packet_buffer(UDP_PACKETS, UDP_BYTES),
            packet_buffer(UDP_PACKETS, UDP_BYTES),
        );
        if s.bind(port).is_ok() {
            self.dataplane.udp = Some((port, self.sockets.add(s)));
        }
    }

    /// The next datagram on the data plane's UDP socket, copied into `buf`.
    pub fn udp_recv(&mut self, buf: &mut [u8]) -> Option<(usize, SocketAddrV4)> {
        let (_, h) = self.dataplane.udp?;
        let s = self.sockets.get_mut::<udp::Socket>(h);
        loop {
            match s.recv_slice(buf) {
                Ok((n, meta)) => {
                    let smoltcp::wire::IpAddress::Ipv4(ip) = meta.endpoint.addr;
                    return Some((n, SocketAddrV4::new(ip, meta.endpoint.port)));
                }
                // Larger than any record we accept: dropped (counted), try the next.
                Err(udp::RecvError::Truncated) => self.dataplane.truncated += 1,
                Err(udp::RecvError::Exhausted) => return None,
            }
        }
    }

    /// Queues a datagram from the data plane's UDP socket; false when the socket's
    /// buffer is full or no socket is open.
    pub fn udp_send(&mut self, data: &[u8], to: SocketAddrV4) -> bool {
        let Some((_, h)) = self.dataplane.udp else {
            return false;
        };
        let s = self.sockets.get_mut::<udp::Socket>(h);
        s.send_slice(data, IpEndpoint::new((*to.ip()).into(), to.port()))
            .is_ok()
    }

    /// Queues an IPv4 packet to be routed out of this NIC as it is (the data plane's
    /// clear forwarding). False for protocols other than TCP, UDP and ICMP, or when the
    /// socket's buffer is full.
    pub fn ip_send(&mut self, packet: &[u8]) -> bool {
        let Some(&proto) = packet.get(9) else {
            return false;
        };
        let proto = IpProtocol::from(proto);
        if !RAW_PROTOCOLS.contains(&proto) {
            return false;
        }
        let h = match self.dataplane.raw.iter().find(|(p, _)| *p == proto) {
            Some(&(_, h)) => h,
            None => {
                // Nothing is ever received on these sockets: a receive buffer with no
                // room makes smoltcp discard their copies of incoming packets.
                let rx = raw::PacketBuffer::new(Vec::new(), Vec::new());
                let tx = raw::PacketBuffer::new(
                    vec![raw::PacketMetadata::EMPTY; RAW_PACKETS],
                    vec![0u8; RAW_PACKETS * 1600],
                );
                let h = self
                    .sockets
                    .add(raw::Socket::new(IpVersion::Ipv4, proto, rx, tx));
                self.dataplane.raw.push((proto, h));
                h
            }
        };
        self.sockets
            .get_mut::<raw::Socket>(h)
            .send_slice(packet)
            .is_ok()
    }
}

impl Interfaces {
    /// The NIC in `role`, for the data plane.
    pub fn nic_for_dataplane(&mut self, role: Iface) -> Option<&mut Nic> {
        self.nic_mut(role)
    }

    /// Datagrams dropped on the data plane's wan UDP port for being too large.
    pub fn dataplane_truncated(&self) -> u64 {
        self.nic(Iface::Wan).map_or(0, |n| n.dataplane.truncated)
    }

    /// Turns the data plane's hooks on (transit frames kept, ARP tapped on lan, and
    /// on wan, where the frame path learns its next hops' MACs from it).
    pub fn enable_dataplane(&mut self, on: bool) {
        self.set_transit(on);
        for role in [Iface::Lan, Iface::Wan] {
            if let Some(nic) = self.nic_mut(role) {
                nic.dataplane.arp_tap = on;
            }
        }
    }

    /// Sends an Ethernet frame built by the data plane on `role` (copied into a pool
    /// buffer). False when no buffer or no room.
    pub fn send_copy(&mut self, role: Iface, frame: &[u8]) -> bool {
        if !self.can_send(role) {
            return false;
        }
        let Some(mut buf) = self.buffer() else {
            return false;
        };
        buf.reset();
        if !buf.set_len(frame.len()) {
            self.recycle(buf);
            return false;
        }
        buf.frame_mut().copy_from_slice(frame);
        self.send(role, buf)
    }
}

/// The local port flow records to a collector leave from.
pub(crate) const COLLECTOR_PORT: u16 = 49_999;

impl Nic {
    /// Sends one datagram to a flow-log collector from [`COLLECTOR_PORT`] (a socket
    /// of its own, opened on first use). False when its buffer is full.
    pub fn collector_send(&mut self, data: &[u8], to: SocketAddrV4) -> bool {
        let h = match self.dataplane.collector {
            Some(h) => h,
            None => {
                let mut s = udp::Socket::new(packet_buffer(1, 64), packet_buffer(16, 16 * 1500));
                if s.bind(COLLECTOR_PORT).is_err() {
                    return false;
                }
                let h = self.sockets.add(s);
                self.dataplane.collector = Some(h);
                h
            }
        };
        let s = self.sockets.get_mut::<udp::Socket>(h);
        s.send_slice(data, IpEndpoint::new((*to.ip()).into(), to.port()))
            .is_ok()
    }
}
