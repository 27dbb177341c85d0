//! Gateways over the real DTLS engine on a fabric with a NAT in front of some of them,
//! and an attacker who injects datagrams from any address: for the roaming tests.
//!
//! Side `i` has lan 10.(i+1).0.0/24 (host .10) and wan address `local`. A side behind
//! the NAT reaches the fabric only through it: its datagrams leave with the NAT's
//! public address and the port of its current mapping; datagrams to a port with no
//! live mapping are dropped by the NAT (and counted). The NAT can be told to move the
//! mapping to a new port (a rebinding) and forgets mappings idle for `idle`.
#![cfg(feature = "dtls")]

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
};
use vnetcrypt_dtls::{Config, Identity, PeerPolicy};
use vnetcrypt_gateway::dtls::DtlsLayer;
use vnetcrypt_gateway::{
    Destination, Enforcement, Gateway, GatewayConfig, Instant, Ipv4Prefix, PeerConfig, Verdict,
};

use super::pkt;

pub type Gw = Gateway<DtlsLayer>;

pub const NAT_PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

pub struct Side {
    pub gw: Gw,
    pub local: SocketAddrV4,
    pub behind_nat: bool,
    pub identity: Identity,
    pub received: Vec<Vec<u8>>,
}

/// One inside host's mapping.
pub struct Nat {
    pub port: Option<u16>,
    /// A port forwarded to the inside host for good (never expires or moves).
    pub static_port: Option<u16>,
    pub last_out: Instant,
    pub idle: Duration,
    next_port: u16,
    /// Datagrams the NAT dropped: for a port with no live mapping.
    pub dropped: u64,
}

/// A datagram on the fabric.
#[derive(Clone, Debug)]
pub struct Wire {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub data: Vec<u8>,
}

pub struct NatNet {
    pub now: Instant,
    pub sides: Vec<Side>,
    pub nat: Nat,
    wire: VecDeque<(Instant, Wire)>,
    /// Everything that crossed the fabric (after the NAT), for an attacker to replay.
    pub seen: Vec<Wire>,
}

pub fn local(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, i as u8 + 1), 4433)
}

pub fn private_local(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 99, 0, i as u8 + 2), 4433)
}

pub fn host_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, i as u8 + 1, 0, 10)
}

fn gw_mac(i: usize) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 0, i as u8, 1])
}

fn host_mac(i: usize) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 1, i as u8, 10])
}

impl NatNet {
    /// `behind[i]`: side `i` sits behind the NAT (its wan address is private).
    /// `peers(i, j)`: what side `i` configures as side `j`'s endpoint.
    pub fn new(
        seed: u64,
        behind: &[bool],
        peers: impl Fn(usize, usize) -> Option<SocketAddrV4>,
    ) -> NatNet {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let n = behind.len();
        let ids: Vec<Identity> = (0..n)
            .map(|i| Identity::generate(&mut rng, &format!("gw{i}")).unwrap())
            .collect();
        let sides = (0..n)
            .map(|i| {
                let local = if behind[i] {
                    private_local(i)
                } else {
                    local(i)
                };
                let mut cfg = GatewayConfig::new(
                    gw_mac(i),
                    Ipv4Addr::new(10, i as u8 + 1, 0, 1),
                    vec![Ipv4Prefix::new(Ipv4Addr::new(10, i as u8 + 1, 0, 0), 24).unwrap()],
                    local,
                );
                cfg.enforcement = Enforcement::DropUnencrypted;
                let mut s = [0u8; 32];
                s[..8].copy_from_slice(&(seed * 31 + i as u64).to_le_bytes());
                let layer = DtlsLayer::new(Config::new(ids[i].clone(), PeerPolicy::AnyKey), s);
                let mut gw = Gateway::new(cfg, layer);
                for j in (0..n).filter(|j| *j != i) {
                    gw.add_peer(PeerConfig {
                        name: format!("gw{j}"),
                        endpoint: peers(i, j),
                        fingerprint: ids[j].fingerprint(),
                        second_pin: None,
                        prefixes: vec![
                            Ipv4Prefix::new(Ipv4Addr::new(10, j as u8 + 1, 0, 0), 24).unwrap()
                        ],
                        enforcement: None,
                        transit: false,
                    })
                    .unwrap();
                }
                Side {
                    gw,
                    local,
                    behind_nat: behind[i],
                    identity: ids[i].clone(),
                    received: Vec::new(),
                }
            })
            .collect();
        NatNet {
            now: Instant::from_millis(1),
            sides,
            nat: Nat {
                port: None,
                static_port: None,
                last_out: Instant::ZERO,
                idle: Duration::from_secs(30),
                next_port: 40_000,
                dropped: 0,
            },
            wire: VecDeque::new(),
            seen: Vec::new(),
        }
    }

