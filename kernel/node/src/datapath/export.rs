//! Periodic export of flow records to the configured collector: JSON lines in Azure's
//! VNet flow log record layout, one UDP datagram each. Flow records never cross wan in
//! the clear:
//! - a collector on the lan subnet gets them on lan;
//! - a collector in a peer's prefixes gets them through that peer's tunnel: each record
//!   becomes an inner IPv4/UDP packet from our lan address, handed to the engine as a
//!   lan frame and sealed like workload traffic. Only when that cannot end in the
//!   clear: the peer's enforcement is DropUnencrypted (the engine never sends clear
//!   then), or its tunnel is up (the record is sealed at once); and only a verdict to
//!   the peer (or queued for its session) counts as sent;
//! - otherwise the records are counted as not sent (`counters`), never sent.
//!
//! Events go to the syslog server the same way (`export_events`), as RFC 5424
//! messages (`crate::events`).
//!
//! The configuration refuses a collector (or syslog server) with no such path (`Config::collector_path`);
//! at run time a peer that is not up under AllowUnencrypted, or a data plane without
//! a lan address, leaves none.

use super::{now, output, Datapath, Engine, ETH};
use crate::events::{format_syslog, EventLog, SyslogHeader};
use crate::net::{Interfaces, COLLECTOR_PORT};
use crate::platform::Platform;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::net::SocketAddrV4;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpProtocol, Ipv4Packet,
    Ipv4Repr, UdpPacket, UdpRepr,
};
use vnetcrypt_console::config::{CollectorPath, Config, Enforcement, Iface};
use vnetcrypt_gateway::{PeerId, RecordMeta, Verdict};

/// A record must fit one datagram without IP fragmentation on a 1500-byte path.
const MAX_RECORD: usize = 1400;
/// IPv4 and UDP headers around a record.
const IP_UDP: usize = 20 + 8;

/// What the exporter has done, for `counters`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExportStats {
    pub records: u64,
    pub tuples: u64,
    /// Of `records`, those sealed into (or queued for) a peer's tunnel.
    pub tunnelled: u64,
    /// Records the collector socket (or the engine) could not take.
    pub failed: u64,
    /// Records not sent because the collector had no protected path at the time.
    pub no_path: u64,
}

/// Events sent at most per poll (the rest follow at the next).
const MAX_EVENTS_PER_POLL: usize = 16;

/// Where the syslog exporter stands.
#[derive(Debug, Default, Clone, Copy)]
pub struct SyslogState {
    /// The first event not sent yet.
    pub next_seq: u64,
    /// No new attempt before this uptime (microseconds) after one that could not send.
    pub retry_us: u64,
    /// `records`: messages sent; `tunnelled`, `failed`, `no_path` as for flow records
    /// (`no_path` counts attempts that found no protected path).
    pub stats: ExportStats,
}

/// Where this interval's records go.
enum Route {
    Lan,
    Tunnel(PeerId),
    None,
}

