//! A workload host on a fabric segment: an smoltcp interface (it answers ARP and ICMP
//! echo itself) with a UDP socket for transfers and a raw ICMP socket for pings.

use super::fabric::Shared;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::{raw, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpCidr, IpEndpoint, IpProtocol,
    IpVersion, Ipv4Packet, Ipv4Repr,
};
use std::net::{Ipv4Addr, SocketAddrV4};

/// The UDP port hosts send transfers to and from.
pub const PORT: u16 = 7000;
const ECHO_IDENT: u16 = 0x5a5a;

struct Wire {
    fabric: Shared,
    id: usize,
}

pub struct Rx(Vec<u8>);
pub struct Tx<'a>(&'a Wire);

impl phy::Device for Wire {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let frame = self.fabric.borrow_mut().take(self.id)?;
        Some((Rx(frame), Tx(self)))
    }
    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx(self))
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.0.fabric.borrow_mut().transmit(self.0.id, &frame);
        r
    }
}

pub struct Host {
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    wire: Wire,
    iface: Interface,
    sockets: SocketSet<'static>,
    udp: SocketHandle,
    icmp: SocketHandle,
    /// UDP payloads received on [`PORT`], with their source.
    pub received: Vec<(SocketAddrV4, Vec<u8>)>,
    /// Echo replies received (sequence numbers).
    pub echo_replies: Vec<u16>,
}

impl Host {
    /// A host at `ip/prefix` on `segment`, routing through `gateway`.
    pub fn new(
        fabric: &Shared,
        segment: usize,
        mac: [u8; 6],
        ip: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
        now_us: u64,
    ) -> Self {
        let id = fabric.borrow_mut().attach(segment);
        let mut wire = Wire {
            fabric: fabric.clone(),
            id,
        };
        let cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        let mut iface = Interface::new(cfg, &mut wire, Instant::from_micros(now_us as i64));
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(ip.into(), prefix));
        });
        if let Some(gw) = gateway {
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        let mut sockets = SocketSet::new(Vec::new());
        let buf =
            |n| udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; n], vec![0; n * 1500]);
        let mut u = udp::Socket::new(buf(256), buf(256));
        u.bind(PORT).expect("bind");
        let udp = sockets.add(u);
        let rbuf =
            |n| raw::PacketBuffer::new(vec![raw::PacketMetadata::EMPTY; n], vec![0; n * 1500]);
        let icmp = sockets.add(raw::Socket::new(
            IpVersion::Ipv4,
            IpProtocol::Icmp,
            rbuf(64),
            rbuf(64),
        ));
        Host {
            ip,
            mac,
            wire,
            iface,
            sockets,
            udp,
            icmp,
            received: Vec::new(),
            echo_replies: Vec::new(),
        }
    }

    pub fn poll(&mut self, now_us: u64) {
        let now = Instant::from_micros(now_us as i64);
        self.iface.poll(now, &mut self.wire, &mut self.sockets);
        let s = self.sockets.get_mut::<udp::Socket>(self.udp);
        while let Ok((data, meta)) = s.recv() {
            let smoltcp::wire::IpAddress::Ipv4(a) = meta.endpoint.addr;
            self.received
                .push((SocketAddrV4::new(a, meta.endpoint.port), data.to_vec()));
        }
        let r = self.sockets.get_mut::<raw::Socket>(self.icmp);
        while let Ok(packet) = r.recv() {
            let Ok(ip) = Ipv4Packet::new_checked(packet) else {
                continue;
            };
            let Ok(icmp) = Icmpv4Packet::new_checked(ip.payload()) else {
                continue;
            };
            if let Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }) =
                Icmpv4Repr::parse(&icmp, &ChecksumCapabilities::default())
            {
                if ident == ECHO_IDENT {
                    self.echo_replies.push(seq_no);
                }
            }
        }
    }

    /// Adds a socket of a test's own (a TCP client, an SNTP server).
    pub fn add_socket<T: smoltcp::socket::AnySocket<'static>>(&mut self, s: T) -> SocketHandle {
        self.sockets.add(s)
    }

    /// A socket added with [`Self::add_socket`], and the interface's context (which
    /// `tcp::Socket::connect` needs).
    pub fn socket<T: smoltcp::socket::AnySocket<'static>>(
        &mut self,
        h: SocketHandle,
    ) -> (&mut T, &mut smoltcp::iface::Context) {
        (self.sockets.get_mut(h), self.iface.context())
    }

    /// Queues a UDP datagram to `to` (from [`PORT`]); false when the socket is full.
    pub fn send_udp(&mut self, to: Ipv4Addr, data: &[u8]) -> bool {
        let s = self.sockets.get_mut::<udp::Socket>(self.udp);
        s.send_slice(data, IpEndpoint::new(to.into(), PORT)).is_ok()
    }

    /// Adds an address (a pod address on a Kubernetes-style node, say).
    pub fn add_address(&mut self, ip: Ipv4Addr, prefix: u8) {
        self.iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(ip.into(), prefix));
        });
    }

    /// As [`Self::send_udp`], from one of the host's other addresses.
    pub fn send_udp_from(&mut self, from: Ipv4Addr, to: Ipv4Addr, data: &[u8]) -> bool {
        let s = self.sockets.get_mut::<udp::Socket>(self.udp);
        let meta = udp::UdpMetadata {
            endpoint: IpEndpoint::new(to.into(), PORT),
            local_address: Some(from.into()),
            meta: Default::default(),
        };
        s.send_slice(data, meta).is_ok()
    }

    /// Queues an ICMP echo request to `to`.
    pub fn ping(&mut self, to: Ipv4Addr, seq_no: u16) {
        let data = [0xab; 56];
        let icmp = Icmpv4Repr::EchoRequest {
            ident: ECHO_IDENT,
            seq_no,
            data: &data,
        };
        let ip = Ipv4Repr {
            src_addr: self.ip,
            dst_addr: to,
            next_header: IpProtocol::Icmp,
            payload_len: icmp.buffer_len(),
            hop_limit: 64,
        };
        let mut packet = vec![0; ip.buffer_len() + icmp.buffer_len()];
        let caps = ChecksumCapabilities::default();
        let mut p = Ipv4Packet::new_unchecked(&mut packet[..]);
        ip.emit(&mut p, &caps);
        icmp.emit(&mut Icmpv4Packet::new_unchecked(p.payload_mut()), &caps);
        let r = self.sockets.get_mut::<raw::Socket>(self.icmp);
        r.send_slice(&packet).expect("raw socket has room");
    }
}
