//! The metrics endpoint's body: a snapshot of the NICs, the gateway engine, the clock
//! and the endpoint itself, rendered by `vnetcrypt_ops::metrics`; and the handshake
//! timer that feeds the latency histogram.
//!
//! The engine counts handshakes but does not time them; the node does, from the
//! counters it sees change between polls: a handshake is timed from the poll that
//! first sees it started (and not yet completed or failed) to the poll that sees it
//! completed. Polls run whenever a datagram arrives, so the error is one poll.

use super::Ops;
use crate::datapath::{Datapath, Engine};
use crate::net::{Interfaces, ServerStats};
use alloc::string::String;
use alloc::vec::Vec;
use vnetcrypt_console::config::{Config, Iface};
use vnetcrypt_gateway::{DropReason as GatewayDrop, Instant, PeerCounters, SessionState};
use vnetcrypt_ops::metrics::{render as render_snapshot, InterfaceStats, PeerStats, Snapshot};
use vnetcrypt_underlay::DropReason as NicDrop;

/// What the timer last saw of one peer.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    started: u64,
    completed: u64,
    failed: u64,
    /// When the handshake in flight was first seen (uptime microseconds).
    since: Option<u64>,
}

/// Times handshakes per peer (indexed by the engine's peer id).
#[derive(Debug, Default)]
pub struct HandshakeWatch {
    peers: Vec<Seen>,
}

impl HandshakeWatch {
    pub fn observe(
        &mut self,
        gw: &Engine,
        now: u64,
        latency: &mut vnetcrypt_ops::metrics::HandshakeLatency,
    ) {
        for (id, _) in gw.peers() {
            let Some(c) = gw.peer_counters(id) else {
                continue;
            };
            let i = usize::from(id.0);
            if self.peers.len() <= i {
                self.peers.resize(i + 1, Seen::default());
            }
            self.peers[i] = step(self.peers[i], c, now, latency);
        }
    }
}

fn step(
    seen: Seen,
    c: &PeerCounters,
    now: u64,
    latency: &mut vnetcrypt_ops::metrics::HandshakeLatency,
) -> Seen {
    let mut next = Seen {
        started: c.handshakes_started,
        completed: c.handshakes_completed,
        failed: c.handshakes_failed,
        since: seen.since,
    };
    // A rebuilt engine starts its counters again: start over.
    if next.started < seen.started || next.completed < seen.completed || next.failed < seen.failed {
        next.since = None;
        return next;
    }
    if next.failed > seen.failed {
        next.since = None;
    }
    if next.completed > seen.completed {
        if let Some(t) = next.since.take() {
            latency.observe(now.saturating_sub(t));
        }
    }
    let in_flight = next.started > next.completed + next.failed;
    if next.started > seen.started && in_flight && next.since.is_none() {
        next.since = Some(now);
    }
    next
}

fn session_name(s: Option<SessionState>) -> &'static str {
    match s {
        Some(SessionState::Established) => "established",
        Some(SessionState::Handshaking) => "handshaking",
        Some(SessionState::Failed) => "failed",
        Some(SessionState::Absent) | None => "none",
    }
}