    /// Changes every side's engine configuration (before traffic).
    pub fn configure(&mut self, f: impl Fn(&mut GatewayConfig)) {
        for s in &mut self.sides {
            let mut cfg = s.gw.config().clone();
            f(&mut cfg);
            let peers: Vec<PeerConfig> = s.gw.peers().map(|(_, p)| p.clone()).collect();
            let layer = DtlsLayer::new(
                Config::new(s.identity.clone(), PeerPolicy::AnyKey),
                [s.local.ip().octets()[3]; 32],
            );
            s.gw = Gateway::new(cfg, layer);
            for p in peers {
                s.gw.add_peer(p).unwrap();
            }
        }
    }

    /// The NAT moves the inside host to a new public port: the old mapping is gone.
    pub fn rebind(&mut self) {
        if self.nat.port.is_some() {
            self.nat.next_port += 1;
            self.nat.port = Some(self.nat.next_port);
        }
    }

    /// The NAT's current public address for the inside host.
    pub fn public(&self) -> Option<SocketAddrV4> {
        self.nat
            .static_port
            .or(self.nat.port)
            .map(|p| SocketAddrV4::new(NAT_PUBLIC, p))
    }

    fn nat_out(&mut self, src: SocketAddrV4) -> SocketAddrV4 {
        if let Some(p) = self.nat.static_port {
            return SocketAddrV4::new(NAT_PUBLIC, p);
        }
        let expired = self.now.saturating_since(self.nat.last_out) >= self.nat.idle;
        if self.nat.port.is_none() || expired {
            self.nat.next_port += 1;
            self.nat.port = Some(self.nat.next_port);
        }
        self.nat.last_out = self.now;
        let _ = src;
        SocketAddrV4::new(NAT_PUBLIC, self.nat.port.unwrap())
    }

    /// The inside address a datagram to the NAT's `port` goes to, if mapped now.
    fn nat_in(&mut self, port: u16) -> Option<SocketAddrV4> {
        let inside = self.sides.iter().find(|s| s.behind_nat)?.local;
        if self.nat.static_port == Some(port) {
            return Some(inside);
        }
        let live = self.now.saturating_since(self.nat.last_out) < self.nat.idle;
        (self.nat.port == Some(port) && live).then_some(inside)
    }

