//! `peers` and `peer show NAME`: per peer its tunnel state, since when, the last
//! handshake, the last authenticated record and why it last failed, so that a wrong
//! fingerprint (pin mismatch) and a dead peer (no response) look different. The kernel
//! gathers the facts from the gateway engine; this module only lays them out.

use core::fmt::{self, Write};
use core::net::SocketAddrV4;
use vnetcrypt_config::{Enforcement, Fingerprint, PeerConfig};

/// A peer's tunnel, as the operator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelState {
    /// No session and no attempt (no traffic for the peer yet).
    Idle,
    /// A handshake is running.
    Connecting,
    /// Authenticated records arrive.
    Up,
    /// No authenticated record for the configured time, or every handshake failed.
    Down,
}

impl TunnelState {
    pub fn name(self) -> &'static str {
        match self {
            TunnelState::Idle => "idle",
            TunnelState::Connecting => "connecting",
            TunnelState::Up => "up",
            TunnelState::Down => "down",
        }
    }
}

/// Why the last handshake or session with a peer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelFailure {
    /// The peer authenticated with a key whose fingerprint is not the pinned one.
    PinMismatch,
    /// A handshake started but did not complete in time.
    Timeout,
    /// Nothing authenticated came back: the peer is unreachable or dead.
    NoResponse,
    /// The peer ended the handshake with an authenticated alert.
    AlertFromPeer,
    /// The peer broke the protocol.
    Protocol,
    /// No endpoint is configured and the peer has not called: nothing to try.
    NoEndpoint,
}

impl TunnelFailure {
    /// The token scripts and syslog see (`pin-mismatch`, ...).
    pub fn token(self) -> &'static str {
        match self {
            TunnelFailure::PinMismatch => "pin-mismatch",
            TunnelFailure::Timeout => "timeout",
            TunnelFailure::NoResponse => "no-response",
            TunnelFailure::AlertFromPeer => "alert-from-peer",
            TunnelFailure::Protocol => "protocol",
            TunnelFailure::NoEndpoint => "no-endpoint",
        }
    }

    /// The short name and what it means for the operator.
    pub fn explain(self) -> (&'static str, &'static str) {
        match self {
            TunnelFailure::PinMismatch => (
                "pin mismatch",
                "the peer's key does not match the pinned fingerprint",
            ),
            TunnelFailure::Timeout => ("timeout", "a handshake did not complete in time"),
            TunnelFailure::NoResponse => (
                "no response",
                "nothing authenticated from the peer: unreachable or dead",
            ),
            TunnelFailure::AlertFromPeer => ("alert from peer", "the peer refused the handshake"),
            TunnelFailure::Protocol => ("protocol error", "the peer broke the DTLS protocol"),
            TunnelFailure::NoEndpoint => (
                "no endpoint",
                "no endpoint configured and the peer has not called us",
            ),
        }
    }
}

/// The engine's facts about one peer, times as milliseconds before now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TunnelStatus {
    pub state: Option<TunnelState>,
    /// How long the peer has been in `state`.
    pub since_ms: Option<u64>,
    pub last_handshake_ms: Option<u64>,
    pub last_authenticated_ms: Option<u64>,
    pub last_failure: Option<TunnelFailure>,
    /// Where records to the peer go now (configured, or learned from the peer's
    /// authenticated handshake or records); `None`: not known yet.
    pub endpoint: Option<SocketAddrV4>,
    /// Times the endpoint moved ("endpoint moved" events), and how long ago last.
    pub endpoint_moves: u64,
    pub last_move_ms: Option<u64>,
    /// The pin the peer authenticated with in its last completed handshake.
    pub pin_used: Option<Fingerprint>,
    /// The cipher suite of the session in use (OpenSSL's name).
    pub suite: Option<&'static str>,
}

/// What crossed a peer's tunnel: records (inner packets) and their inner bytes each
/// way, and the handshakes and rekeys that keyed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TunnelTraffic {
    pub sent_records: u64,
    pub sent_bytes: u64,
    pub received_records: u64,
    pub received_bytes: u64,
    pub handshakes_started: u64,
    pub handshakes_completed: u64,
    pub handshakes_failed: u64,
    pub rekeys: u64,
}

/// One peer: its configuration, the enforcement that applies, and its tunnel.
#[derive(Debug, Clone, Copy)]
pub struct PeerReport<'a> {
    pub config: &'a PeerConfig,
    /// The effective enforcement (the peer's own or the global one).
    pub enforcement: Enforcement,
    /// `None` when the data plane is not running (or does not know the peer).
    pub tunnel: Option<TunnelStatus>,
    /// `None` when the data plane is not running (or does not know the peer).
    pub traffic: Option<TunnelTraffic>,
}

