//! A deterministic network of gateways, their lan hosts and a shared fabric, on a
//! virtual clock, with seeded loss and reordering on the fabric.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
};
use vnetcrypt_gateway::{
    Destination, Enforcement, Fingerprint, Gateway, GatewayConfig, Instant, Ipv4Prefix, PeerConfig,
    PeerId, Verdict,
};

use super::double::{Params, Rng, TestLayer};

pub type Gw = Gateway<TestLayer>;

/// What crossed the fabric.
#[derive(Clone, Debug)]
pub enum Wire {
    Dtls {
        from: SocketAddrV4,
        to: SocketAddrV4,
        data: Vec<u8>,
    },
    Clear {
        data: Vec<u8>,
    },
}

/// The fabric between wan interfaces.
#[derive(Debug)]
pub struct Fabric {
    rng: Rng,
    /// Loss probability in per mille.
    pub loss_permille: u64,
    /// Extra random delay (reordering), in ms, on top of `base_ms`.
    pub jitter_ms: u64,
    pub base_ms: u64,
    in_flight: Vec<(Instant, u64, Wire)>,
    seq: u64,
    /// Everything offered to the fabric (lost or not).
    pub log: Vec<Wire>,
    pub lost: u64,
}

impl Fabric {
    fn send(&mut self, now: Instant, w: Wire) {
        self.log.push(w.clone());
        if self.loss_permille > 0 && self.rng.below(1000) < self.loss_permille {
            self.lost += 1;
            return;
        }
        let delay = self.base_ms + self.rng.below(self.jitter_ms + 1);
        self.seq += 1;
        self.in_flight
            .push((now + Duration::from_millis(delay), self.seq, w));
    }

    fn due(&mut self, now: Instant) -> Vec<Wire> {
        let mut due: Vec<(Instant, u64, Wire)> = Vec::new();
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].0 <= now {
                due.push(self.in_flight.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|(t, s, _)| (*t, *s));
        due.into_iter().map(|(_, _, w)| w).collect()
    }
}

/// A workload on some gateway's lan.
#[derive(Debug)]
pub struct Host {
    pub mac: EthernetAddress,
    pub ip: Ipv4Addr,
    pub node: usize,
    /// IPv4 packets received.
    pub received: Vec<Vec<u8>>,
    /// Answers ARP requests for its address.
    pub answers_arp: bool,
}

/// A gateway and its wiring.
pub struct Node {
    pub gw: Gw,
    pub wan: SocketAddrV4,
    pub lan_mac: EthernetAddress,
    pub lan_ip: Ipv4Addr,
    pub prefix: Ipv4Prefix,
    pub peers: Vec<(usize, PeerId)>,
    lan_in: VecDeque<Vec<u8>>,
    /// Powered off (killed): receives, runs and sends nothing.
    pub off: bool,
}

/// The whole simulated network.
pub struct World {
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub hosts: Vec<Host>,
    pub fabric: Fabric,
    /// Clear packets for destinations behind no gateway (the internet).
    pub internet: Vec<Vec<u8>>,
    /// Frames gateways sent on lan that no host took (ARP requests excluded).
    pub lan_unclaimed: Vec<Vec<u8>>,
}

pub fn lan_net(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, i as u8 + 1, 0, 0)
}
pub fn wan_ep(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, i as u8 + 1), 4433)
}
pub fn fingerprint(i: usize) -> Fingerprint {
    Fingerprint([i as u8 + 1; 32])
}

