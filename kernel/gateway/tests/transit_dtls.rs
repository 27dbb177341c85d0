//! Transit over the real DTLS layer: a hub and two spokes, each spoke pinning only the
//! hub. Spoke-to-spoke traffic is opened and re-sealed by the hub; turning transit off
//! for one spoke stops it.
#![cfg(feature = "dtls")]

mod common;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use common::pkt;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
};
use vnetcrypt_dtls::{Config, Identity, PeerPolicy};
use vnetcrypt_gateway::dtls::DtlsLayer;
use vnetcrypt_gateway::{
    Destination, DropReason, Enforcement, Gateway, GatewayConfig, Instant, Ipv4Prefix, PeerConfig,
    PeerId, Verdict,
};

type Gw = Gateway<DtlsLayer>;

struct Site {
    gw: Gw,
    wan: SocketAddrV4,
    mac: EthernetAddress,
    host_mac: EthernetAddress,
    host_ip: Ipv4Addr,
    received: Vec<Vec<u8>>,
    /// The peer ids this site uses, by site index.
    peers: Vec<(usize, PeerId)>,
}

struct Net {
    now: Instant,
    sites: Vec<Site>,
    /// (due, from, to, datagram)
    wire: VecDeque<(Instant, SocketAddrV4, SocketAddrV4, Vec<u8>)>,
    /// Every datagram and clear packet that crossed the fabric.
    log: Vec<Vec<u8>>,
    clear: usize,
}

fn prefix(i: usize) -> Ipv4Prefix {
    Ipv4Prefix::new(Ipv4Addr::new(10, i as u8 + 1, 0, 0), 24).unwrap()
}

impl Net {
    /// Site 0 is the hub; sites 1 and 2 peer only with it.
    fn hub_and_spokes(seed: u64) -> Net {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let ids: Vec<Identity> = (0..3)
            .map(|i| Identity::generate(&mut rng, &format!("gw{i}")).unwrap())
            .collect();
        let wan = |i: usize| SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, i as u8 + 1), 4433);
        let mut sites: Vec<Site> = (0..3)
            .map(|i| {
                let mac = EthernetAddress([2, 0, 0, 0, i as u8, 1]);
                let mut cfg = GatewayConfig::new(
                    mac,
                    Ipv4Addr::new(10, i as u8 + 1, 0, 1),
                    vec![prefix(i)],
                    wan(i),
                );
                cfg.enforcement = Enforcement::DropUnencrypted;
                let mut s = [0u8; 32];
                s[0] = i as u8 + 1;
                s[1..9].copy_from_slice(&seed.to_le_bytes());
                let layer = DtlsLayer::new(Config::new(ids[i].clone(), PeerPolicy::AnyKey), s);
                Site {
                    gw: Gateway::new(cfg, layer),
                    wan: wan(i),
                    mac,
                    host_mac: EthernetAddress([2, 0, 0, 1, i as u8, 10]),
                    host_ip: Ipv4Addr::new(10, i as u8 + 1, 0, 10),
                    received: Vec::new(),
                    peers: Vec::new(),
                }
            })
            .collect();
        let links: [(usize, usize, Vec<Ipv4Prefix>, bool); 4] = [
            (0, 1, vec![prefix(1)], true),
            (0, 2, vec![prefix(2)], true),
            // Each spoke lists the other spoke's prefix under the hub.
            (1, 0, vec![prefix(0), prefix(2)], false),
            (2, 0, vec![prefix(0), prefix(1)], false),
        ];
        for (on, of, prefixes, transit) in links {
            let id = sites[on]
                .gw
                .add_peer(PeerConfig {
                    name: format!("gw{of}"),
                    endpoint: Some(wan(of)),
                    fingerprint: ids[of].fingerprint(),
                    second_pin: None,
                    prefixes,
                    enforcement: None,
                    transit,
                })
                .unwrap();
            sites[on].peers.push((of, id));
        }
        Net {
            now: Instant::from_millis(1),
            sites,
            wire: VecDeque::new(),
            log: Vec::new(),
            clear: 0,
        }
    }

    fn peer_id(&self, on: usize, of: usize) -> PeerId {
        self.sites[on]
            .peers
            .iter()
            .find(|(j, _)| *j == of)
            .unwrap()
            .1
    }

    fn host_send(&mut self, from: usize, to: usize, payload: &[u8]) {
        let s = &self.sites[from];
        let ip = pkt::udp(
            s.host_ip,
            self.sites[to].host_ip,
            1000,
            2000,
            payload,
            false,
        );
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(s.mac.as_bytes());
        f[6..12].copy_from_slice(s.host_mac.as_bytes());
        f[12..14].copy_from_slice(&[8, 0]);
        f.extend_from_slice(&ip);
        self.lan_in(from, &f);
    }

    fn lan_in(&mut self, i: usize, frame: &[u8]) {
        let h = Gw::HEADROOM;
        let mut buf = vec![0u8; h + frame.len() + Gw::TAILROOM];
        buf[h..h + frame.len()].copy_from_slice(frame);
        let now = self.now;
        let v = self.sites[i]
            .gw
            .handle_lan_frame(now, &mut buf, h, frame.len());
        self.out(i, v);
    }

    fn out(&mut self, i: usize, v: Verdict<'_>) {
        match v {
            Verdict::ToPeer { to, datagram } => {
                self.log.push(datagram.to_vec());
                let from = self.sites[i].wan;
                self.wire.push_back((
                    self.now + Duration::from_millis(1),
                    from,
                    to,
                    datagram.to_vec(),
                ));
            }
            Verdict::ToWanClear { packet } => {
                self.log.push(packet.to_vec());
                self.clear += 1;
            }
            Verdict::ToLan { frame } => {
                let f = frame.to_vec();
                self.lan_out(i, f);
            }
            Verdict::Consumed | Verdict::Dropped(_) => {}
        }
    }

    /// A frame on site `i`'s lan: its host answers ARP and takes IPv4.
    fn lan_out(&mut self, i: usize, frame: Vec<u8>) {
        let f = EthernetFrame::new_checked(&frame[..]).unwrap();
        if f.ethertype() != EthernetProtocol::Arp {
            self.sites[i].received.push(f.payload().to_vec());
            return;
        }
        let Ok(ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        }) = ArpRepr::parse(&ArpPacket::new_checked(f.payload()).unwrap())
        else {
            return;
        };
        let s = &self.sites[i];
        if target_protocol_addr != s.host_ip {
            return;
        }
        let mut b = vec![0u8; 42];
        let mut e = EthernetFrame::new_unchecked(&mut b[..]);
        e.set_dst_addr(source_hardware_addr);
        e.set_src_addr(s.host_mac);
        e.set_ethertype(EthernetProtocol::Arp);
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: s.host_mac,
            source_protocol_addr: s.host_ip,
            target_hardware_addr: source_hardware_addr,
            target_protocol_addr: source_protocol_addr,
        }
        .emit(&mut ArpPacket::new_unchecked(e.payload_mut()));
        self.lan_in(i, &b);
    }

    fn step(&mut self) {
        self.now = self.now + Duration::from_millis(1);
        let now = self.now;
        while self.wire.front().is_some_and(|(t, ..)| *t <= now) {
            let (_, from, to, mut d) = self.wire.pop_front().unwrap();
            let Some(i) = self.sites.iter().position(|s| s.wan == to) else {
                continue;
            };
            let n = d.len();
            let v = self.sites[i]
                .gw
                .handle_wan_datagram(now, from, &mut d, 0, n);
            self.out(i, v);
        }
        for i in 0..self.sites.len() {
            if self.sites[i].gw.poll_timeout().is_some_and(|t| t <= now) {
                self.sites[i].gw.handle_timeout(now);
            }
            loop {
                let mut buf = vec![0u8; Gw::BUFFER_LEN];
                let Some(t) = self.sites[i].gw.poll_transmit(now, &mut buf) else {
                    break;
                };
                let v = match t.destination {
                    Destination::Peer(to) => Verdict::ToPeer {
                        to,
                        datagram: &mut buf[..t.len],
                    },
                    Destination::WanClear => Verdict::ToWanClear {
                        packet: &mut buf[..t.len],
                    },
                    Destination::Lan => Verdict::ToLan {
                        frame: &mut buf[..t.len],
                    },
                };
                self.out(i, v);
            }
        }
    }

    fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.step();
        }
    }

    fn payloads(&self, i: usize, marker: &[u8]) -> usize {
        self.sites[i]
            .received
            .iter()
            .filter_map(|p| pkt::udp_payload(p))
            .filter(|p| p.starts_with(marker))
            .count()
    }
}