impl Datapath {
    /// Sends the flow tuples due now, if a collector is configured and its interval
    /// has passed.
    pub(super) fn export_flows(&mut self, net: &mut Interfaces, cfg: &Config, p: &dyn Platform) {
        let Some(collector) = cfg.collector else {
            return;
        };
        let t = p.now_us();
        let now = now(p);
        if t < self.next_export_us {
            return;
        }
        self.next_export_us = t + u64::from(collector.interval_s) * 1_000_000;
        let Some(gw) = self.engine.as_mut() else {
            return;
        };
        let route = route(gw, cfg, collector.endpoint, now);
        let lan = net.nic(Iface::Lan);
        let mut mac = String::new();
        for b in lan.map(|n| n.mac.0).unwrap_or_default() {
            let _ = write!(mac, "{b:02X}");
        }
        let fp = self
            .built
            .as_ref()
            .map(|b| format!("{}", b.identity))
            .unwrap_or_default();
        let guid = format!(
            "{}-{}-{}-{}-{}",
            fp.get(0..8).unwrap_or(""),
            fp.get(8..12).unwrap_or(""),
            fp.get(12..16).unwrap_or(""),
            fp.get(16..20).unwrap_or(""),
            fp.get(20..32).unwrap_or("")
        );
        let name = format!("vnetcrypt/{}", fp.get(..16).unwrap_or(""));
        let time = crate::events::iso8601(self.epoch_ms + t / 1000);
        let rule = match cfg.enforcement {
            Enforcement::AllowUnencrypted => "AllowUnencrypted",
            Enforcement::DropUnencrypted => "DropUnencrypted",
        };
        let meta = RecordMeta {
            time: &time,
            flow_log_guid: &guid,
            mac_address: &mac,
            flow_log_resource_id: &name,
            target_resource_id: &name,
            rule,
            acl_id: &name,
        };
        // A record sealed into the tunnel must fit it whole (no fragmentation).
        let max = MAX_RECORD.min(gw.tunnel_mtu().saturating_sub(IP_UDP));
        let mut records: Vec<Vec<u8>> = Vec::new();
        let tuples = gw.export_flow_records(now, self.epoch_ms, &meta, max, |record| {
            records.push(record.into());
        });
        self.export.tuples += tuples as u64;
        let mut stats = core::mem::take(&mut self.export);
        self.send_records(net, &records, route, collector.endpoint, now, &mut stats);
        self.export = stats;
    }

    /// Sends the events recorded since the last call to the syslog server as RFC 5424
    /// messages, along the same protected paths as flow records. Events wait (in the
    /// bounded log) while there is no such path; retried once a second.
    pub(super) fn export_events(
        &mut self,
        net: &mut Interfaces,
        cfg: &Config,
        log: &EventLog,
        p: &dyn Platform,
    ) {
        // Events recorded while no server was set go once one is (as many as the
        // bounded log still holds): the boot event reaches a server set later.
        let Some(server) = cfg.syslog else {
            return;
        };
        let t = p.now_us();
        if log.next_seq() <= self.syslog.next_seq || t < self.syslog.retry_us {
            return;
        }
        let now = now(p);
        let Some(gw) = self.engine.as_ref() else {
            return;
        };
        let route = route(gw, cfg, server, now);
        if matches!(route, Route::None) {
            self.syslog.retry_us = t + 1_000_000;
            self.syslog.stats.no_path += 1;
            return;
        }
        let host = self
            .built
            .as_ref()
            .map(|b| alloc::format!("{}", b.lan.0))
            .unwrap_or_default();
        let header = SyslogHeader { hostname: &host };
        let mut messages = Vec::new();
        let mut last = self.syslog.next_seq;
        for e in log
            .starting_at(self.syslog.next_seq)
            .take(MAX_EVENTS_PER_POLL)
        {
            let mut m = String::new();
            format_syslog(e, &header, &mut m);
            messages.push(m.into_bytes());
            last = e.seq;
        }
        let mut stats = core::mem::take(&mut self.syslog.stats);
        let failed = stats.failed + stats.no_path;
        self.send_records(net, &messages, route, server, now, &mut stats);
        if stats.failed + stats.no_path > failed {
            // Not taken: try the same events again a little later.
            self.syslog.retry_us = t + 1_000_000;
        } else {
            self.syslog.next_seq = last + 1;
        }
        stats.tuples = 0;
        self.syslog.stats = stats;
    }

