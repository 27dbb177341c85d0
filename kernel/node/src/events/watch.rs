//! Events from the engine without a hook inside it: each poll the data path hands
//! over every peer's status and counters, and the watch compares them with what it
//! saw last time. A state that changed to or from `up`, a handshake counter that
//! grew, a rekey, an endpoint that moved (the engine's count of moves, which only
//! authenticated input from the peer's new address raises): each becomes an event.
//!
//! Counters that shrink (the engine was rebuilt) and peers seen for the first time
//! only set the baseline; an operator's `peer set NAME endpoint` is recorded as a
//! configuration change, not as a move.

use super::EventKind;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddrV4;
use vnetcrypt_console::TunnelFailure;
use vnetcrypt_gateway::{PeerCounters, PeerState, PeerStatus};

/// One peer as the engine reports it now.
#[derive(Debug, Clone, Copy)]
pub struct PeerFact<'a> {
    pub name: &'a str,
    /// Where records to the peer go now (configured or learned), if known.
    pub endpoint: Option<SocketAddrV4>,
    pub status: PeerStatus,
    pub counters: &'a PeerCounters,
    /// The failure reason in the console's terms (for its explanation).
    pub failure: Option<TunnelFailure>,
}

#[derive(Debug, Clone)]
struct Seen {
    name: String,
    endpoint: Option<SocketAddrV4>,
    moves: u64,
    state: PeerState,
    completed: u64,
    failed: u64,
    rekeys: u64,
    /// Still reported by the engine (peers that are gone are forgotten).
    alive: bool,
}

/// What is compared: endpoint and its moves, state, handshakes completed and failed,
/// rekeys.
type Counts = (Option<SocketAddrV4>, u64, PeerState, u64, u64, u64);

impl Seen {
    fn of(f: &PeerFact<'_>) -> Self {
        let (endpoint, moves, state, completed, failed, rekeys) = Self::counts_of(f);
        Seen {
            name: f.name.to_string(),
            endpoint,
            moves,
            state,
            completed,
            failed,
            rekeys,
            alive: true,
        }
    }

    fn counts_of(f: &PeerFact<'_>) -> Counts {
        (
            f.endpoint,
            f.status.endpoint_moves,
            f.status.state,
            f.counters.handshakes_completed,
            f.counters.handshakes_failed,
            f.counters.rekeys,
        )
    }

    fn clone_counts(&self) -> Counts {
        (
            self.endpoint,
            self.moves,
            self.state,
            self.completed,
            self.failed,
            self.rekeys,
        )
    }
}

/// What the watch saw at the last poll.
#[derive(Debug, Default)]
pub struct PeerWatch {
    seen: Vec<Seen>,
}

/// [`Counts`] by name.
struct View {
    endpoint: Option<SocketAddrV4>,
    moves: u64,
    state: PeerState,
    completed: u64,
    failed: u64,
    rekeys: u64,
}

impl From<Counts> for View {
    fn from((endpoint, moves, state, completed, failed, rekeys): Counts) -> Self {
        View {
            endpoint,
            moves,
            state,
            completed,
            failed,
            rekeys,
        }
    }
}

/// An endpoint, or `none` when not known.
struct Shown(Option<SocketAddrV4>);

impl core::fmt::Display for Shown {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(e) => write!(f, "{e}"),
            None => f.write_str("none"),
        }
    }
}

