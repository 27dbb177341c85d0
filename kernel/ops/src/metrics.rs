//! The appliance's metrics as Prometheus text: a [`Snapshot`] of plain numbers (the
//! node fills it from its NICs, the gateway engine and the clock) rendered by
//! [`render`]. Every family is present in every scrape (zeros included), so series do
//! not appear and vanish; labels are `interface`, `reason`, `peer`, `direction`,
//! `state`, `code`.

use crate::prom::{Exposition, Histogram, Kind};
use core::fmt;

/// Upper bounds of the handshake latency histogram, in microseconds.
pub const HANDSHAKE_BUCKETS_US: [u64; 11] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

/// The handshake latency histogram's type.
pub type HandshakeLatency = Histogram<{ HANDSHAKE_BUCKETS_US.len() }>;

/// The states a peer's tunnel can be in, as the `state` label says them.
pub const PEER_STATES: [&str; 4] = ["idle", "connecting", "up", "down"];
/// The states of a peer's DTLS session.
pub const SESSION_STATES: [&str; 4] = ["none", "handshaking", "established", "failed"];

/// One NIC's counters.
#[derive(Debug, Clone, Copy)]
pub struct InterfaceStats<'a> {
    pub name: &'a str,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// Frames dropped on receive, by reason.
    pub drops: &'a [(&'a str, u64)],
}

/// One peer's tunnel.
#[derive(Debug, Clone, Copy)]
pub struct PeerStats<'a> {
    pub name: &'a str,
    /// One of [`PEER_STATES`].
    pub state: &'a str,
    /// One of [`SESSION_STATES`].
    pub session: &'a str,
    pub sealed_packets: u64,
    pub sealed_bytes: u64,
    pub opened_packets: u64,
    pub opened_bytes: u64,
    pub handshakes_started: u64,
    pub handshakes_completed: u64,
    pub handshakes_failed: u64,
    pub rekeys: u64,
    pub went_down: u64,
    pub drops: u64,
}

/// The wall clock and its SNTP client.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeStats {
    /// The source is SNTP (a good answer was applied).
    pub synced: bool,
    /// The last applied offset, and how long ago (microseconds).
    pub last_offset_us: Option<(i64, u64)>,
    pub requests: u64,
    pub good_replies: u64,
    pub rejected: u64,
    pub timeouts: u64,
    pub steps: u64,
    pub backward_steps: u64,
}

/// Everything a scrape shows.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    pub uptime_us: u64,
    pub interfaces: &'a [InterfaceStats<'a>],
    /// The engine is running (else the gateway families are all zero).
    pub dataplane_up: bool,
    pub peers: &'a [PeerStats<'a>],
    /// Packets the gateway engine dropped, by reason.
    pub gateway_drops: &'a [(&'a str, u64)],
    pub flows_active: u64,
    pub flows_capacity: u64,
    pub flows_created: u64,
    pub flows_evicted: u64,
    pub handshake_latency: &'a HandshakeLatency,
    pub time: TimeStats,
    /// Answers of this endpoint by HTTP status code.
    pub http_answers: &'a [(u16, u64)],
}

