//! Two gateways over the real DTLS engine, for the adapter's tests and the bench.
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

pub struct Side {
    pub gw: Gw,
    mac: EthernetAddress,
    wan: SocketAddrV4,
    host_mac: EthernetAddress,
    host_ip: Ipv4Addr,
    pub received: Vec<Vec<u8>>,
}

pub struct Net {
    pub now: Instant,
    pub sides: [Side; 2],
    identities: [Identity; 2],
    /// (due, to, datagram)
    wire: VecDeque<(Instant, usize, Vec<u8>)>,
    /// Extra random delay per datagram (reordering), in ms.
    pub jitter_ms: u64,
    pub log: Vec<Vec<u8>>,
    /// Seeded loss on the fabric, per mille.
    pub loss_permille: u64,
    loss_state: u64,
    pub lost: u64,
    /// Sides powered off (killed): they receive, run and send nothing.
    pub off: [bool; 2],
    /// Plaintext packets a gateway sent on wan (allowed only under AllowUnencrypted).
    pub clear: Vec<Vec<u8>>,
}

pub fn make_gateway(i: usize, ids: &[Identity; 2], seed: u64, rekey: Duration) -> Gw {
    let mut cfg = GatewayConfig::new(
        EthernetAddress([2, 0, 0, 0, i as u8, 1]),
        Ipv4Addr::new(10, i as u8 + 1, 0, 1),
        vec![Ipv4Prefix::new(Ipv4Addr::new(10, i as u8 + 1, 0, 0), 24).unwrap()],
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, i as u8 + 1), 4433),
    );
    cfg.enforcement = Enforcement::DropUnencrypted;
    cfg.rekey_interval = rekey;
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let layer = DtlsLayer::new(Config::new(ids[i].clone(), PeerPolicy::AnyKey), seed_bytes);
    let mut gw = Gateway::new(cfg, layer);
    let j = 1 - i;
    gw.add_peer(PeerConfig {
        name: format!("gw{j}"),
        endpoint: Some(SocketAddrV4::new(
            Ipv4Addr::new(192, 0, 2, j as u8 + 1),
            4433,
        )),
        fingerprint: ids[j].fingerprint(),
        second_pin: None,
        prefixes: vec![Ipv4Prefix::new(Ipv4Addr::new(10, j as u8 + 1, 0, 0), 24).unwrap()],
        enforcement: None,
        transit: false,
    })
    .unwrap();
    gw
}

