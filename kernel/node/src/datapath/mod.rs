//! The data plane: the gateway engine (`vnetcrypt-gateway` over `vnetcrypt-dtls`)
//! between the two NICs, driven by the main loop.
//!
//! - lan transit frames (IPv4 for other hosts, and a copy of every ARP frame) go to
//!   `handle_lan_frame`; records to peers leave through the wan UDP socket, clear
//!   packets through the wan interface's routing, frames for lan through the lan NIC;
//! - DTLS datagrams on the wan UDP port go to `handle_wan_datagram`, plaintext IPv4
//!   for other hosts arriving on wan to `handle_wan_packet`;
//! - the engine's own output (handshake flights, ARP, queued packets) is drained by
//!   `poll_transmit`, its timers by `handle_timeout`.
//!
//! The engine is built from the running configuration when it has everything it needs
//! (lan and wan addresses, an identity, an RNG); a change to any of those rebuilds it,
//! a change to peers or enforcement is applied to the running engine, so sessions of
//! untouched peers survive. A received frame is handed to the engine in its own
//! receive buffer (which has room for the record around it); what the engine sends
//! to a peer is copied once, into the wan UDP socket.

mod build;
mod clock;
mod export;
mod view;

use crate::management::IdentityKey;
use crate::net::Interfaces;
use crate::platform::{LogWriter, Platform};
use alloc::vec;
use alloc::vec::Vec;
use vnetcrypt_console::config::{Config, Iface};
use vnetcrypt_gateway::dtls::DtlsLayer;
use vnetcrypt_gateway::engine::SLOT;
use vnetcrypt_gateway::{Destination, Gateway, Instant, PeerId, Verdict};

type Engine = Gateway<DtlsLayer>;

const ETH: usize = 14;

/// Where a packet of the data plane could not go (all counted, none silent).
#[derive(Debug, Default, Clone, Copy)]
pub struct OutputErrors {
    /// The wan UDP socket's send buffer was full.
    pub udp_full: u64,
    /// Clear forwarding refused (buffer full or a protocol other than TCP/UDP/ICMP).
    pub clear_refused: u64,
    /// No room on the lan NIC.
    pub lan_full: u64,
    /// Received frames larger than the engine handles (it carries at most a 1600-byte
    /// IPv4 packet; jumbo frames on lan are not tunnelled).
    pub too_large: u64,
}

pub struct Datapath {
    engine: Option<Engine>,
    /// What the running engine was built from; `None` when there is none.
    built: Option<build::Base>,
    /// Why there is no engine, for the console.
    pub inactive: &'static str,
    buf: Vec<u8>,
    epoch_ms: u64,
    pub errors: OutputErrors,
    next_retry_us: u64,
    /// Everything the engine needs is there but it is not running: retries are due.
    retrying: bool,
    next_export_us: u64,
    export: export::ExportStats,
}

/// The engine's id of the peer the configuration calls `name`.
fn engine_id(gw: &Engine, name: &str) -> Option<PeerId> {
    gw.peers().find(|(_, p)| p.name == name).map(|(id, _)| id)
}

fn now(p: &dyn Platform) -> Instant {
    Instant::from_micros(p.now_us())
}

impl Datapath {
    pub fn new(p: &dyn Platform) -> Self {
        Self {
            engine: None,
            built: None,
            inactive: "not configured",
            buf: vec![0u8; Engine::BUFFER_LEN],
            epoch_ms: clock::epoch_ms(p),
            errors: OutputErrors::default(),
            next_retry_us: 0,
            retrying: false,
            next_export_us: 0,
            export: export::ExportStats::default(),
        }
    }

    /// With everything present but no engine (it failed to start), retry now and then.
    fn retry_due(&mut self, t: u64) -> bool {
        if t >= self.next_retry_us {
            self.next_retry_us = t + 5_000_000;
            return true;
        }
        false
    }