/// The whole body of a scrape.
pub(super) fn render(ops: &Ops, net: &Interfaces, dp: &Datapath, cfg: &Config, now: u64) -> String {
    let nic_drops: Vec<Vec<(&str, u64)>> = Iface::ALL
        .iter()
        .map(|&r| {
            let c = net.nic(r).map(|n| n.counters.borrow().clone());
            NicDrop::ALL
                .iter()
                .map(|&d| (d.name(), c.as_ref().map_or(0, |c| c.drops(d))))
                .collect()
        })
        .collect();
    let interfaces: Vec<InterfaceStats<'_>> = Iface::ALL
        .iter()
        .zip(&nic_drops)
        .filter_map(|(&r, drops)| {
            let c = net.nic(r)?.counters.borrow().clone();
            Some(InterfaceStats {
                name: r.name(),
                rx_packets: c.rx_packets,
                rx_bytes: c.rx_bytes,
                tx_packets: c.tx_packets,
                tx_bytes: c.tx_bytes,
                rx_errors: c.rx_errors,
                tx_errors: c.tx_errors,
                drops,
            })
        })
        .collect();
    let gw = dp.engine();
    let t = Instant::from_micros(now);
    // Every configured peer, in configuration order, with the engine's numbers.
    let peers: Vec<PeerStats<'_>> = cfg
        .peers
        .iter()
        .map(|p| {
            let id = gw.and_then(|gw| gw.peers().find(|(_, q)| q.name == p.name).map(|(id, _)| id));
            let c = gw
                .zip(id)
                .and_then(|(gw, id)| gw.peer_counters(id).copied())
                .unwrap_or_default();
            let status = gw.zip(id).and_then(|(gw, id)| gw.peer_status(id));
            let session = gw.zip(id).and_then(|(gw, id)| gw.session_state(t, id));
            PeerStats {
                name: &p.name,
                state: status.map_or("idle", |s| s.state.name()),
                session: session_name(session),
                sealed_packets: c.sealed_packets,
                sealed_bytes: c.sealed_bytes,
                opened_packets: c.opened_packets,
                opened_bytes: c.opened_bytes,
                handshakes_started: c.handshakes_started,
                handshakes_completed: c.handshakes_completed,
                handshakes_failed: c.handshakes_failed,
                rekeys: c.rekeys,
                went_down: c.went_down,
                drops: c.drops,
            }
        })
        .collect();
    let gateway_drops: Vec<(&str, u64)> = GatewayDrop::ALL
        .iter()
        .map(|&r| (r.name(), gw.map_or(0, |gw| gw.counters().dropped(r))))
        .collect();
    let (flows_active, flows_capacity) = gw.map_or((0, 0), |gw| gw.flow_table_use());
    let flow_stats = gw.map(|gw| gw.flow_stats()).unwrap_or_default();
    let stats: ServerStats = net.metrics_stats();
    let http_answers: Vec<(u16, u64)> = ServerStats::STATUSES
        .iter()
        .zip(stats.answers)
        .map(|(s, n)| (s.code(), n))
        .collect();
    let snapshot = Snapshot {
        uptime_us: now,
        interfaces: &interfaces,
        dataplane_up: gw.is_some(),
        peers: &peers,
        gateway_drops: &gateway_drops,
        flows_active: flows_active as u64,
        flows_capacity: flows_capacity as u64,
        flows_created: flow_stats.created,
        flows_evicted: flow_stats.evicted,
        handshake_latency: &ops.latency,
        time: ops.time_stats(now),
        http_answers: &http_answers,
    };
    let mut out = String::with_capacity(16 * 1024);
    let _ = render_snapshot(&snapshot, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vnetcrypt_ops::metrics::{HandshakeLatency, HANDSHAKE_BUCKETS_US};

    fn counters(started: u64, completed: u64, failed: u64) -> PeerCounters {
        PeerCounters {
            handshakes_started: started,
            handshakes_completed: completed,
            handshakes_failed: failed,
            ..PeerCounters::default()
        }
    }

    #[test]
    fn handshakes_are_timed_from_start_to_completion() {
        let mut h = HandshakeLatency::new(HANDSHAKE_BUCKETS_US);
        let mut s = Seen::default();
        s = step(s, &counters(1, 0, 0), 1_000, &mut h);
        s = step(s, &counters(1, 0, 0), 50_000, &mut h);
        s = step(s, &counters(1, 1, 0), 301_000, &mut h);
        assert_eq!(h.count(), 1);
        // A failed attempt is not timed; the retry that completes is, from its start.
        s = step(s, &counters(2, 1, 0), 1_000_000, &mut h);
        s = step(s, &counters(2, 1, 1), 4_000_000, &mut h);
        s = step(s, &counters(3, 1, 1), 8_000_000, &mut h);
        s = step(s, &counters(3, 2, 1), 8_200_000, &mut h);
        assert_eq!(h.count(), 2);
        let mut text = String::new();
        h.write(
            &mut vnetcrypt_ops::prom::Exposition::new(&mut text),
            "h_seconds",
            "h",
        )
        .unwrap();
        assert!(text.contains("h_seconds_sum 0.5\n"), "{text}");
        // Counters that went down (a rebuilt engine): nothing is timed across it.
        s = step(s, &counters(4, 2, 1), 9_000_000, &mut h);
        s = step(s, &counters(0, 0, 0), 9_100_000, &mut h);
        s = step(s, &counters(0, 1, 0), 9_200_000, &mut h);
        assert_eq!(h.count(), 2);
        assert_eq!(s.since, None);
    }
}
