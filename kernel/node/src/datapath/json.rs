//! The JSON forms of `counters` and `flows`: one document on one line, written with
//! the console's JSON writer (strings escaped, names from the domain: drop reasons
//! and encryption values as the text views and Azure's flow log spell them).

use super::Datapath;
use crate::net::Interfaces;
use core::fmt::{self, Write};
use vnetcrypt_console::json::Object;
use vnetcrypt_gateway::{Direction, DropReason, FlowState, Instant, InterfaceCounters};

fn interface(o: &mut Object<'_, '_>, k: &str, i: &InterfaceCounters) -> fmt::Result {
    let mut x = o.object(k)?;
    x.num("rx_packets", i.rx_packets)?
        .num("rx_bytes", i.rx_bytes)?
        .num("tx_packets", i.tx_packets)?
        .num("tx_bytes", i.tx_bytes)?;
    x.end()
}

fn data_plane(o: &mut Object<'_, '_>, inactive: Option<&str>) -> fmt::Result {
    let mut d = o.object("data_plane")?;
    d.bool("active", inactive.is_none())?
        .opt_str("inactive_reason", inactive)?;
    d.end()
}

impl Datapath {
    /// `counters json`.
    pub fn write_counters_json(&self, net: &Interfaces, w: &mut dyn Write) -> fmt::Result {
        let mut doc = Object::new(w)?;
        data_plane(&mut doc, self.inactive_reason())?;
        if let Some(gw) = &self.engine {
            let c = gw.counters();
            let mut ifs = doc.object("interfaces")?;
            interface(&mut ifs, "lan", &c.lan)?;
            interface(&mut ifs, "wan", &c.wan)?;
            ifs.end()?;
            let mut m = doc.object("mtu")?;
            m.num("icmp_frag_needed", c.icmp_frag_needed)?
                .num("fragments", c.fragments_out)?
                .num("mss_clamped", c.mss_clamped)?;
            m.end()?;
            let mut a = doc.object("arp")?;
            a.num("replies", c.arp_replies)?
                .num("requests", c.arp_requests)?;
            a.end()?;
            let mut d = doc.object("drops")?;
            d.num("total", c.dropped_total())?;
            let mut by = d.object("by_reason")?;
            for r in DropReason::ALL {
                by.num(r.name(), c.dropped(*r))?;
            }
            by.end()?;
            d.end()?;
            let f = gw.flow_stats();
            let mut fl = doc.object("flows")?;
            fl.num("created", f.created)?
                .num("evicted", f.evicted)?
                .num("evicted_unreported", f.evicted_unreported)?;
            fl.end()?;
            let mut peers = doc.array("peers")?;
            for (id, peer) in gw.peers() {
                let (Some(p), Some(s)) = (gw.peer_counters(id), gw.peer_status(id)) else {
                    continue;
                };
                let mut o = peers.object()?;
                o.str("name", &peer.name)?
                    .opt_str("endpoint", s.endpoint.or(peer.endpoint))?
                    .str("state", s.state.name())?
                    .num("sealed_packets", p.sealed_packets)?
                    .num("sealed_bytes", p.sealed_bytes)?
                    .num("opened_packets", p.opened_packets)?
                    .num("opened_bytes", p.opened_bytes)?
                    .num("handshakes_started", p.handshakes_started)?
                    .num("handshakes_completed", p.handshakes_completed)?
                    .num("handshakes_failed", p.handshakes_failed)?
                    .num("rekeys", p.rekeys)?
                    .num("sessions_replaced", p.sessions_replaced)?
                    .num("keepalives_sent", p.keepalives_sent)?
                    .num("keepalives_received", p.keepalives_received)?
                    .num("went_down", p.went_down)?
                    .num("cookies_sent", p.cookies_sent)?
                    .num("drops", p.drops)?;
                o.end()?;
            }
            peers.end()?;
            let e = self.errors;
            let mut out = doc.object("output_errors")?;
            out.num("frames_too_large", e.too_large)?
                .num("wan_datagrams_too_large", net.dataplane_truncated())?
                .num("wan_udp_full", e.udp_full)?
                .num("clear_forwarding_refused", e.clear_refused)?
                .num("lan_full", e.lan_full)?
                .num("wan_full", e.wan_full)?;
            out.end()?;
            let mut fp = doc.object("frame_path")?;
            fp.num("sent_without_outer_headers", c.wan_unframed)?
                .num("engine_bytes_copied", gw.bytes_copied())?
                .num("received_through_udp_socket", e.udp_received)?;
            fp.end()?;
        }
        let x = self.export;
        let mut fx = doc.object("flow_export")?;
        fx.num("records", x.records)?
            .num("tuples", x.tuples)?
            .num("tunnelled", x.tunnelled)?
            .num("failed", x.failed)?
            .num("no_protected_path", x.no_path)?;
        fx.end()?;
        let y = self.syslog_stats();
        let mut sy = doc.object("syslog")?;
        sy.num("sent", y.records)?
            .num("tunnelled", y.tunnelled)?
            .num("failed", y.failed)?
            .num("no_protected_path", y.no_path)?;
        sy.end()?;
        doc.end()?;
        w.write_str("\n")
    }

    /// `flows json`: the flow table's version-4 tuples, field by field.
    pub fn write_flows_json(&self, now: Instant, w: &mut dyn Write) -> fmt::Result {
        let mut doc = Object::new(w)?;
        data_plane(&mut doc, self.inactive_reason())?;
        let mut list = doc.array("flows")?;
        if let Some(gw) = &self.engine {
            for t in gw.flows(now, self.epoch_ms) {
                let mut o = list.object()?;
                o.num("time", t.time_ms)?
                    .str("src_ip", t.src)?
                    .str("dst_ip", t.dst)?
                    .num("src_port", t.src_port.into())?
                    .num("dst_port", t.dst_port.into())?
                    .num("protocol", t.protocol.into())?
                    .str(
                        "direction",
                        match t.direction {
                            Direction::Inbound => "I",
                            Direction::Outbound => "O",
                        },
                    )?
                    .str(
                        "state",
                        match t.state {
                            FlowState::Begin => "B",
                            FlowState::Continue => "C",
                            FlowState::End => "E",
                            FlowState::Deny => "D",
                        },
                    )?
                    .str("encryption", t.encryption.as_str())?
                    .num("packets_sent", t.packets_sent)?
                    .num("bytes_sent", t.bytes_sent)?
                    .num("packets_received", t.packets_received)?
                    .num("bytes_received", t.bytes_received)?;
                o.end()?;
            }
        }
        list.end()?;
        doc.end()?;
        w.write_str("\n")
    }
}