    /// Takes the datagrams in flight that `pick` chooses off the fabric (to deliver
    /// late, with `inject`).
    pub fn withhold(&mut self, pick: impl Fn(&Wire) -> bool) -> Vec<Wire> {
        let (taken, kept): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|(_, w)| pick(w));
        self.wire = kept.into();
        taken.into_iter().map(|(_, w)| w).collect()
    }

    /// An attacker's datagram, from any address.
    pub fn inject(&mut self, src: SocketAddrV4, dst: SocketAddrV4, data: Vec<u8>) {
        self.wire.push_back((self.now, Wire { src, dst, data }));
    }

    fn send(&mut self, i: usize, dst: SocketAddrV4, data: Vec<u8>) {
        let mut src = self.sides[i].local;
        if self.sides[i].behind_nat {
            src = self.nat_out(src);
        }
        let w = Wire { src, dst, data };
        self.seen.push(w.clone());
        self.wire
            .push_back((self.now + Duration::from_millis(1), w));
    }

    /// Side `i`'s host sends a UDP packet to side `j`'s host.
    pub fn host_send(&mut self, i: usize, j: usize, payload: &[u8]) {
        let ip = pkt::udp(host_ip(i), host_ip(j), 1000, 2000, payload, false);
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(gw_mac(i).as_bytes());
        f[6..12].copy_from_slice(host_mac(i).as_bytes());
        f[12..14].copy_from_slice(&[8, 0]);
        f.extend_from_slice(&ip);
        self.lan_in(i, &f);
    }

    fn lan_in(&mut self, i: usize, frame: &[u8]) {
        let h = Gw::HEADROOM;
        let mut buf = vec![0u8; h + frame.len() + Gw::TAILROOM];
        buf[h..h + frame.len()].copy_from_slice(frame);
        let now = self.now;
        match self.sides[i]
            .gw
            .handle_lan_frame(now, &mut buf, h, frame.len())
        {
            Verdict::ToPeer { to, datagram } => {
                let d = datagram.to_vec();
                self.send(i, to, d);
            }
            Verdict::ToLan { frame } => {
                let f = frame.to_vec();
                self.lan_out(i, f);
            }
            Verdict::ToWanClear { .. } => panic!("plaintext on wan"),
            _ => {}
        }
    }

    /// A frame a gateway put on its lan: the host answers ARP and takes the rest.
    fn lan_out(&mut self, i: usize, frame: Vec<u8>) {
        let f = EthernetFrame::new_checked(&frame[..]).unwrap();
        if f.ethertype() != EthernetProtocol::Arp {
            self.sides[i].received.push(f.payload().to_vec());
            return;
        }
        let Ok(ArpRepr::EthernetIpv4 {
            operation,
            target_protocol_addr,
            source_hardware_addr,
            source_protocol_addr,
            ..
        }) = ArpRepr::parse(&ArpPacket::new_checked(f.payload()).unwrap())
        else {
            return;
        };
        if operation != ArpOperation::Request || target_protocol_addr != host_ip(i) {
            return;
        }
        let mut b = vec![0u8; 42];
        let mut e = EthernetFrame::new_unchecked(&mut b[..]);
        e.set_dst_addr(source_hardware_addr);
        e.set_src_addr(host_mac(i));
        e.set_ethertype(EthernetProtocol::Arp);
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: host_mac(i),
            source_protocol_addr: host_ip(i),
            target_hardware_addr: source_hardware_addr,
            target_protocol_addr: source_protocol_addr,
        }
        .emit(&mut ArpPacket::new_unchecked(e.payload_mut()));
        self.lan_in(i, &b);
    }

    /// One millisecond: deliveries due, timers, transmissions.
    pub fn step(&mut self) {
        self.now = self.now + Duration::from_millis(1);
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|(t, _)| *t <= now);
        self.wire.extend(later);
        for (_, mut w) in due {
            if *w.dst.ip() == NAT_PUBLIC {
                match self.nat_in(w.dst.port()) {
                    Some(inside) => w.dst = inside,
                    None => {
                        self.nat.dropped += 1;
                        continue;
                    }
                }
            }
            let Some(to) = self.sides.iter().position(|s| s.local == w.dst) else {
                continue;
            };
            let n = w.data.len();
            let v = self.sides[to]
                .gw
                .handle_wan_datagram(now, w.src, &mut w.data, 0, n);
            if let Verdict::ToLan { frame } = v {
                let f = frame.to_vec();
                self.lan_out(to, f);
            }
        }
        for i in 0..self.sides.len() {
            if self.sides[i].gw.poll_timeout().is_some_and(|t| t <= now) {
                self.sides[i].gw.handle_timeout(now);
            }
            loop {
                let mut buf = vec![0u8; Gw::BUFFER_LEN];
                let Some(t) = self.sides[i].gw.poll_transmit(now, &mut buf) else {
                    break;
                };
                buf.truncate(t.len);
                match t.destination {
                    Destination::Peer(to) => self.send(i, to, buf),
                    Destination::Lan => self.lan_out(i, buf),
                    Destination::WanClear => panic!("plaintext on wan"),
                }
            }
        }
    }

    pub fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.step();
        }
    }

    /// UDP payloads side `i`'s host received.
    pub fn payloads(&self, i: usize) -> Vec<Vec<u8>> {
        self.sides[i]
            .received
            .iter()
            .filter_map(|p| pkt::udp_payload(p))
            .collect()
    }
}