impl Net {
    pub fn new(seed: u64, rekey: Duration) -> Net {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let identities = [
            Identity::generate(&mut rng, "gw0").unwrap(),
            Identity::generate(&mut rng, "gw1").unwrap(),
        ];
        let sides = [0, 1].map(|i| Side {
            gw: make_gateway(i, &identities, seed + i as u64, rekey),
            mac: EthernetAddress([2, 0, 0, 0, i as u8, 1]),
            wan: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, i as u8 + 1), 4433),
            host_mac: EthernetAddress([2, 0, 0, 1, i as u8, 10]),
            host_ip: Ipv4Addr::new(10, i as u8 + 1, 0, 10),
            received: Vec::new(),
        });
        Net {
            now: Instant::from_millis(1),
            sides,
            identities,
            wire: VecDeque::new(),
            jitter_ms: 0,
            log: Vec::new(),
            loss_permille: 0,
            loss_state: seed,
            lost: 0,
            off: [false; 2],
            clear: Vec::new(),
        }
    }

    /// Rebuilds both gateways with a changed configuration (before any traffic).
    pub fn reconfigure(&mut self, f: impl Fn(&mut GatewayConfig)) {
        self.reconfigure_with(|c, _| f(c));
    }

    /// Rebuilds both gateways with a changed engine and DTLS configuration.
    pub fn reconfigure_with(&mut self, f: impl Fn(&mut GatewayConfig, &mut Config)) {
        for i in 0..2 {
            let mut cfg = self.sides[i].gw.config().clone();
            let mut dtls = Config::new(self.identities[i].clone(), PeerPolicy::AnyKey);
            f(&mut cfg, &mut dtls);
            let peers: Vec<PeerConfig> = self.sides[i].gw.peers().map(|(_, p)| p.clone()).collect();
            let mut seed = [0u8; 32];
            seed[0] = i as u8 + 17;
            let layer = DtlsLayer::new(dtls, seed);
            let mut gw = Gateway::new(cfg, layer);
            for p in peers {
                gw.add_peer(p).unwrap();
            }
            self.sides[i].gw = gw;
        }
    }

    /// Puts `d` on the fabric toward side `to`, as if side `1 - to` had sent it (an
    /// attacker forging the peer's endpoint).
    pub fn inject(&mut self, to: usize, d: Vec<u8>) {
        self.log.push(d.clone());
        self.wire.push_back((self.now, to, d));
    }

    pub fn restart(&mut self, i: usize, seed: u64, rekey: Duration) {
        self.sides[i].gw = make_gateway(i, &self.identities, seed, rekey);
    }

    pub fn host_send(&mut self, i: usize, payload: &[u8]) {
        let s = &self.sides[i];
        let dst = self.sides[1 - i].host_ip;
        let ip = pkt::udp(s.host_ip, dst, 1000, 2000, payload, false);
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(s.mac.as_bytes());
        f[6..12].copy_from_slice(s.host_mac.as_bytes());
        f[12..14].copy_from_slice(&[8, 0]);
        f.extend_from_slice(&ip);
        self.lan_in(i, &f);
    }

    fn lan_in(&mut self, i: usize, frame: &[u8]) {
        let h = Gw::HEADROOM;
        let mut buf = vec![0u8; h + frame.len() + Gw::TAILROOM];
        buf[h..h + frame.len()].copy_from_slice(frame);
        let now = self.now;
        let out = match self.sides[i]
            .gw
            .handle_lan_frame(now, &mut buf, h, frame.len())
        {
            Verdict::ToPeer { datagram, .. } => Some(datagram.to_vec()),
            Verdict::ToWanClear { packet } => {
                let p = packet.to_vec();
                self.wan_clear(i, p);
                None
            }
            Verdict::ToLan { frame } => {
                let f = frame.to_vec();
                self.lan_out(i, f);
                None
            }
            _ => None,
        };
        if let Some(d) = out {
            self.send_wan(i, d);
        }
    }

    fn send_wan(&mut self, from: usize, d: Vec<u8>) {
        self.log.push(d.clone());
        if self.loss_permille > 0 {
            self.loss_state = self
                .loss_state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if (self.loss_state >> 33) % 1000 < self.loss_permille {
                self.lost += 1;
                return;
            }
        }
        let mut delay = 0;
        if self.jitter_ms > 0 {
            self.loss_state = self
                .loss_state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            delay = (self.loss_state >> 33) % (self.jitter_ms + 1);
        }
        let due = self.now + Duration::from_millis(delay);
        self.wire.push_back((due, 1 - from, d));
    }

    /// A frame the gateway put on its lan: ARP requests are answered by the host.
    fn lan_out(&mut self, i: usize, frame: Vec<u8>) {
        let f = EthernetFrame::new_checked(&frame[..]).unwrap();
        if f.ethertype() == EthernetProtocol::Arp {
            let ArpRepr::EthernetIpv4 {
                operation,
                target_protocol_addr,
                source_hardware_addr,
                source_protocol_addr,
                ..
            } = ArpRepr::parse(&ArpPacket::new_checked(f.payload()).unwrap()).unwrap()
            else {
                return;
            };
            let s = &self.sides[i];
            if operation == ArpOperation::Request && target_protocol_addr == s.host_ip {
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
        } else {
            self.sides[i].received.push(f.payload().to_vec());
        }
    }

    pub fn step(&mut self) {
        self.now = self.now + Duration::from_millis(1);
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|(t, _, _)| *t <= now);
        self.wire.extend(later);
        for (_, to, mut d) in due {
            if self.off[to] {
                continue;
            }
            let from = self.sides[1 - to].wan;
            let n = d.len();
            let v = self.sides[to]
                .gw
                .handle_wan_datagram(now, from, &mut d, 0, n);
            if let Verdict::ToLan { frame } = v {
                let f = frame.to_vec();
                self.lan_out(to, f);
            }
        }
        for i in 0..2 {
            if self.off[i] {
                continue;
            }
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
                    Destination::Peer(_) => self.send_wan(i, buf),
                    Destination::Lan => self.lan_out(i, buf),
                    Destination::WanClear => self.wan_clear(i, buf),
                }
            }
        }
    }

    fn wan_clear(&mut self, i: usize, p: Vec<u8>) {
        let global = self.sides[i].gw.config().enforcement;
        let allowed = self.sides[i]
            .gw
            .peers()
            .any(|(_, c)| c.effective_enforcement(global) == Enforcement::AllowUnencrypted);
        assert!(allowed, "plaintext on wan under DropUnencrypted");
        self.clear.push(p);
    }

    pub fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.step();
        }
    }

    pub fn payloads(&self, i: usize) -> Vec<Vec<u8>> {
        self.sides[i]
            .received
            .iter()
            .filter_map(|p| pkt::udp_payload(p))
            .collect()
    }
}

impl Net {
    /// A lan frame from side 0's host to side 1's host, a UDP packet of `ip_len` bytes.
    pub fn frame(&self, ip_len: usize) -> Vec<u8> {
        let s = &self.sides[0];
        let ip = pkt::udp(
            s.host_ip,
            self.sides[1].host_ip,
            5000,
            9,
            &vec![0x5a; ip_len - 28],
            false,
        );
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(s.mac.as_bytes());
        f[6..12].copy_from_slice(s.host_mac.as_bytes());
        f[12..14].copy_from_slice(&[8, 0]);
        f.extend_from_slice(&ip);
        f
    }

    /// Sends the frame at `buf[Gw::HEADROOM..][..len]` through side 0 then side 1;
    /// the length of the frame side 1 delivers, or 0.
    pub fn encap_decap(&mut self, buf: &mut [u8], len: usize) -> usize {
        let now = self.now;
        let (start, dlen) = match self.sides[0]
            .gw
            .handle_lan_frame(now, buf, Gw::HEADROOM, len)
        {
            Verdict::ToPeer { datagram, .. } => (datagram.as_ptr() as usize, datagram.len()),
            _ => return 0,
        };
        let off = start - buf.as_ptr() as usize;
        let from = self.sides[0].wan;
        match self.sides[1]
            .gw
            .handle_wan_datagram(now, from, buf, off, dlen)
        {
            Verdict::ToLan { frame } => frame.len(),
            _ => 0,
        }
    }
}