    /// Moves every packet that is waiting, in both directions. Returns how many
    /// packets it handed to the engine or sent.
    pub fn poll(
        &mut self,
        net: &mut Interfaces,
        cfg: &Config,
        identity: Result<&IdentityKey, &'static str>,
        p: &dyn Platform,
    ) -> usize {
        // An address that appeared or changed (a DHCP lease, say) starts or rebuilds
        // the engine.
        let wan = net.nic(Iface::Wan).and_then(|n| n.address()).map(|a| a.0);
        let lan = net.nic(Iface::Lan).and_then(|n| n.address());
        let stale = match &self.built {
            Some(b) => Some(b.wan_ip) != wan || Some(b.lan) != lan,
            None => {
                self.retrying = wan.is_some() && lan.is_some() && identity.is_ok();
                self.retrying && self.retry_due(p.now_us())
            }
        };
        if stale {
            self.reconfigure(cfg, identity, net, p, &mut LogWriter(p));
        }
        let Some(gw) = self.engine.as_mut() else {
            return 0;
        };
        let now = now(p);
        let mut moved = 0;
        let head = Engine::HEADROOM;
        // lan -> engine, and wan plaintext for other hosts -> engine, each in the
        // buffer it was received in.
        for role in [Iface::Lan, Iface::Wan] {
            while let Some(mut frame) = net.take_transit(role) {
                let len = frame.frame().len();
                if len > ETH + SLOT {
                    self.errors.too_large += 1;
                    net.recycle(frame);
                    continue;
                }
                let (room, off) = frame.room_mut();
                let v = match role {
                    Iface::Lan => gw.handle_lan_frame(now, room, off, len),
                    Iface::Wan => {
                        gw.handle_wan_packet(now, room, off + ETH, len.saturating_sub(ETH))
                    }
                };
                output(v, net, &mut self.errors);
                net.recycle(frame);
                moved += 1;
            }
        }
        // DTLS on wan -> engine
        while let Some((len, from)) = net
            .nic_for_dataplane(Iface::Wan)
            .and_then(|wan| wan.udp_recv(&mut self.buf[head..]))
        {
            let v = gw.handle_wan_datagram(now, from, &mut self.buf, head, len);
            output(v, net, &mut self.errors);
            moved += 1;
        }
        if gw.poll_timeout().is_some_and(|t| t <= now) {
            gw.handle_timeout(now);
        }
        // Flow records for a collector behind a peer are handed to the engine before
        // its output is drained, so what it queued for the tunnel leaves now.
        self.export_flows(net, cfg, p);
        let Some(gw) = self.engine.as_mut() else {
            return moved;
        };
        // The engine's own output.
        while let Some(t) = gw.poll_transmit(now, &mut self.buf) {
            let bytes = &mut self.buf[..t.len];
            let v = match t.destination {
                Destination::Peer(to) => Verdict::ToPeer {
                    to,
                    datagram: bytes,
                },
                Destination::WanClear => Verdict::ToWanClear { packet: bytes },
                Destination::Lan => Verdict::ToLan { frame: bytes },
            };
            output(v, net, &mut self.errors);
            moved += 1;
        }
        moved
    }

    /// When the data plane next needs a poll with nothing received (the engine's
    /// timers, the next flow export, a retry to start), in microseconds of uptime.
    pub fn poll_at(&self, cfg: &Config) -> Option<u64> {
        let Some(gw) = self.engine.as_ref() else {
            return (self.built.is_none() && self.retrying).then_some(self.next_retry_us);
        };
        let export = cfg.collector.map(|_| self.next_export_us);
        let timer = gw.poll_timeout().map(Instant::as_micros);
        [export, timer].into_iter().flatten().min()
    }
}

/// Sends what the engine decided.
fn output(v: Verdict<'_>, net: &mut Interfaces, errors: &mut OutputErrors) {
    match v {
        Verdict::ToPeer { to, datagram } => {
            let sent = net
                .nic_for_dataplane(Iface::Wan)
                .is_some_and(|wan| wan.udp_send(datagram, to));
            if !sent {
                errors.udp_full += 1;
            }
        }
        Verdict::ToWanClear { packet } => {
            let sent = net
                .nic_for_dataplane(Iface::Wan)
                .is_some_and(|wan| wan.ip_send(packet));
            if !sent {
                errors.clear_refused += 1;
            }
        }
        Verdict::ToLan { frame } => {
            if !net.send_copy(Iface::Lan, frame) {
                errors.lan_full += 1;
            }
        }
        Verdict::Consumed | Verdict::Dropped(_) => {}
    }
}