/// Writes the whole exposition.
pub fn render(s: &Snapshot<'_>, w: &mut dyn fmt::Write) -> fmt::Result {
    let mut e = Exposition::new(w);
    e.family(
        "vnetcrypt_uptime_seconds",
        "Time since the appliance booted.",
        Kind::Gauge,
    )?;
    e.sample_secs("vnetcrypt_uptime_seconds", &[], s.uptime_us as i64)?;
    interfaces(&mut e, s.interfaces)?;
    e.single(
        "vnetcrypt_dataplane_up",
        "1 when the gateway engine runs (addresses and identity present).",
        Kind::Gauge,
        u64::from(s.dataplane_up),
    )?;
    peers(&mut e, s.peers)?;
    e.family(
        "vnetcrypt_gateway_drops_total",
        "Packets the gateway engine dropped, by reason.",
        Kind::Counter,
    )?;
    for (reason, n) in s.gateway_drops {
        e.sample("vnetcrypt_gateway_drops_total", &[("reason", reason)], *n)?;
    }
    e.family(
        "vnetcrypt_sessions",
        "Peers whose DTLS session is in each state.",
        Kind::Gauge,
    )?;
    for state in SESSION_STATES {
        let n = s.peers.iter().filter(|p| p.session == state).count() as u64;
        e.sample("vnetcrypt_sessions", &[("state", state)], n)?;
    }
    s.handshake_latency.write(
        &mut e,
        "vnetcrypt_handshake_duration_seconds",
        "Time from a handshake's start to its completion, as the node saw it.",
    )?;
    e.single(
        "vnetcrypt_flows_active",
        "Flows in the flow table.",
        Kind::Gauge,
        s.flows_active,
    )?;
    e.single(
        "vnetcrypt_flows_capacity",
        "Flows the flow table holds at most.",
        Kind::Gauge,
        s.flows_capacity,
    )?;
    e.single(
        "vnetcrypt_flows_created_total",
        "Flows created.",
        Kind::Counter,
        s.flows_created,
    )?;
    e.single(
        "vnetcrypt_flows_evicted_total",
        "Flows evicted because the table was full.",
        Kind::Counter,
        s.flows_evicted,
    )?;
    time(&mut e, &s.time)?;
    e.family(
        "vnetcrypt_metrics_http_responses_total",
        "Answers of this endpoint, by HTTP status code.",
        Kind::Counter,
    )?;
    for (code, n) in s.http_answers {
        let mut c = [0u8; 3];
        let code = code_str(*code, &mut c);
        e.sample(
            "vnetcrypt_metrics_http_responses_total",
            &[("code", code)],
            *n,
        )?;
    }
    Ok(())
}

fn code_str(code: u16, buf: &mut [u8; 3]) -> &str {
    let code = code.min(999);
    buf[0] = b'0' + (code / 100) as u8;
    buf[1] = b'0' + (code / 10 % 10) as u8;
    buf[2] = b'0' + (code % 10) as u8;
    core::str::from_utf8(buf).unwrap_or("000")
}

