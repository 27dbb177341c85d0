//! The one-line summary at the top of `status`: how many peers are configured, up,
//! down and failing, the global enforcement and the uptime — health at a glance.

use crate::peers::{PeerReport, TunnelState};
use crate::status::Uptime;
use core::fmt::{self, Write};
use vnetcrypt_config::Enforcement;

/// The tally behind the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health<'a> {
    pub configured: usize,
    pub up: usize,
    pub down: usize,
    /// Not up, and the last handshake failed (a wrong pin, no answer, ...).
    pub failing: usize,
    pub enforcement: Enforcement,
    pub uptime_ms: u64,
    /// Why the data plane is not running, if it is not.
    pub inactive: Option<&'a str>,
}

impl<'a> Health<'a> {
    /// Counts the peers of `reports`.
    pub fn tally(
        reports: &[PeerReport<'_>],
        enforcement: Enforcement,
        uptime_ms: u64,
        inactive: Option<&'a str>,
    ) -> Self {
        let mut h = Health {
            configured: reports.len(),
            up: 0,
            down: 0,
            failing: 0,
            enforcement,
            uptime_ms,
            inactive,
        };
        for t in reports.iter().filter_map(|r| r.tunnel) {
            match t.state {
                Some(TunnelState::Up) => h.up += 1,
                Some(TunnelState::Down) => h.down += 1,
                Some(TunnelState::Connecting) if t.last_failure.is_some() => h.failing += 1,
                _ => {}
            }
        }
        h
    }
}

/// Writes `health    N peers: U up, D down, F failing; enforcement E; uptime T`.
pub fn write_health(h: &Health<'_>, w: &mut dyn Write) -> fmt::Result {
    write!(
        w,
        "health    {} peers: {} up, {} down, {} failing; enforcement {}; uptime {}",
        h.configured,
        h.up,
        h.down,
        h.failing,
        h.enforcement.keyword(),
        Uptime(h.uptime_ms)
    )?;
    if let Some(why) = h.inactive {
        write!(w, "; data plane inactive: {why}")?;
    }
    w.write_str("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{TunnelFailure, TunnelStatus};
    use std::string::String;
    use std::vec::Vec;
    use vnetcrypt_config::{Fingerprint, PeerConfig};

    #[test]
    fn counts_each_state_once() {
        let cfg = PeerConfig {
            name: "p".into(),
            endpoint: Some("192.0.2.2:4433".parse().unwrap()),
            fingerprint: Fingerprint([1; 32]),
            second_pin: None,
            prefixes: std::vec!["10.2.0.0/24".parse().unwrap()],
            enforcement: None,
            transit: false,
        };
        let t = |state, last_failure| TunnelStatus {
            state: Some(state),
            last_failure,
            ..TunnelStatus::default()
        };
        let tunnels = [
            Some(t(TunnelState::Up, None)),
            Some(t(TunnelState::Up, Some(TunnelFailure::Timeout))),
            Some(t(TunnelState::Down, None)),
            Some(t(TunnelState::Connecting, Some(TunnelFailure::PinMismatch))),
            Some(t(TunnelState::Connecting, None)),
            Some(t(TunnelState::Idle, None)),
            None,
        ];
        let reports: Vec<_> = tunnels
            .iter()
            .map(|&tunnel| PeerReport {
                config: &cfg,
                enforcement: Enforcement::DropUnencrypted,
                tunnel,
                traffic: None,
            })
            .collect();
        let h = Health::tally(&reports, Enforcement::DropUnencrypted, 3_723_004, None);
        assert_eq!((h.configured, h.up, h.down, h.failing), (7, 2, 1, 1));
        let mut out = String::new();
        write_health(&h, &mut out).unwrap();
        assert_eq!(
            out,
            "health    7 peers: 2 up, 1 down, 1 failing; enforcement drop; uptime 01:02:03.004\n"
        );
        let h = Health::tally(
            &[],
            Enforcement::AllowUnencrypted,
            0,
            Some("not configured"),
        );
        let mut out = String::new();
        write_health(&h, &mut out).unwrap();
        assert!(
            out.ends_with(
                "enforcement allow; uptime 00:00:00.000; data plane inactive: not configured\n"
            ),
            "{out}"
        );
    }
}