#[test]
fn spokes_talk_through_the_hub_over_dtls_and_stop_when_transit_is_off() {
    let mut net = Net::hub_and_spokes(7);
    // The first packets bring up spoke 1 -> hub, then hub -> spoke 2.
    let mut tries = 0;
    while net.payloads(2, b"SECRET-hello") == 0 {
        tries += 1;
        assert!(tries < 20, "never relayed");
        net.host_send(1, 2, b"SECRET-hello");
        net.run(100);
    }
    for i in 0..20u8 {
        net.host_send(1, 2, &[b'S', b'E', b'C', b'R', b'E', b'T', b'1', i]);
        net.host_send(2, 1, &[b'S', b'E', b'C', b'R', b'E', b'T', b'2', i]);
        net.run(5);
    }
    net.run(50);
    assert_eq!(net.payloads(2, b"SECRET1"), 20);
    assert_eq!(net.payloads(1, b"SECRET2"), 20);
    assert_eq!(net.clear, 0);
    assert!(!net.log.iter().any(|d| d.windows(6).any(|w| w == b"SECRET")));
    let hub = net.sites[0].gw.counters();
    assert!(hub.relayed >= 41, "{}", hub.relayed);
    assert_eq!(hub.dropped(DropReason::Spoofed), 0);
    assert_eq!(
        hub.lan.tx_packets, 0,
        "nothing relayed went through the hub's lan"
    );
    // Transit off for spoke 2 at the hub: spoke 1's traffic stops there, sessions stay.
    let id = net.peer_id(0, 2);
    net.sites[0].gw.set_peer_transit(id, false).unwrap();
    for i in 0..5u8 {
        net.host_send(1, 2, &[b'L', b'A', b'T', b'E', i]);
        net.run(20);
    }
    assert_eq!(net.payloads(2, b"LATE"), 0);
    let hub = net.sites[0].gw.counters();
    assert_eq!(hub.dropped(DropReason::TransitRefused), 5);
    assert_eq!(net.clear, 0);
}