impl World {
    /// `n` gateways, each with `hosts` workloads, all peered with each other (full mesh),
    /// under `enforcement`. Keys are derived from a secret drawn from `seed` at run time.
    pub fn new(n: usize, hosts: usize, enforcement: Enforcement, seed: u64) -> World {
        let mut rng = Rng::new(seed);
        let secret = rng.bytes32();
        let mut nodes = Vec::new();
        let mut all_hosts = Vec::new();
        for i in 0..n {
            let lan_mac = EthernetAddress([2, 0, 0, 0, i as u8, 1]);
            let lan_ip = Ipv4Addr::new(10, i as u8 + 1, 0, 1);
            let prefix = Ipv4Prefix::new(lan_net(i), 24).unwrap();
            let mut cfg = GatewayConfig::new(lan_mac, lan_ip, vec![prefix], wan_ep(i));
            cfg.enforcement = enforcement;
            cfg.handshake_retry = Duration::from_secs(5);
            let layer = TestLayer::new(fingerprint(i), secret, rng.next_u64());
            nodes.push(Node {
                gw: Gateway::new(cfg, layer),
                wan: wan_ep(i),
                lan_mac,
                lan_ip,
                prefix,
                peers: Vec::new(),
                lan_in: VecDeque::new(),
                off: false,
            });
            for h in 0..hosts {
                all_hosts.push(Host {
                    mac: EthernetAddress([2, 0, 0, 1, i as u8, h as u8 + 10]),
                    ip: Ipv4Addr::new(10, i as u8 + 1, 0, h as u8 + 10),
                    node: i,
                    received: Vec::new(),
                    answers_arp: true,
                });
            }
        }
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let prefix_j = nodes[j].prefix;
                    let id = nodes[i]
                        .gw
                        .add_peer(PeerConfig {
                            name: format!("gw{j}"),
                            endpoint: Some(wan_ep(j)),
                            fingerprint: fingerprint(j),
                            second_pin: None,
                            prefixes: vec![prefix_j],
                            enforcement: None,
                            transit: false,
                        })
                        .unwrap();
                    nodes[i].peers.push((j, id));
                }
            }
        }
        World {
            now: Instant::from_millis(1),
            nodes,
            hosts: all_hosts,
            fabric: Fabric {
                rng: Rng::new(seed.wrapping_mul(31).wrapping_add(7)),
                loss_permille: 0,
                jitter_ms: 0,
                base_ms: 1,
                in_flight: Vec::new(),
                seq: 0,
                log: Vec::new(),
                lost: 0,
            },
            internet: Vec::new(),
            lan_unclaimed: Vec::new(),
        }
    }

    /// The peer id that gateway `on` uses for gateway `of`.
    pub fn peer_id(&self, on: usize, of: usize) -> PeerId {
        self.nodes[on]
            .peers
            .iter()
            .find(|(j, _)| *j == of)
            .unwrap()
            .1
    }

    /// Host index `h` on gateway `node`.
    pub fn host(&self, node: usize, h: usize) -> usize {
        self.hosts
            .iter()
            .enumerate()
            .filter(|(_, x)| x.node == node)
            .nth(h)
            .unwrap()
            .0
    }

    /// Adds a workload (or a router) on gateway `node`'s lan; its index.
    pub fn add_host(&mut self, node: usize, ip: Ipv4Addr, mac: EthernetAddress) -> usize {
        self.hosts.push(Host {
            mac,
            ip,
            node,
            received: Vec::new(),
            answers_arp: true,
        });
        self.hosts.len() - 1
    }

    /// Changes how gateway `on` configures its peer `of` (removed and added again).
    pub fn change_peer(&mut self, on: usize, of: usize, f: impl FnOnce(&mut PeerConfig)) {
        let id = self.peer_id(on, of);
        let mut cfg = self.nodes[on].gw.remove_peer(id).unwrap();
        f(&mut cfg);
        let new_id = self.nodes[on].gw.add_peer(cfg).unwrap();
        self.nodes[on].peers.retain(|(j, _)| *j != of);
        self.nodes[on].peers.push((of, new_id));
    }

    /// Removes gateway `on`'s peer `of`.
    pub fn drop_peer(&mut self, on: usize, of: usize) {
        let id = self.peer_id(on, of);
        self.nodes[on].gw.remove_peer(id).unwrap();
        self.nodes[on].peers.retain(|(j, _)| *j != of);
    }

    /// A host sends an IPv4 packet to its gateway (its next hop).
    pub fn send(&mut self, host: usize, ip: Vec<u8>) {
        let h = &self.hosts[host];
        let node = &mut self.nodes[h.node];
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(node.lan_mac.as_bytes());
        f[6..12].copy_from_slice(h.mac.as_bytes());
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
        node.lan_in.push_back(f);
    }

    /// Injects a raw Ethernet frame on gateway `node`'s lan.
    pub fn inject_lan(&mut self, node: usize, frame: Vec<u8>) {
        self.nodes[node].lan_in.push_back(frame);
    }

    /// Puts something on the fabric directly (an attacker or a misrouted sender).
    pub fn inject_wan(&mut self, w: Wire) {
        let now = self.now;
        self.fabric.send(now, w);
    }

    /// Replaces gateway `i` by a fresh one with the same configuration (a reboot):
    /// sessions and state are lost.
    pub fn restart(&mut self, i: usize, seed: u64) {
        let node = &mut self.nodes[i];
        let cfg = node.gw.config().clone();
        let (secret, params) = {
            let l = node.gw.layer_mut();
            (l.secret(), l.params)
        };
        let peer_cfgs: Vec<(usize, PeerConfig)> = node
            .peers
            .iter()
            .map(|(j, id)| (*j, node.gw.peer(*id).unwrap().clone()))
            .collect();
        let mut layer = TestLayer::new(fingerprint(i), secret, seed);
        layer.params = params;
        let mut gw = Gateway::new(cfg, layer);
        node.peers = peer_cfgs
            .into_iter()
            .map(|(j, pc)| (j, gw.add_peer(pc).unwrap()))
            .collect();
        node.gw = gw;
        node.lan_in.clear();
    }

    /// Rebuilds gateway `i` with a changed configuration and session parameters
    /// (before any traffic).
    pub fn reconfigure(&mut self, i: usize, f: impl FnOnce(&mut GatewayConfig, &mut Params)) {
        let node = &mut self.nodes[i];
        let mut cfg = node.gw.config().clone();
        let (secret, mut params) = {
            let l = node.gw.layer_mut();
            (l.secret(), l.params)
        };
        f(&mut cfg, &mut params);
        let peer_cfgs: Vec<(usize, PeerConfig)> = node
            .peers
            .iter()
            .map(|(j, id)| (*j, node.gw.peer(*id).unwrap().clone()))
            .collect();
        let mut layer = TestLayer::new(fingerprint(i), secret, 4242 + i as u64);
        layer.params = params;
        let mut gw = Gateway::new(cfg, layer);
        node.peers = peer_cfgs
            .into_iter()
            .map(|(j, pc)| (j, gw.add_peer(pc).unwrap()))
            .collect();
        node.gw = gw;
    }

    /// Rebuilds gateway `i` with another wan MTU (before any traffic).
    pub fn set_wan_mtu(&mut self, i: usize, mtu: usize) {
        self.reconfigure(i, |c, _| c.wan_mtu = mtu);
    }

    fn apply(&mut self, node: usize, out: Out) {
        let now = self.now;
        match out {
            Out::None => {}
            Out::Wan(w) => self.fabric.send(now, w),
            Out::Lan(frame) => self.deliver_lan(node, frame),
        }
    }

    fn deliver_lan(&mut self, node: usize, frame: Vec<u8>) {
        let f = EthernetFrame::new_checked(&frame[..]).expect("gateway sent a valid frame");
        match f.ethertype() {
            EthernetProtocol::Arp => {
                let repr = ArpRepr::parse(&ArpPacket::new_checked(f.payload()).unwrap()).unwrap();
                let ArpRepr::EthernetIpv4 {
                    operation,
                    source_hardware_addr,
                    source_protocol_addr,
                    target_protocol_addr,
                    ..
                } = repr
                else {
                    return;
                };
                if operation != ArpOperation::Request {
                    self.lan_unclaimed.push(frame.clone());
                    return;
                }
                let who = self
                    .hosts
                    .iter()
                    .position(|h| h.node == node && h.ip == target_protocol_addr && h.answers_arp);
                if let Some(h) = who {
                    let host = &self.hosts[h];
                    let reply = ArpRepr::EthernetIpv4 {
                        operation: ArpOperation::Reply,
                        source_hardware_addr: host.mac,
                        source_protocol_addr: host.ip,
                        target_hardware_addr: source_hardware_addr,
                        target_protocol_addr: source_protocol_addr,
                    };
                    let mut b = vec![0u8; 42];
                    let mut e = EthernetFrame::new_unchecked(&mut b[..]);
                    e.set_dst_addr(source_hardware_addr);
                    e.set_src_addr(host.mac);
                    e.set_ethertype(EthernetProtocol::Arp);
                    reply.emit(&mut ArpPacket::new_unchecked(e.payload_mut()));
                    self.nodes[node].lan_in.push_back(b);
                }
            }
            EthernetProtocol::Ipv4 => {
                let dst = f.dst_addr();
                match self
                    .hosts
                    .iter_mut()
                    .find(|h| h.node == node && h.mac == dst)
                {
                    Some(h) => h.received.push(f.payload().to_vec()),
                    None => self.lan_unclaimed.push(frame.clone()),
                }
            }
            _ => self.lan_unclaimed.push(frame.clone()),
        }
    }

    /// Advances the virtual clock by one millisecond and processes everything due.
    pub fn step(&mut self) {
        self.now = self.now + Duration::from_millis(1);
        let now = self.now;
        for w in self.fabric.due(now) {
            match &w {
                Wire::Dtls { from, to, data } => {
                    if let Some(n) = self.nodes.iter().position(|n| n.wan == *to && !n.off) {
                        let out = wan_datagram(&mut self.nodes[n].gw, now, *from, data);
                        self.apply(n, out);
                    }
                }
                Wire::Clear { data } => {
                    let dst = Ipv4Addr::new(data[16], data[17], data[18], data[19]);
                    match self.nodes.iter().position(|n| n.prefix.contains(dst)) {
                        Some(n) if self.nodes[n].off => {}
                        Some(n) => {
                            let out = wan_packet(&mut self.nodes[n].gw, now, data);
                            self.apply(n, out);
                        }
                        None => self.internet.push(data.clone()),
                    }
                }
            }
        }
        for n in 0..self.nodes.len() {
            if self.nodes[n].off {
                continue;
            }
            while let Some(frame) = self.nodes[n].lan_in.pop_front() {
                let out = lan_frame(&mut self.nodes[n].gw, now, &frame);
                self.apply(n, out);
            }
            if self.nodes[n].gw.poll_timeout().is_some_and(|t| t <= now) {
                self.nodes[n].gw.handle_timeout(now);
            }
            loop {
                let wan = self.nodes[n].wan;
                let mut buf = vec![0u8; Gw::BUFFER_LEN];
                let Some(t) = self.nodes[n].gw.poll_transmit(now, &mut buf) else {
                    break;
                };
                buf.truncate(t.len);
                let out = match t.destination {
                    Destination::Peer(to) => Out::Wan(Wire::Dtls {
                        from: wan,
                        to,
                        data: buf,
                    }),
                    Destination::WanClear => Out::Wan(Wire::Clear { data: buf }),
                    Destination::Lan => Out::Lan(buf),
                };
                self.apply(n, out);
            }
        }
    }

    /// Runs for `ms` virtual milliseconds.
    pub fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.step();
        }
    }

    /// Every UDP payload host `h` received, in order.
    pub fn udp_received(&self, h: usize) -> Vec<Vec<u8>> {
        self.hosts[h]
            .received
            .iter()
            .filter_map(|p| super::pkt::udp_payload(p))
            .collect()
    }

    /// True if any byte string `needle` crossed the fabric in any form.
    pub fn fabric_contains(&self, needle: &[u8]) -> bool {
        self.fabric.log.iter().any(|w| {
            let d = match w {
                Wire::Dtls { data, .. } | Wire::Clear { data } => data,
            };
            d.windows(needle.len()).any(|x| x == needle)
        })
    }

    /// Plaintext packets that crossed the fabric.
    pub fn fabric_clear(&self) -> Vec<&Vec<u8>> {
        self.fabric
            .log
            .iter()
            .filter_map(|w| match w {
                Wire::Clear { data } => Some(data),
                _ => None,
            })
            .collect()
    }
}