fn interfaces(e: &mut Exposition<'_>, nics: &[InterfaceStats<'_>]) -> fmt::Result {
    type Field = fn(&InterfaceStats<'_>) -> u64;
    let families: [(&str, &str, Field); 6] = [
        (
            "vnetcrypt_interface_rx_packets_total",
            "Frames received.",
            |i| i.rx_packets,
        ),
        (
            "vnetcrypt_interface_rx_bytes_total",
            "Bytes received.",
            |i| i.rx_bytes,
        ),
        (
            "vnetcrypt_interface_tx_packets_total",
            "Frames sent.",
            |i| i.tx_packets,
        ),
        ("vnetcrypt_interface_tx_bytes_total", "Bytes sent.", |i| {
            i.tx_bytes
        }),
        (
            "vnetcrypt_interface_rx_errors_total",
            "Receive descriptors the device returned inconsistent.",
            |i| i.rx_errors,
        ),
        (
            "vnetcrypt_interface_tx_errors_total",
            "Frames that could not be queued for sending.",
            |i| i.tx_errors,
        ),
    ];
    for (name, help, field) in families {
        e.family(name, help, Kind::Counter)?;
        for i in nics {
            e.sample(name, &[("interface", i.name)], field(i))?;
        }
    }
    let name = "vnetcrypt_interface_rx_drops_total";
    e.family(
        name,
        "Received frames dropped by the NIC's screen, by reason.",
        Kind::Counter,
    )?;
    for i in nics {
        for (reason, n) in i.drops {
            e.sample(name, &[("interface", i.name), ("reason", reason)], *n)?;
        }
    }
    Ok(())
}

fn peers(e: &mut Exposition<'_>, peers: &[PeerStats<'_>]) -> fmt::Result {
    let name = "vnetcrypt_peer_state";
    e.family(
        name,
        "1 for the state the tunnel to the peer is in, 0 for the others.",
        Kind::Gauge,
    )?;
    for p in peers {
        for state in PEER_STATES {
            e.sample(
                name,
                &[("peer", p.name), ("state", state)],
                u64::from(p.state == state),
            )?;
        }
    }
    type Field = fn(&PeerStats<'_>) -> u64;
    let directed: [(&str, &str, Field, Field); 2] = [
        (
            "vnetcrypt_peer_records_total",
            "Records sealed to (tx) and opened from (rx) the peer.",
            |p| p.sealed_packets,
            |p| p.opened_packets,
        ),
        (
            "vnetcrypt_peer_bytes_total",
            "Inner packet bytes sealed to (tx) and opened from (rx) the peer.",
            |p| p.sealed_bytes,
            |p| p.opened_bytes,
        ),
    ];
    for (name, help, tx, rx) in directed {
        e.family(name, help, Kind::Counter)?;
        for p in peers {
            e.sample(name, &[("peer", p.name), ("direction", "tx")], tx(p))?;
            e.sample(name, &[("peer", p.name), ("direction", "rx")], rx(p))?;
        }
    }
    let plain: [(&str, &str, Field); 6] = [
        (
            "vnetcrypt_peer_handshakes_started_total",
            "Handshakes started.",
            |p| p.handshakes_started,
        ),
        (
            "vnetcrypt_peer_handshakes_completed_total",
            "Handshakes completed.",
            |p| p.handshakes_completed,
        ),
        (
            "vnetcrypt_peer_handshake_failures_total",
            "Handshakes that failed.",
            |p| p.handshakes_failed,
        ),
        ("vnetcrypt_peer_rekeys_total", "Sessions rekeyed.", |p| {
            p.rekeys
        }),
        (
            "vnetcrypt_peer_went_down_total",
            "Times the peer was declared down.",
            |p| p.went_down,
        ),
        (
            "vnetcrypt_peer_drops_total",
            "Packets to or from the peer dropped.",
            |p| p.drops,
        ),
    ];
    for (name, help, field) in plain {
        e.family(name, help, Kind::Counter)?;
        for p in peers {
            e.sample(name, &[("peer", p.name)], field(p))?;
        }
    }
    Ok(())
}

fn time(e: &mut Exposition<'_>, t: &TimeStats) -> fmt::Result {
    e.single(
        "vnetcrypt_time_synced",
        "1 when the wall clock follows SNTP, 0 while it is the RTC's.",
        Kind::Gauge,
        u64::from(t.synced),
    )?;
    if let Some((offset, age)) = t.last_offset_us {
        let name = "vnetcrypt_time_offset_seconds";
        e.family(
            name,
            "The offset the last SNTP answer measured (server minus us).",
            Kind::Gauge,
        )?;
        e.sample_secs(name, &[], offset)?;
        let name = "vnetcrypt_time_since_sync_seconds";
        e.family(
            name,
            "Time since the last SNTP answer was applied.",
            Kind::Gauge,
        )?;
        e.sample_secs(name, &[], age as i64)?;
    }
    e.single(
        "vnetcrypt_sntp_requests_total",
        "SNTP requests sent.",
        Kind::Counter,
        t.requests,
    )?;
    e.single(
        "vnetcrypt_sntp_replies_total",
        "SNTP answers applied to the clock.",
        Kind::Counter,
        t.good_replies,
    )?;
    e.single(
        "vnetcrypt_sntp_rejected_total",
        "SNTP datagrams rejected (wrong source, origin, stratum, leap, ...).",
        Kind::Counter,
        t.rejected,
    )?;
    e.single(
        "vnetcrypt_sntp_timeouts_total",
        "SNTP requests left unanswered.",
        Kind::Counter,
        t.timeouts,
    )?;
    e.single(
        "vnetcrypt_time_steps_total",
        "Times the clock was stepped.",
        Kind::Counter,
        t.steps,
    )?;
    e.single(
        "vnetcrypt_time_backward_steps_total",
        "Times the clock was stepped backwards.",
        Kind::Counter,
        t.backward_steps,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    fn scrape(peers: &[PeerStats<'_>], latency: &HandshakeLatency) -> String {
        let drops = [("runt", 1), ("not-ours", 7)];
        let nics = [
            InterfaceStats {
                name: "wan",
                rx_packets: 10,
                rx_bytes: 1000,
                tx_packets: 9,
                tx_bytes: 900,
                rx_errors: 0,
                tx_errors: 0,
                drops: &drops,
            },
            InterfaceStats {
                name: "lan",
                rx_packets: 3,
                rx_bytes: 300,
                tx_packets: 2,
                tx_bytes: 200,
                rx_errors: 0,
                tx_errors: 1,
                drops: &drops,
            },
        ];
        let s = Snapshot {
            uptime_us: 12_500_000,
            interfaces: &nics,
            dataplane_up: true,
            peers,
            gateway_drops: &[("replay", 2), ("no-route", 0)],
            flows_active: 3,
            flows_capacity: 4096,
            flows_created: 5,
            flows_evicted: 0,
            handshake_latency: latency,
            time: TimeStats {
                synced: true,
                last_offset_us: Some((-1500, 2_000_000)),
                requests: 1,
                good_replies: 1,
                ..TimeStats::default()
            },
            http_answers: &[(200, 4), (404, 1)],
        };
        let mut out = String::new();
        render(&s, &mut out).unwrap();
        out
    }

    fn peer<'a>(name: &'a str, state: &'static str) -> PeerStats<'a> {
        PeerStats {
            name,
            state,
            session: "established",
            sealed_packets: 5,
            sealed_bytes: 500,
            opened_packets: 4,
            opened_bytes: 400,
            handshakes_started: 1,
            handshakes_completed: 1,
            handshakes_failed: 0,
            rekeys: 0,
            went_down: 0,
            drops: 0,
        }
    }

    #[test]
    fn every_family_is_announced_once_and_each_sample_follows_its_family() {
        let mut h = HandshakeLatency::new(HANDSHAKE_BUCKETS_US);
        h.observe(120_000);
        let out = scrape(&[peer("gw-b", "up"), peer("gw-c", "down")], &h);
        let mut families: Vec<&str> = Vec::new();
        let mut current = "";
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(!families.contains(&name), "{name} twice");
                assert!(kind != "counter" || name.ends_with("_total"), "{name}");
                families.push(name);
                current = name;
            } else if !line.starts_with('#') {
                let series = line.split(['{', ' ']).next().unwrap();
                let base = series
                    .strip_suffix("_bucket")
                    .or_else(|| series.strip_suffix("_sum"))
                    .or_else(|| series.strip_suffix("_count"))
                    .filter(|b| *b == current)
                    .unwrap_or(series);
                assert_eq!(base, current, "{line}");
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
        for needle in [
            "vnetcrypt_interface_rx_packets_total{interface=\"wan\"} 10\n",
            "vnetcrypt_interface_rx_drops_total{interface=\"lan\",reason=\"not-ours\"} 7\n",
            "vnetcrypt_peer_state{peer=\"gw-b\",state=\"up\"} 1\n",
            "vnetcrypt_peer_state{peer=\"gw-b\",state=\"down\"} 0\n",
            "vnetcrypt_peer_state{peer=\"gw-c\",state=\"down\"} 1\n",
            "vnetcrypt_peer_records_total{peer=\"gw-b\",direction=\"rx\"} 4\n",
            "vnetcrypt_gateway_drops_total{reason=\"replay\"} 2\n",
            "vnetcrypt_sessions{state=\"established\"} 2\n",
            "vnetcrypt_handshake_duration_seconds_bucket{le=\"0.1\"} 0\n",
            "vnetcrypt_handshake_duration_seconds_bucket{le=\"0.25\"} 1\n",
            "vnetcrypt_handshake_duration_seconds_sum 0.12\n",
            "vnetcrypt_flows_capacity 4096\n",
            "vnetcrypt_time_offset_seconds -0.0015\n",
            "vnetcrypt_uptime_seconds 12.5\n",
            "vnetcrypt_metrics_http_responses_total{code=\"404\"} 1\n",
        ] {
            assert!(out.contains(needle), "missing {needle:?} in\n{out}");
        }
    }

    #[test]
    fn no_peers_still_announces_every_family() {
        let h = HandshakeLatency::new(HANDSHAKE_BUCKETS_US);
        let with = scrape(&[peer("gw-b", "up")], &h);
        let without = scrape(&[], &h);
        let types = |s: &str| s.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(types(&with), types(&without));
        assert!(without.contains("vnetcrypt_sessions{state=\"established\"} 0\n"));
    }
}