/// An event to record: kind, facts, line.
pub type Found = (EventKind, Vec<(&'static str, String)>, String);

impl PeerWatch {
    /// Compares `facts` with the last observation; calls `found` for each event.
    /// Runs every poll: in the steady state it allocates nothing (entries are
    /// updated in place, in the engine's peer order).
    pub fn observe<'a>(
        &mut self,
        facts: impl Iterator<Item = PeerFact<'a>>,
        mut found: impl FnMut(Found),
    ) {
        for s in &mut self.seen {
            s.alive = false;
        }
        for (i, f) in facts.enumerate() {
            let at = match self.seen.get(i) {
                Some(s) if s.name == f.name => Some(i),
                _ => self.seen.iter().position(|s| s.name == f.name),
            };
            let Some(at) = at else {
                self.seen.push(Seen::of(&f));
                continue;
            };
            let before = self.seen[at].clone_counts();
            let now = Seen::counts_of(&f);
            self.compare(before, now, &f, &mut found);
            let s = &mut self.seen[at];
            (
                s.endpoint,
                s.moves,
                s.state,
                s.completed,
                s.failed,
                s.rekeys,
            ) = now;
            s.alive = true;
        }
        self.seen.retain(|s| s.alive);
    }

    fn compare(&self, was: Counts, is: Counts, f: &PeerFact<'_>, found: &mut impl FnMut(Found)) {
        let peer = || ("peer", f.name.to_string());
        let (was, is) = (View::from(was), View::from(is));
        let rebuilt =
            is.completed < was.completed || is.failed < was.failed || is.rekeys < was.rekeys;
        if rebuilt {
            return;
        }
        if is.moves > was.moves {
            found((
                EventKind::EndpointMoved,
                vec![
                    peer(),
                    ("from", Shown(was.endpoint).to_string()),
                    ("to", Shown(is.endpoint).to_string()),
                ],
                format!(
                    "peer {}: endpoint moved from {} to {}",
                    f.name,
                    Shown(was.endpoint),
                    Shown(is.endpoint)
                ),
            ));
        }
        if is.failed > was.failed {
            let (token, why) = match f.failure {
                Some(t) => (t.token(), t.explain().1),
                None => ("unknown", "no reason recorded"),
            };
            let mut data = vec![peer(), ("reason", token.to_string())];
            let n = is.failed - was.failed;
            if n > 1 {
                data.push(("count", n.to_string()));
            }
            found((
                EventKind::HandshakeFailed,
                data,
                format!("peer {}: handshake failed: {token} ({why})", f.name),
            ));
        }
        if is.completed > was.completed {
            let suite = f.status.suite.unwrap_or("unknown");
            found((
                EventKind::HandshakeCompleted,
                vec![
                    peer(),
                    ("endpoint", Shown(is.endpoint).to_string()),
                    ("suite", suite.to_string()),
                ],
                format!(
                    "peer {}: handshake completed with {} ({suite})",
                    f.name,
                    Shown(is.endpoint)
                ),
            ));
        }
        if is.rekeys > was.rekeys {
            found((
                EventKind::Rekey,
                vec![peer()],
                format!("peer {}: rekey started", f.name),
            ));
        }
        if is.state == PeerState::Up && was.state != PeerState::Up {
            found((
                EventKind::PeerUp,
                vec![peer(), ("endpoint", Shown(is.endpoint).to_string())],
                format!("peer {}: up ({})", f.name, Shown(is.endpoint)),
            ));
        }
        if was.state == PeerState::Up && is.state != PeerState::Up {
            found((
                EventKind::PeerDown,
                vec![peer(), ("state", is.state.name().to_string())],
                format!("peer {}: down (now {})", f.name, is.state.name()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vnetcrypt_gateway::{FailureReason, Instant};

    fn status(state: PeerState, failure: Option<FailureReason>) -> PeerStatus {
        PeerStatus {
            state,
            since: Instant::ZERO,
            last_handshake: None,
            last_authenticated: None,
            last_failure: failure,
            suite: (state == PeerState::Up).then_some("ECDHE-ECDSA-AES128-GCM-SHA256"),
            endpoint: None,
            configured_endpoint: None,
            endpoint_moves: 0,
            last_move: None,
            pin_used: None,
        }
    }

    /// One observation of gw-b at `endpoint` after `moves` moves.
    fn observe(
        w: &mut PeerWatch,
        (endpoint, moves): (&str, u64),
        state: PeerState,
        c: &PeerCounters,
    ) -> Vec<Found> {
        let mut out = Vec::new();
        let mut st = status(state, Some(FailureReason::PinMismatch));
        st.endpoint_moves = moves;
        let fact = PeerFact {
            name: "gw-b",
            endpoint: Some(endpoint.parse().unwrap()),
            status: st,
            counters: c,
            failure: Some(TunnelFailure::PinMismatch),
        };
        w.observe([fact].into_iter(), |f| out.push(f));
        out
    }

    fn kinds(found: &[Found]) -> Vec<EventKind> {
        found.iter().map(|f| f.0).collect()
    }

    #[test]
    fn changes_become_events_and_a_steady_peer_makes_none() {
        let mut w = PeerWatch::default();
        let ep = ("192.0.2.2:4433", 0);
        let mut c = PeerCounters::default();
        assert!(
            observe(&mut w, ep, PeerState::Idle, &c).is_empty(),
            "baseline"
        );
        c.handshakes_failed = 1;
        let f = observe(&mut w, ep, PeerState::Connecting, &c);
        assert_eq!(kinds(&f), [EventKind::HandshakeFailed]);
        assert!(f[0].1.contains(&("reason", "pin-mismatch".into())));
        assert!(
            f[0].2.contains("pin-mismatch (the peer's key"),
            "{}",
            f[0].2
        );
        c.handshakes_completed = 1;
        let f = observe(&mut w, ep, PeerState::Up, &c);
        assert_eq!(
            kinds(&f),
            [EventKind::HandshakeCompleted, EventKind::PeerUp]
        );
        assert!(f[0]
            .1
            .contains(&("suite", "ECDHE-ECDSA-AES128-GCM-SHA256".into())));
        assert!(observe(&mut w, ep, PeerState::Up, &c).is_empty(), "steady");
        c.rekeys = 1;
        let moved = ("198.51.100.7:5000", 1);
        let f = observe(&mut w, moved, PeerState::Up, &c);
        assert_eq!(kinds(&f), [EventKind::EndpointMoved, EventKind::Rekey]);
        assert!(f[0].1.contains(&("from", ep.0.into())));
        assert!(f[0].1.contains(&("to", moved.0.into())));
        let f = observe(&mut w, moved, PeerState::Down, &c);
        assert_eq!(kinds(&f), [EventKind::PeerDown]);
    }

    #[test]
    fn configured_endpoints_and_a_rebuilt_engine_are_no_events() {
        let mut w = PeerWatch::default();
        let mut c = PeerCounters {
            handshakes_completed: 5,
            ..PeerCounters::default()
        };
        observe(&mut w, ("192.0.2.2:4433", 0), PeerState::Up, &c);
        // `peer set gw-b endpoint ...`: another endpoint, but no move.
        let configured = ("192.0.2.9:4433", 0);
        assert!(observe(&mut w, configured, PeerState::Up, &c).is_empty());
        c.handshakes_completed = 0;
        assert!(observe(&mut w, configured, PeerState::Idle, &c).is_empty());
    }

    #[test]
    fn peers_are_matched_by_name_when_others_come_and_go() {
        let mut w = PeerWatch::default();
        let c0 = PeerCounters::default();
        let c1 = PeerCounters {
            handshakes_completed: 1,
            ..PeerCounters::default()
        };
        let fact = |name, c| PeerFact {
            name,
            endpoint: None,
            status: status(PeerState::Idle, None),
            counters: c,
            failure: None,
        };
        let mut out = Vec::new();
        w.observe([fact("b", &c0), fact("c", &c0)].into_iter(), |f| {
            out.push(f)
        });
        // b is removed; c (now first) completes a handshake.
        w.observe([fact("c", &c1)].into_iter(), |f| out.push(f));
        assert_eq!(kinds(&out), [EventKind::HandshakeCompleted]);
        assert!(out[0].2.starts_with("peer c:"), "{}", out[0].2);
        // b comes back with counters of its own: a new baseline, no event.
        w.observe([fact("b", &c1), fact("c", &c1)].into_iter(), |f| {
            out.push(f)
        });
        assert_eq!(out.len(), 1);
    }
}