enum Out {
    None,
    Wan(Wire),
    Lan(Vec<u8>),
}

fn verdict_out(v: Verdict<'_>, from: SocketAddrV4) -> Out {
    match v {
        Verdict::ToPeer { to, datagram } => Out::Wan(Wire::Dtls {
            from,
            to,
            data: datagram.to_vec(),
        }),
        Verdict::ToWanClear { packet } => Out::Wan(Wire::Clear {
            data: packet.to_vec(),
        }),
        Verdict::ToLan { frame } => Out::Lan(frame.to_vec()),
        Verdict::Consumed | Verdict::Dropped(_) => Out::None,
    }
}

fn lan_frame(gw: &mut Gw, now: Instant, frame: &[u8]) -> Out {
    let h = Gw::HEADROOM;
    let mut buf = vec![0u8; h + frame.len() + Gw::TAILROOM];
    buf[h..h + frame.len()].copy_from_slice(frame);
    let from = gw.config().wan_endpoint;
    verdict_out(gw.handle_lan_frame(now, &mut buf, h, frame.len()), from)
}

fn wan_datagram(gw: &mut Gw, now: Instant, from: SocketAddrV4, data: &[u8]) -> Out {
    let mut buf = data.to_vec();
    let us = gw.config().wan_endpoint;
    let n = buf.len();
    verdict_out(gw.handle_wan_datagram(now, from, &mut buf, 0, n), us)
}

fn wan_packet(gw: &mut Gw, now: Instant, data: &[u8]) -> Out {
    let mut buf = vec![0u8; 14 + data.len()];
    buf[14..].copy_from_slice(data);
    let us = gw.config().wan_endpoint;
    verdict_out(gw.handle_wan_packet(now, &mut buf, 14, data.len()), us)
}
