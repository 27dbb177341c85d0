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
//! untouched peers survive.
//!
//! Copy-free where the frames reach the data plane: a lan transit frame is handed to
//! the engine's frame path (`process_lan_frame`) in the buffer the lan NIC received it
//! in, and the verdict's range of that same buffer goes to the wan NIC's send queue
//! (record sealed in place, outer IPv4/UDP/Ethernet written in the headroom); a wan
//! transit frame (clear IPv4 for a workload) goes the same way to lan. The wan next
//! hop's MAC comes from a `WanLink` that learns from the wan ARP frames the stack
//! resolves (tapped); until it knows, the record goes through the wan UDP socket
//! (copied once). Records from peers still arrive through the wan UDP socket (the
//! underlay's screen gives frames for our address to the stack): copied out of it
//! into a pool buffer, opened in place and sent from that buffer.

mod build;
mod clock;
mod export;
pub(crate) use clock::rtc_unix_us;
mod json;
pub(crate) mod view;

use crate::events::{EventLog, PeerFact, PeerWatch};
use crate::management::IdentityKey;
use crate::net::Interfaces;
use crate::platform::{LogWriter, Platform};
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;
use vnetcrypt_console::config::{Config, Iface};
use vnetcrypt_gateway::dtls::DtlsLayer;
use vnetcrypt_gateway::{
    Destination, FrameVerdict, Gateway, Instant, Ipv4Prefix, PeerId, Verdict, WanLink,
};

use crate::packet::{PacketBuf, HDR_MAX};

pub(crate) type Engine = Gateway<DtlsLayer>;

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
    /// Frames whose verdict did not fit their buffer (not expected: the buffers have
    /// room for the largest frame and its encapsulation).
    pub too_large: u64,
    /// No room on the wan NIC for a frame of the frame path.
    pub wan_full: u64,
    /// Datagrams taken from the wan UDP socket (copied out of the stack) rather than
    /// received as frames: IP fragments the stack reassembled, or frames that arrived
    /// before the data plane ran.
    pub udp_received: u64,
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
    /// The wan link for the frame path (rebuilt when the wan address changes).
    wan_link: Option<(WanKey, WanLink)>,
    /// The peers as the last poll saw them, for events.
    pub watch: PeerWatch,
    syslog: export::SyslogState,
}

/// What the wan link is built from.
type WanKey = (
    [u8; 6],
    (core::net::Ipv4Addr, u8),
    Option<core::net::Ipv4Addr>,
);

/// How long a next hop learned from wan ARP is used without being confirmed again.
const WAN_NEIGHBOUR_LIFETIME: core::time::Duration = core::time::Duration::from_secs(60);

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
            wan_link: None,
            watch: PeerWatch::default(),
            syslog: export::SyslogState::default(),
        }
    }

    /// What the syslog exporter has sent.
    pub fn syslog_stats(&self) -> export::ExportStats {
        self.syslog.stats
    }

    /// Unix time in milliseconds at `uptime_us`, if the wall clock is known.
    pub fn unix_ms(&self, uptime_us: u64) -> Option<u64> {
        (self.epoch_ms > 0).then(|| self.epoch_ms + uptime_us / 1000)
    }

    /// Turns what changed in the engine's peers since the last poll into events.
    fn watch_peers(&mut self, log: &mut EventLog, t: u64) {
        let Some(gw) = self.engine.as_ref() else {
            return;
        };
        let unix_ms = self.unix_ms(t);
        let facts = gw.peers().filter_map(|(id, cfg)| {
            let status = gw.peer_status(id)?;
            Some(PeerFact {
                name: &cfg.name,
                endpoint: status.endpoint.or(cfg.endpoint),
                status,
                counters: gw.peer_counters(id)?,
                failure: status.last_failure.map(view::failure),
            })
        });
        self.watch.observe(facts, |(kind, data, message)| {
            log.push(t, unix_ms, kind, data, message)
        });
    }

    /// The running engine, for the metrics.
    pub(crate) fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// Unix milliseconds at uptime zero for flow records, from the node's wall clock
    /// (`ops`: the RTC, then SNTP).
    pub(crate) fn set_epoch_ms(&mut self, ms: u64) {
        self.epoch_ms = ms;
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
        log: &mut EventLog,
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
        let Some(link) = wan_link(&mut self.wan_link, net) else {
            return 0;
        };
        // lan -> engine, and wan plaintext for other hosts -> engine, each in the
        // buffer it was received in, and out of that buffer.
        // Backpressure: a frame is taken only while both NICs can send (it leaves on
        // either), so a transmit ring that the device drains late (a stalled host)
        // holds frames in the transit queues and then in the receive rings instead of
        // dropping them as `lan full` / `wan full`.
        for role in [Iface::Lan, Iface::Wan] {
            while net.can_send(Iface::Lan) && net.can_send(Iface::Wan) {
                let Some(mut frame) = net.take_transit(role) else {
                    break;
                };
                let len = frame.frame().len();
                let (room, off) = frame.room_mut();
                let v = match role {
                    Iface::Lan => gw.process_lan_frame(now, room, off, len, link),
                    Iface::Wan => gw.process_wan_frame(now, room, off, len, link),
                };
                if role == Iface::Wan && v == FrameVerdict::Host {
                    // A copy of a wan ARP frame (the tap): the next hops' MACs.
                    link.learn_arp(now, frame.frame());
                }
                frame_out(v, frame, net, &mut self.errors);
                moved += 1;
            }
        }
        // DTLS on wan normally arrives as transit frames (above). What the stack's
        // socket still holds (reassembled fragments) is copied into a pool buffer,
        // opened there and sent from it.
        while let Some(mut frame) = net.buffer() {
            frame.reset();
            let (room, off) = frame.room_mut();
            let Some((len, from)) = net
                .nic_for_dataplane(Iface::Wan)
                .and_then(|wan| wan.udp_recv(&mut room[off..]))
            else {
                net.recycle(frame);
                break;
            };
            self.errors.udp_received += 1;
            let base = room.as_ptr() as usize;
            let v = match gw.handle_wan_datagram(now, from, room, off, len) {
                Verdict::ToLan { frame: f } => {
                    let start = f.as_ptr() as usize - base;
                    FrameVerdict::ToLan(start..start + f.len())
                }
                // Relayed to another peer (transit).
                Verdict::ToPeer { to, datagram } => {
                    let start = datagram.as_ptr() as usize - base;
                    FrameVerdict::ToPeer {
                        to,
                        datagram: start..start + datagram.len(),
                    }
                }
                _ => FrameVerdict::Consumed,
            };
            frame_out(v, frame, net, &mut self.errors);
            moved += 1;
        }
        if gw.poll_timeout().is_some_and(|t| t <= now) {
            gw.handle_timeout(now);
        }
        self.watch_peers(log, p.now_us());
        // Flow records and events for a collector behind a peer are handed to the
        // engine before its output is drained, so what it queued for the tunnel
        // leaves now.
        self.export_flows(net, cfg, p);
        self.export_events(net, cfg, log, p);
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
    pub fn poll_at(&self, cfg: &Config, log: &EventLog) -> Option<u64> {
        let Some(gw) = self.engine.as_ref() else {
            return (self.built.is_none() && self.retrying).then_some(self.next_retry_us);
        };
        let export = cfg.collector.map(|_| self.next_export_us);
        let events = (cfg.syslog.is_some() && log.next_seq() > self.syslog.next_seq)
            .then_some(self.syslog.retry_us);
        let timer = gw.poll_timeout().map(Instant::as_micros);
        [export, events, timer].into_iter().flatten().min()
    }
}

