//! The console's views of the data plane: peers, routes, sessions, counters, flows.

use super::Datapath;
use alloc::vec::Vec;
use core::fmt::{self, Write};
use vnetcrypt_console::config::Config;
use vnetcrypt_console::{
    write_peer, write_peers_json, write_routes, write_sessions, write_sessions_json, Health,
    NextHop, PeerReport, TunnelFailure, TunnelState, TunnelStatus, TunnelTraffic,
};
use vnetcrypt_gateway::{render, FailureReason, Instant, PeerCounters, PeerState, PeerStatus};

/// The engine's status of a peer in the console's terms, times as "ms before now".
fn tunnel(now: Instant, s: &PeerStatus) -> TunnelStatus {
    let ago = |t: Instant| u64::try_from(now.saturating_since(t).as_millis()).unwrap_or(u64::MAX);
    TunnelStatus {
        state: Some(match s.state {
            PeerState::Idle => TunnelState::Idle,
            PeerState::Connecting => TunnelState::Connecting,
            PeerState::Up => TunnelState::Up,
            PeerState::Down => TunnelState::Down,
        }),
        since_ms: Some(ago(s.since)),
        last_handshake_ms: s.last_handshake.map(ago),
        last_authenticated_ms: s.last_authenticated.map(ago),
        last_failure: s.last_failure.map(failure),
        endpoint: s.endpoint,
        endpoint_moves: s.endpoint_moves,
        last_move_ms: s.last_move.map(ago),
        pin_used: s.pin_used,
        suite: s.suite,
    }
}

/// The engine's failure reason in the console's terms.
pub(crate) fn failure(f: FailureReason) -> TunnelFailure {
    match f {
        FailureReason::PinMismatch => TunnelFailure::PinMismatch,
        FailureReason::Timeout => TunnelFailure::Timeout,
        FailureReason::NoResponse => TunnelFailure::NoResponse,
        FailureReason::AlertFromPeer => TunnelFailure::AlertFromPeer,
        FailureReason::Protocol => TunnelFailure::Protocol,
        FailureReason::NoEndpoint => TunnelFailure::NoEndpoint,
    }
}

fn traffic(c: &PeerCounters) -> TunnelTraffic {
    TunnelTraffic {
        sent_records: c.sealed_packets,
        sent_bytes: c.sealed_bytes,
        received_records: c.opened_packets,
        received_bytes: c.opened_bytes,
        handshakes_started: c.handshakes_started,
        handshakes_completed: c.handshakes_completed,
        handshakes_failed: c.handshakes_failed,
        rekeys: c.rekeys,
    }
}

impl Datapath {
    fn inactive_line(&self, w: &mut dyn Write) -> fmt::Result {
        writeln!(w, "data plane inactive: {}", self.inactive)
    }