/// A duration in the largest two units: `45s`, `2m05s`, `1h02m`, `3d04h`.
pub struct Elapsed(pub u64);

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0 / 1000;
        let (m, h, d) = (s / 60, s / 3600, s / 86_400);
        if d > 0 {
            write!(f, "{d}d{:02}h", h % 24)
        } else if h > 0 {
            write!(f, "{h}h{:02}m", m % 60)
        } else if m > 0 {
            write!(f, "{m}m{:02}s", s % 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

/// An endpoint, or `none` (a peer that calls us and has not yet).
struct EndpointText(Option<SocketAddrV4>);

impl fmt::Display for EndpointText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(e) => write!(f, "{e}"),
            None => f.write_str("none"),
        }
    }
}

struct Ago(Option<u64>);

impl fmt::Display for Ago {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ms) => write!(f, "{} ago", Elapsed(ms)),
            None => f.write_str("never"),
        }
    }
}

/// Writes one peer; `detail` adds its fingerprint and prefixes (`peer show`).
pub fn write_peer(p: &PeerReport<'_>, detail: bool, w: &mut dyn Write) -> fmt::Result {
    let c = p.config;
    let current = p.tunnel.and_then(|t| t.endpoint).or(c.endpoint);
    write!(w, "peer {}  {}  ", c.name, EndpointText(current))?;
    match p.tunnel.and_then(|t| t.state.map(|s| (s, t.since_ms))) {
        Some((state, Some(since))) => write!(w, "{} for {}", state.name(), Elapsed(since))?,
        Some((state, None)) => w.write_str(state.name())?,
        None => w.write_str("inactive")?,
    }
    w.write_str("\n")?;
    if let Some(t) = p.tunnel {
        writeln!(
            w,
            "  last handshake {}, last authenticated record {}",
            Ago(t.last_handshake_ms),
            Ago(t.last_authenticated_ms)
        )?;
        if let Some(f) = t.last_failure {
            let (name, what) = f.explain();
            writeln!(w, "  last failure: {name} ({what})")?;
        }
        if t.endpoint.is_some() && t.endpoint != c.endpoint {
            writeln!(
                w,
                "  endpoint {} learned from handshake (configured {})",
                EndpointText(t.endpoint),
                EndpointText(c.endpoint)
            )?;
        }
        if t.endpoint_moves > 0 {
            writeln!(
                w,
                "  endpoint moved {} times, last {}",
                t.endpoint_moves,
                Ago(t.last_move_ms)
            )?;
        }
        // With two pins (a rotation), which one the peer uses decides when the old
        // one can go.
        if let Some(used) = t.pin_used.filter(|_| c.second_pin.is_some() || detail) {
            writeln!(w, "  pin used {used}")?;
        }
    }
    if let Some(x) = p.traffic {
        let suite = p.tunnel.and_then(|t| t.suite).unwrap_or("none");
        writeln!(
            w,
            "  suite {suite}; sent {} records {} bytes, received {} records {} bytes; rekeys {}",
            x.sent_records, x.sent_bytes, x.received_records, x.received_bytes, x.rekeys
        )?;
    }
    write!(w, "  enforcement {}", p.enforcement.keyword())?;
    if c.enforcement.is_none() {
        w.write_str(" (global)")?;
    }
    if c.transit {
        w.write_str(", transit on")?;
    }
    w.write_str("\n")?;
    if detail {
        write!(w, "  fingerprint {}", c.fingerprint)?;
        if let Some(second) = c.second_pin {
            write!(w, ",{second}")?;
        }
        w.write_str("\n")?;
        w.write_str("  prefixes    ")?;
        for (i, q) in c.prefixes.iter().enumerate() {
            write!(w, "{}{q}", if i > 0 { "," } else { "" })?;
        }
        w.write_str("\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec;
    use vnetcrypt_config::Fingerprint;

    fn peer(name: &str) -> PeerConfig {
        PeerConfig {
            name: name.into(),
            endpoint: Some("192.0.2.2:4433".parse().unwrap()),
            fingerprint: Fingerprint([0xab; 32]),
            second_pin: None,
            prefixes: vec![
                "10.2.0.0/24".parse().unwrap(),
                "10.3.0.0/16".parse().unwrap(),
            ],
            enforcement: None,
            transit: false,
        }
    }

    fn render(p: &PeerReport<'_>, detail: bool) -> String {
        let mut out = String::new();
        write_peer(p, detail, &mut out).unwrap();
        out
    }

    #[test]
    fn an_up_peer_shows_its_times() {
        let cfg = peer("gw-b");
        let out = render(
            &PeerReport {
                config: &cfg,
                enforcement: Enforcement::DropUnencrypted,
                tunnel: Some(TunnelStatus {
                    state: Some(TunnelState::Up),
                    since_ms: Some(125_000),
                    last_handshake_ms: Some(125_400),
                    last_authenticated_ms: Some(900),
                    last_failure: None,
                    endpoint: Some("192.0.2.2:4433".parse().unwrap()),
                    suite: Some("ECDHE-ECDSA-AES128-GCM-SHA256"),
                    ..TunnelStatus::default()
                }),
                traffic: Some(TunnelTraffic {
                    sent_records: 808,
                    sent_bytes: 1_148_478,
                    received_records: 305,
                    received_bytes: 16_748,
                    rekeys: 2,
                    ..TunnelTraffic::default()
                }),
            },
            false,
        );
        assert_eq!(
            out,
            "peer gw-b  192.0.2.2:4433  up for 2m05s\n\
             \x20 last handshake 2m05s ago, last authenticated record 0s ago\n\
             \x20 suite ECDHE-ECDSA-AES128-GCM-SHA256; sent 808 records 1148478 bytes, \
             received 305 records 16748 bytes; rekeys 2\n\
             \x20 enforcement drop (global)\n"
        );
    }

    #[test]
    fn a_wrong_fingerprint_and_a_dead_peer_look_different() {
        let cfg = peer("gw-b");
        let down = |failure| {
            render(
                &PeerReport {
                    config: &cfg,
                    enforcement: Enforcement::AllowUnencrypted,
                    tunnel: Some(TunnelStatus {
                        state: Some(TunnelState::Down),
                        since_ms: Some(31_000),
                        last_handshake_ms: None,
                        last_authenticated_ms: Some(61_000),
                        last_failure: Some(failure),
                        ..TunnelStatus::default()
                    }),
                    traffic: None,
                },
                false,
            )
        };
        let pin = down(TunnelFailure::PinMismatch);
        let dead = down(TunnelFailure::NoResponse);
        assert!(pin.contains("down for 31s"), "{pin}");
        assert!(pin.contains("last handshake never, last authenticated record 1m01s ago"));
        assert!(
            pin.contains("last failure: pin mismatch (the peer's key does not match"),
            "{pin}"
        );
        assert!(
            dead.contains("last failure: no response (nothing authenticated"),
            "{dead}"
        );
        assert_ne!(pin, dead);
        for f in [
            TunnelFailure::PinMismatch,
            TunnelFailure::Timeout,
            TunnelFailure::NoResponse,
            TunnelFailure::AlertFromPeer,
            TunnelFailure::Protocol,
            TunnelFailure::NoEndpoint,
        ] {
            assert!(down(f).contains(f.explain().0));
        }
    }

    #[test]
    fn detail_and_an_inactive_data_plane() {
        let mut cfg = peer("gw-c");
        cfg.enforcement = Some(Enforcement::AllowUnencrypted);
        let out = render(
            &PeerReport {
                config: &cfg,
                enforcement: Enforcement::AllowUnencrypted,
                tunnel: None,
                traffic: None,
            },
            true,
        );
        assert_eq!(
            out,
            "peer gw-c  192.0.2.2:4433  inactive\n\
             \x20 enforcement allow\n\
             \x20 fingerprint abababababababababababababababababababababababababababababababab\n\
             \x20 prefixes    10.2.0.0/24,10.3.0.0/16\n"
        );
    }

    #[test]
    fn a_learned_endpoint_its_moves_and_the_pin_in_use() {
        let mut cfg = peer("gw-n");
        cfg.endpoint = None;
        cfg.second_pin = Some(Fingerprint([0xcd; 32]));
        let report = |tunnel| PeerReport {
            config: &cfg,
            enforcement: Enforcement::DropUnencrypted,
            tunnel,
            traffic: None,
        };
        let out = render(
            &report(Some(TunnelStatus {
                state: Some(TunnelState::Up),
                since_ms: Some(5_000),
                endpoint: Some("203.0.113.1:40002".parse().unwrap()),
                endpoint_moves: 2,
                last_move_ms: Some(3_000),
                pin_used: Some(Fingerprint([0xcd; 32])),
                ..TunnelStatus::default()
            })),
            false,
        );
        assert!(
            out.starts_with("peer gw-n  203.0.113.1:40002  up for 5s\n"),
            "{out}"
        );
        assert!(
            out.contains("  endpoint 203.0.113.1:40002 learned from handshake (configured none)\n"),
            "{out}"
        );
        assert!(
            out.contains("  endpoint moved 2 times, last 3s ago\n"),
            "{out}"
        );
        assert!(out.contains(&std::format!("  pin used {}\n", Fingerprint([0xcd; 32]))));
        // Not called yet, nothing configured: `none`; detail shows both pins.
        let out = render(&report(None), true);
        assert!(out.starts_with("peer gw-n  none  inactive\n"), "{out}");
        assert!(out.contains(&std::format!(
            "  fingerprint {},{}\n",
            Fingerprint([0xab; 32]),
            Fingerprint([0xcd; 32])
        )));
    }

    #[test]
    fn elapsed_uses_two_units() {
        let shown = |ms| std::format!("{}", Elapsed(ms));
        assert_eq!(shown(0), "0s");
        assert_eq!(shown(59_999), "59s");
        assert_eq!(shown(3_600_000 + 120_000), "1h02m");
        assert_eq!(shown(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
        assert_eq!(
            shown(u64::MAX),
            std::format!(
                "{}d{:02}h",
                u64::MAX / 86_400_000,
                (u64::MAX / 3_600_000) % 24
            )
        );
    }
}
