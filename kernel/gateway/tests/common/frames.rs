//! Two gateways that speak only whole Ethernet frames on both sides (the frame path:
//! `process_lan_frame`, `process_wan_frame`, `poll_frame`), over any session layer, on
//! a virtual clock. Each side keeps one buffer that every frame it handles lives in;
//! the wan link between the sides is a plain queue of frames.
//!
//! Addresses follow the other harnesses: side `i` has lan MAC 02:00:00:00:i:01, lan
//! 10.(i+1).0.1/24, wan endpoint 192.0.2.(i+1):4433, wan MAC 02:00:00:02:i:01, and one
//! workload 10.(i+1).0.10 with MAC 02:00:00:01:i:0a.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::time::Duration;

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
};
use vnetcrypt_gateway::engine::{FrameVerdict, WanNeighbours};
use vnetcrypt_gateway::session::SessionLayer;
use vnetcrypt_gateway::{Gateway, Instant};

/// A side's view of the wan link: both wan addresses are on-link.
#[derive(Clone, Debug)]
pub struct Link {
    pub mac: EthernetAddress,
    pub known: Vec<(Ipv4Addr, EthernetAddress)>,
}

impl WanNeighbours for Link {
    fn our_mac(&self) -> EthernetAddress {
        self.mac
    }
    fn next_hop_mac(&mut self, _now: Instant, dst: Ipv4Addr) -> Option<EthernetAddress> {
        self.known
            .iter()
            .find(|(ip, _)| *ip == dst)
            .map(|(_, m)| *m)
    }
}

pub fn lan_mac(i: usize) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 0, i as u8, 1])
}
pub fn wan_mac(i: usize) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 2, i as u8, 1])
}
pub fn wan_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, i as u8 + 1)
}
pub fn host_mac(i: usize) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 1, i as u8, 10])
}
pub fn host_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, i as u8 + 1, 0, 10)
}

pub struct Side<L: SessionLayer> {
    pub gw: Gateway<L>,
    pub link: Link,
    /// The one buffer every frame of this side is handled in.
    pub buf: Vec<u8>,
    /// IPv4 packets the workload received.
    pub delivered: Vec<Vec<u8>>,
    /// Verdicts that handed wan traffic back without outer headers.
    pub unframed: Vec<FrameVerdict>,
    /// Frames the gateway left to the host stack.
    pub to_host: usize,
}

pub struct FramePair<L: SessionLayer> {
    pub now: Instant,
    pub sides: [Side<L>; 2],
    /// Frames in flight on wan: (to side, frame).
    pub wire: VecDeque<(usize, Vec<u8>)>,
    lan_in: [VecDeque<Vec<u8>>; 2],
    /// Every frame that crossed wan.
    pub wire_log: Vec<Vec<u8>>,
}

impl<L: SessionLayer> FramePair<L> {
    pub fn new(gws: [Gateway<L>; 2], now: Instant) -> Self {
        let sides = gws.map(|gw| Side {
            buf: vec![0u8; gw.frame_buffer_len()],
            gw,
            link: Link {
                mac: EthernetAddress([0; 6]),
                known: (0..2).map(|j| (wan_ip(j), wan_mac(j))).collect(),
            },
            delivered: Vec::new(),
            unframed: Vec::new(),
            to_host: 0,
        });
        let mut p = FramePair {
            now,
            sides,
            wire: VecDeque::new(),
            lan_in: [VecDeque::new(), VecDeque::new()],
            wire_log: Vec::new(),
        };
        for i in 0..2 {
            p.sides[i].link.mac = wan_mac(i);
        }
        p
    }

    /// The lan frame workload `i` sends to its gateway carrying `ip`.
    pub fn lan_frame(i: usize, ip: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(lan_mac(i).as_bytes());
        f[6..12].copy_from_slice(host_mac(i).as_bytes());
        f[12..14].copy_from_slice(&[8, 0]);
        f.extend_from_slice(ip);
        f
    }

    /// Workload `i` sends the IPv4 packet `ip` (handled at the next step).
    pub fn send(&mut self, i: usize, ip: &[u8]) {
        self.lan_in[i].push_back(Self::lan_frame(i, ip));
    }

    /// Handles lan frame `frame` on side `i` right now, in the side's buffer.
    pub fn lan_now(&mut self, i: usize, frame: &[u8]) -> FrameVerdict {
        let now = self.now;
        let s = &mut self.sides[i];
        let off = Gateway::<L>::FRAME_OFFSET;
        s.buf[off..off + frame.len()].copy_from_slice(frame);
        let v =
            s.gw.process_lan_frame(now, &mut s.buf, off, frame.len(), &mut s.link);
        self.dispatch(i, v.clone());
        v
    }

    /// Handles wan frame `frame` on side `i` right now, in the side's buffer.
    pub fn wan_now(&mut self, i: usize, frame: &[u8]) -> FrameVerdict {
        let now = self.now;
        let s = &mut self.sides[i];
        s.buf[..frame.len()].copy_from_slice(frame);
        let v =
            s.gw.process_wan_frame(now, &mut s.buf, 0, frame.len(), &mut s.link);
        self.dispatch(i, v.clone());
        v
    }