    /// Each configured peer with what the engine knows of its tunnel.
    pub fn reports<'c>(&self, config: &'c Config, now: Instant) -> Vec<PeerReport<'c>> {
        config
            .peers
            .iter()
            .map(|p| {
                let engine = self
                    .engine
                    .as_ref()
                    .and_then(|gw| super::engine_id(gw, &p.name).map(|id| (gw, id)));
                PeerReport {
                    config: p,
                    enforcement: config.enforcement_for(p),
                    tunnel: engine
                        .and_then(|(gw, id)| gw.peer_status(id))
                        .map(|s| tunnel(now, &s)),
                    traffic: engine
                        .and_then(|(gw, id)| gw.peer_counters(id))
                        .map(traffic),
                }
            })
            .collect()
    }

    /// Why the data plane is not running, if it is not.
    pub fn inactive_reason(&self) -> Option<&'static str> {
        self.engine.is_none().then_some(self.inactive)
    }

    /// The tally for the summary line of `status`.
    pub fn health<'a>(&'a self, config: &Config, now: Instant) -> Health<'a> {
        Health::tally(
            &self.reports(config, now),
            config.enforcement,
            now.as_micros() / 1000,
            self.inactive_reason(),
        )
    }

    /// `peers`, or `peer show NAME` with `only`: the engine's facts about each peer's
    /// tunnel, laid out by the console crate.
    pub fn write_peers(
        &self,
        config: &Config,
        only: Option<&str>,
        now: Instant,
        w: &mut dyn Write,
    ) -> fmt::Result {
        if self.engine.is_none() {
            self.inactive_line(w)?;
        }
        if config.peers.is_empty() {
            return writeln!(w, "no peers (add one with 'peer add', see 'help peer')");
        }
        let mut found = false;
        for report in self
            .reports(config, now)
            .iter()
            .filter(|r| only.is_none_or(|n| n == r.config.name))
        {
            found = true;
            write_peer(report, only.is_some(), w)?;
            let counters = self
                .engine
                .as_ref()
                .filter(|_| only.is_some())
                .and_then(|gw| {
                    super::engine_id(gw, &report.config.name).and_then(|id| gw.peer_counters(id))
                });
            if let Some(c) = counters {
                writeln!(
                    w,
                    "  handshakes  {} started {} completed {} failed; rekeys {}; replaced {}; drops {}",
                    c.handshakes_started, c.handshakes_completed, c.handshakes_failed,
                    c.rekeys, c.sessions_replaced, c.drops
                )?;
            }
        }
        if !found {
            writeln!(w, "error: no peer named '{}'", only.unwrap_or(""))?;
        }
        Ok(())
    }

    /// `peers json`.
    pub fn write_peers_json(
        &self,
        config: &Config,
        now: Instant,
        w: &mut dyn Write,
    ) -> fmt::Result {
        write_peers_json(&self.reports(config, now), self.inactive_reason(), w)
    }

    /// `routes` / `route show`: the configured routes on lan, each with whether the
    /// engine has its next hop's MAC.
    pub fn write_routes(&self, config: &Config, now: Instant, w: &mut dyn Write) -> fmt::Result {
        if self.engine.is_none() {
            self.inactive_line(w)?;
        }
        let routes: alloc::vec::Vec<_> = config
            .routes
            .iter()
            .map(|r| {
                let hop = match &self.engine {
                    None => NextHop::Inactive,
                    Some(gw) => match gw.neighbour(now, r.via) {
                        Some(mac) => NextHop::Resolved(mac.0),
                        None => NextHop::Unresolved,
                    },
                };
                (*r, hop)
            })
            .collect();
        write_routes(&routes, w)
    }

    /// `sessions`: one row per peer the data plane knows.
    pub fn write_sessions(&self, config: &Config, now: Instant, w: &mut dyn Write) -> fmt::Result {
        if self.engine.is_none() {
            return self.inactive_line(w);
        }
        write_sessions(&self.reports(config, now), w)
    }

    /// `sessions json`.
    pub fn write_sessions_json(
        &self,
        config: &Config,
        now: Instant,
        w: &mut dyn Write,
    ) -> fmt::Result {
        write_sessions_json(&self.reports(config, now), self.inactive_reason(), w)
    }

    /// `counters`: the engine's interface, drop-reason and per-peer counters.
    pub fn write_counters(
        &self,
        net: &crate::net::Interfaces,
        now: Instant,
        w: &mut dyn Write,
    ) -> fmt::Result {
        let Some(gw) = &self.engine else {
            return self.inactive_line(w);
        };
        render::counters(&mut Adapter(w), gw, now)?;
        let e = self.errors;
        writeln!(
            w,
            "data plane: frames too large {}, wan datagrams too large {}; output errors: \
             wan udp full {}, clear forwarding refused {}, lan full {}, wan full {}",
            e.too_large,
            net.dataplane_truncated(),
            e.udp_full,
            e.clear_refused,
            e.lan_full,
            e.wan_full
        )?;
        writeln!(
            w,
            "frame path: sent without outer headers {}, engine bytes copied {}, \
             received through the udp socket {}",
            gw.counters().wan_unframed,
            gw.bytes_copied(),
            e.udp_received
        )?;
        let x = self.export;
        writeln!(
            w,
            "flow export: {} records ({} tuples) sent ({} through a peer's tunnel), {} failed, \
             {} not sent: no protected path to the collector",
            x.records, x.tuples, x.tunnelled, x.failed, x.no_path
        )?;
        let y = self.syslog_stats();
        writeln!(
            w,
            "syslog: {} messages sent ({} through a peer's tunnel), {} failed, \
             {} attempts without a protected path to the server",
            y.records, y.tunnelled, y.failed, y.no_path
        )
    }

    /// `flows`: the flow table as Azure VNet flow log v4 tuples.
    pub fn write_flows(&self, now: Instant, w: &mut dyn Write) -> fmt::Result {
        let Some(gw) = &self.engine else {
            return self.inactive_line(w);
        };
        render::flows(&mut Adapter(w), gw, now, self.epoch_ms)
    }
}

/// `render` takes a sized `Write`.
struct Adapter<'a>(&'a mut dyn Write);

impl Write for Adapter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write_str(s)
    }
}