/// The wan link for the frame path, rebuilt when the wan NIC's MAC, address or
/// router changes; `None` without a wan address.
fn wan_link<'a>(
    slot: &'a mut Option<(WanKey, WanLink)>,
    net: &Interfaces,
) -> Option<&'a mut WanLink> {
    let nic = net.nic(Iface::Wan)?;
    let key: WanKey = (nic.mac.0, nic.address()?, nic.gateway());
    if slot.as_ref().is_none_or(|(k, _)| *k != key) {
        let (ip, len) = key.1;
        let subnet = Ipv4Prefix::new(ip, len)
            .ok()
            .or_else(|| Ipv4Prefix::new(ip, 32).ok())?;
        let link = WanLink::new(nic.mac, ip, subnet, key.2, WAN_NEIGHBOUR_LIFETIME);
        *slot = Some((key, link));
    }
    slot.as_mut().map(|(_, l)| l)
}

/// Points `buf`'s frame at `r`, a range of its `room_mut()` slice.
fn set_frame(buf: &mut PacketBuf, r: &Range<usize>) -> bool {
    let (start, want) = (buf.start(), HDR_MAX + r.start);
    let moved = if want < start {
        buf.push_front(start - want).is_some()
    } else {
        let len = buf.frame().len();
        buf.set_len(len.max(want - start)) && buf.pull_front(want - start)
    };
    moved && buf.set_len(r.len())
}

/// Sends what the frame path decided, from the buffer the frame came in.
fn frame_out(v: FrameVerdict, mut buf: PacketBuf, net: &mut Interfaces, errors: &mut OutputErrors) {
    let (to, r) = match v {
        FrameVerdict::ToWan(r) => (Iface::Wan, r),
        FrameVerdict::ToLan(r) => (Iface::Lan, r),
        FrameVerdict::ToPeer { to, datagram } => {
            let (room, _) = buf.room_mut();
            let datagram = &mut room[datagram];
            output(Verdict::ToPeer { to, datagram }, net, errors);
            net.recycle(buf);
            return;
        }
        FrameVerdict::ToWanClear { packet } => {
            let (room, _) = buf.room_mut();
            let packet = &mut room[packet];
            output(Verdict::ToWanClear { packet }, net, errors);
            net.recycle(buf);
            return;
        }
        FrameVerdict::Host | FrameVerdict::Consumed | FrameVerdict::Dropped(_) => {
            net.recycle(buf);
            return;
        }
    };
    if !set_frame(&mut buf, &r) {
        net.recycle(buf);
        errors.too_large += 1;
        return;
    }
    if !net.send(to, buf) {
        match to {
            Iface::Wan => errors.wan_full += 1,
            Iface::Lan => errors.lan_full += 1,
        }
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
