//! The console's views of the data plane: peers, routes, sessions, counters, flows.

use super::Datapath;
use core::fmt::{self, Write};
use vnetcrypt_console::config::Config;
use vnetcrypt_console::{
    write_peer, write_routes, NextHop, PeerReport, TunnelFailure, TunnelState, TunnelStatus,
};
use vnetcrypt_gateway::{render, FailureReason, Instant, PeerState, PeerStatus, SessionState};

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
        last_failure: s.last_failure.map(|f| match f {
            FailureReason::PinMismatch => TunnelFailure::PinMismatch,
            FailureReason::Timeout => TunnelFailure::Timeout,
            FailureReason::NoResponse => TunnelFailure::NoResponse,
            FailureReason::AlertFromPeer => TunnelFailure::AlertFromPeer,
            FailureReason::Protocol => TunnelFailure::Protocol,
            FailureReason::NoEndpoint => TunnelFailure::NoEndpoint,
        }),
        endpoint: s.endpoint,
        endpoint_moves: s.endpoint_moves,
        last_move_ms: s.last_move.map(ago),
        pin_used: s.pin_used,
    }
}

fn state_name(s: Option<SessionState>) -> &'static str {
    match s {
        Some(SessionState::Established) => "established",
        Some(SessionState::Handshaking) => "handshaking",
        Some(SessionState::Failed) => "failed",
        Some(SessionState::Absent) | None => "none",
    }
}

impl Datapath {
    fn inactive_line(&self, w: &mut dyn Write) -> fmt::Result {
        writeln!(w, "data plane inactive: {}", self.inactive)
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
        for p in config
            .peers
            .iter()
            .filter(|p| only.is_none_or(|n| n == p.name))
        {
            found = true;
            let engine = self
                .engine
                .as_ref()
                .and_then(|gw| super::engine_id(gw, &p.name).map(|id| (gw, id)));
            let report = PeerReport {
                config: p,
                enforcement: config.enforcement_for(p),
                tunnel: engine
                    .and_then(|(gw, id)| gw.peer_status(id))
                    .map(|s| tunnel(now, &s)),
            };
            write_peer(&report, only.is_some(), w)?;
            if only.is_none() {
                continue;
            }
            if let Some(c) = engine.and_then(|(gw, id)| gw.peer_counters(id)) {
                writeln!(
                    w,
                    "  sealed      {} packets {} bytes",
                    c.sealed_packets, c.sealed_bytes
                )?;
                writeln!(
                    w,
                    "  opened      {} packets {} bytes",
                    c.opened_packets, c.opened_bytes
                )?;
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

    /// `sessions`: one line per peer with a session or a handshake.
    pub fn write_sessions(&self, now: Instant, w: &mut dyn Write) -> fmt::Result {
        let Some(gw) = &self.engine else {
            return self.inactive_line(w);
        };
        writeln!(
            w,
            "{:<16} {:<21} {:<12} {:>10} {:>10} {:>6}",
            "peer", "endpoint", "state", "sealed", "opened", "rekeys"
        )?;
        for (id, p) in gw.peers() {
            let Some(c) = gw.peer_counters(id) else {
                continue;
            };
            writeln!(
                w,
                "{:<16} {:<21} {:<12} {:>10} {:>10} {:>6}",
                p.name,
                endpoint_text(gw.peer_status(id).and_then(|s| s.endpoint)),
                state_name(gw.session_state(now, id)),
                c.sealed_packets,
                c.opened_packets,
                c.rekeys
            )?;
        }
        Ok(())
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

/// An endpoint for a table column (`-` while none is known).
fn endpoint_text(e: Option<core::net::SocketAddrV4>) -> alloc::string::String {
    match e {
        Some(e) => alloc::format!("{e}"),
        None => alloc::string::String::from("-"),
    }
}