    /// Sends datagrams (flow records, syslog messages) the way `route` says; counts
    /// in `stats` what was not sent.
    fn send_records(
        &mut self,
        net: &mut Interfaces,
        records: &[Vec<u8>],
        route: Route,
        to: SocketAddrV4,
        now: vnetcrypt_gateway::Instant,
        stats: &mut ExportStats,
    ) {
        let (Some(gw), Some(base)) = (self.engine.as_mut(), self.built.as_ref()) else {
            stats.no_path += records.len() as u64;
            return;
        };
        match route {
            Route::None => stats.no_path += records.len() as u64,
            Route::Lan => {
                for record in records {
                    let sent = net
                        .nic_for_dataplane(Iface::Lan)
                        .is_some_and(|nic| nic.collector_send(record, to));
                    if sent {
                        stats.records += 1;
                    } else {
                        stats.failed += 1;
                    }
                }
            }
            Route::Tunnel(id) => {
                let from = SocketAddrV4::new(base.lan.0, COLLECTOR_PORT);
                let mac = EthernetAddress(base.lan_mac);
                let head = Engine::HEADROOM;
                for record in records {
                    let Some(len) = inner_frame(&mut self.buf[head..], mac, from, to, record)
                    else {
                        stats.failed += 1;
                        continue;
                    };
                    match gw.handle_lan_frame(now, &mut self.buf, head, len) {
                        v @ Verdict::ToPeer { to, .. }
                            if gw.peer_status(id).is_some_and(|p| p.endpoint == Some(to)) =>
                        {
                            stats.records += 1;
                            stats.tunnelled += 1;
                            output(v, net, &mut self.errors);
                        }
                        // Queued for the peer's session (sealed when it is up, or
                        // dropped under DropUnencrypted if it never comes up).
                        Verdict::Consumed => {
                            stats.records += 1;
                            stats.tunnelled += 1;
                        }
                        // Clear on wan, back to lan, or dropped: not sent, never clear.
                        _ => stats.no_path += 1,
                    }
                }
            }
        }
    }
}

/// The protected path to the collector now, if there is one.
fn route(gw: &Engine, cfg: &Config, to: SocketAddrV4, now: vnetcrypt_gateway::Instant) -> Route {
    match cfg.collector_path(*to.ip()) {
        Some(CollectorPath::Lan) => Route::Lan,
        Some(CollectorPath::Peer(p)) => {
            let Some(id) = super::engine_id(gw, &p.name) else {
                return Route::None;
            };
            let sealed_or_dropped = cfg.enforcement_for(p) == Enforcement::DropUnencrypted;
            if sealed_or_dropped || tunnel_up(gw, id, now) {
                Route::Tunnel(id)
            } else {
                Route::None
            }
        }
        None => Route::None,
    }
}

/// Whether the peer's tunnel carries records now (so a packet for it is sealed at once):
/// established, and the peer heard from within the dead-peer time.
fn tunnel_up(gw: &Engine, id: PeerId, now: vnetcrypt_gateway::Instant) -> bool {
    gw.peer_status(id)
        .is_some_and(|s| s.state == vnetcrypt_gateway::PeerState::Up)
        && gw.session_state(now, id) == Some(vnetcrypt_gateway::SessionState::Established)
}

/// Writes an Ethernet frame to our own lan MAC carrying `record` in IPv4/UDP from
/// `from` to `to` at the start of `buf`; returns its length (`None`: no room).
fn inner_frame(
    buf: &mut [u8],
    mac: EthernetAddress,
    from: SocketAddrV4,
    to: SocketAddrV4,
    record: &[u8],
) -> Option<usize> {
    let udp = UdpRepr {
        src_port: from.port(),
        dst_port: to.port(),
    };
    let udp_len = udp.header_len() + record.len();
    let ip = Ipv4Repr {
        src_addr: *from.ip(),
        dst_addr: *to.ip(),
        next_header: IpProtocol::Udp,
        payload_len: udp_len,
        hop_limit: 64,
    };
    let len = ETH + ip.buffer_len() + udp_len;
    let frame = buf.get_mut(..len)?;
    let eth = EthernetRepr {
        src_addr: mac,
        dst_addr: mac,
        ethertype: EthernetProtocol::Ipv4,
    };
    let mut f = EthernetFrame::new_unchecked(&mut *frame);
    eth.emit(&mut f);
    let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
    let caps = ChecksumCapabilities::default();
    ip.emit(&mut p, &caps);
    let mut u = UdpPacket::new_unchecked(p.payload_mut());
    udp.emit(
        &mut u,
        &(*from.ip()).into(),
        &(*to.ip()).into(),
        record.len(),
        |b| b.copy_from_slice(record),
        &caps,
    );
    Some(len)
}