    /// Sends what side `i`'s verdict names out of its buffer.
    fn dispatch(&mut self, i: usize, v: FrameVerdict) {
        let bytes = |r: &Range<usize>| self.sides[i].buf[r.clone()].to_vec();
        match &v {
            FrameVerdict::ToWan(r) => {
                let f = bytes(r);
                self.wire_log.push(f.clone());
                self.wire.push_back((1 - i, f));
            }
            FrameVerdict::ToLan(r) => {
                let f = bytes(r);
                self.workload(i, &f);
            }
            FrameVerdict::ToPeer { .. } | FrameVerdict::ToWanClear { .. } => {
                self.sides[i].unframed.push(v)
            }
            FrameVerdict::Host => self.sides[i].to_host += 1,
            FrameVerdict::Consumed | FrameVerdict::Dropped(_) => {}
        }
    }

    /// Workload `i` receives a frame: answers ARP for itself, keeps IPv4.
    fn workload(&mut self, i: usize, f: &[u8]) {
        let eth = EthernetFrame::new_checked(f).expect("a whole Ethernet frame on lan");
        match eth.ethertype() {
            EthernetProtocol::Ipv4 => {
                assert_eq!(eth.dst_addr(), host_mac(i), "lan frame to the workload");
                assert_eq!(eth.src_addr(), lan_mac(i));
                self.sides[i].delivered.push(eth.payload().to_vec());
            }
            EthernetProtocol::Arp => {
                let a = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
                if let ArpRepr::EthernetIpv4 {
                    operation: ArpOperation::Request,
                    source_hardware_addr,
                    source_protocol_addr,
                    target_protocol_addr,
                    ..
                } = a
                {
                    if target_protocol_addr == host_ip(i) {
                        let reply = ArpRepr::EthernetIpv4 {
                            operation: ArpOperation::Reply,
                            source_hardware_addr: host_mac(i),
                            source_protocol_addr: host_ip(i),
                            target_hardware_addr: source_hardware_addr,
                            target_protocol_addr: source_protocol_addr,
                        };
                        let mut b = vec![0u8; 14 + reply.buffer_len()];
                        let mut e = EthernetFrame::new_unchecked(&mut b[..]);
                        e.set_dst_addr(source_hardware_addr);
                        e.set_src_addr(host_mac(i));
                        e.set_ethertype(EthernetProtocol::Arp);
                        reply.emit(&mut ArpPacket::new_unchecked(e.payload_mut()));
                        self.lan_in[i].push_back(b);
                    }
                }
            }
            _ => panic!("unexpected frame on lan"),
        }
    }

    /// One virtual millisecond: lan input, wan input, timers, the engines' output.
    pub fn step(&mut self) {
        self.now = self.now + Duration::from_millis(1);
        for i in 0..2 {
            while let Some(f) = self.lan_in[i].pop_front() {
                self.lan_now(i, &f);
            }
            let arrived: Vec<Vec<u8>> = self
                .wire
                .iter()
                .filter(|(to, _)| *to == i)
                .map(|(_, f)| f.clone())
                .collect();
            self.wire.retain(|(to, _)| *to != i);
            for f in arrived {
                self.wan_now(i, &f);
            }
            let now = self.now;
            if self.sides[i].gw.poll_timeout().is_some_and(|t| t <= now) {
                self.sides[i].gw.handle_timeout(now);
            }
            loop {
                let s = &mut self.sides[i];
                let Some(v) = s.gw.poll_frame(now, &mut s.buf, &mut s.link) else {
                    break;
                };
                self.dispatch(i, v);
            }
        }
    }

    pub fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.step();
        }
    }

    /// Sends one packet each way and runs until both arrived (sessions and ARP set up).
    pub fn establish(&mut self) {
        let a = super::pkt::udp(host_ip(0), host_ip(1), 1, 2, b"warmup", false);
        let b = super::pkt::udp(host_ip(1), host_ip(0), 2, 1, b"warmup", false);
        self.send(0, &a);
        self.send(1, &b);
        for _ in 0..2000 {
            self.step();
            if !self.sides[0].delivered.is_empty() && !self.sides[1].delivered.is_empty() {
                break;
            }
        }
        assert_eq!(self.sides[1].delivered, vec![a], "established 0 -> 1");
        assert_eq!(self.sides[0].delivered, vec![b], "established 1 -> 0");
        self.run(50);
        self.sides[0].delivered.clear();
        self.sides[1].delivered.clear();
    }

    /// Carries the lan frame at `buf[FRAME_OFFSET..][..len]` from side `from` to the
    /// other side's lan without ever leaving `buf`: the frame `from` sends on wan is
    /// handed to the other engine where it lies. The range of the lan frame delivered,
    /// and the bytes each engine copied meanwhile.
    pub fn carry_in_place(
        &mut self,
        from: usize,
        buf: &mut [u8],
        len: usize,
    ) -> (Option<Range<usize>>, [u64; 2]) {
        let now = self.now;
        let before = [0, 1].map(|i| self.sides[i].gw.bytes_copied());
        let off = Gateway::<L>::FRAME_OFFSET;
        let [a, b] = &mut self.sides;
        let (tx, rx) = if from == 0 { (a, b) } else { (b, a) };
        let out = match tx.gw.process_lan_frame(now, buf, off, len, &mut tx.link) {
            FrameVerdict::ToWan(r) => {
                match rx
                    .gw
                    .process_wan_frame(now, buf, r.start, r.len(), &mut rx.link)
                {
                    FrameVerdict::ToLan(r) => Some(r),
                    _ => None,
                }
            }
            _ => None,
        };
        let after = [0, 1].map(|i| self.sides[i].gw.bytes_copied() - before[i]);
        (out, after)
    }
}
