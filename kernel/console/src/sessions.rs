//! `sessions` (one row per peer the data plane knows: state in the words `peers`
//! uses, since when, suite, session age, records and bytes each way, rekeys, last
//! failure) and the JSON forms of `peers` and `sessions`.
//!
//! Every cell of the table is one word (`-` when empty), so a script may split rows on
//! white space and name the cells by the header.

use crate::json::{Array, Object};
use crate::peers::{Elapsed, PeerReport, TunnelStatus, TunnelTraffic};
use core::fmt::{self, Write};

/// The table's columns.
const HEADER: [&str; 12] = [
    "peer",
    "endpoint",
    "state",
    "for",
    "suite",
    "age",
    "sent",
    "sent-bytes",
    "received",
    "received-bytes",
    "rekeys",
    "failure",
];

/// A cell: the value or `-`.
struct Cell<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Cell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => f.pad(&padded(v)?),
            None => f.pad("-"),
        }
    }
}

/// Renders a value into a small stack buffer so that `pad` can align it.
fn padded<T: fmt::Display>(v: &T) -> Result<Short, fmt::Error> {
    let mut s = Short::default();
    write!(s, "{v}")?;
    Ok(s)
}

/// Up to 48 bytes of text (longer values are cut).
struct Short {
    buf: [u8; 48],
    len: usize,
}

impl Default for Short {
    fn default() -> Self {
        Self {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl Write for Short {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut b = [0u8; 4];
            let e = c.encode_utf8(&mut b).as_bytes();
            if self.len + e.len() > self.buf.len() {
                break;
            }
            self.buf[self.len..self.len + e.len()].copy_from_slice(e);
            self.len += e.len();
        }
        Ok(())
    }
}

impl core::ops::Deref for Short {
    type Target = str;
    fn deref(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// Where records to the peer go now: the endpoint the engine holds (configured or
/// learned), else the configured one.
fn current_endpoint(r: &PeerReport<'_>) -> Option<core::net::SocketAddrV4> {
    r.tunnel.and_then(|t| t.endpoint).or(r.config.endpoint)
}

/// The suite without the key exchange and signature both of ours share.
fn short_suite(s: &str) -> &str {
    s.strip_prefix("ECDHE-ECDSA-").unwrap_or(s)
}

/// Writes the `sessions` table for the peers the data plane knows.
pub fn write_sessions(reports: &[PeerReport<'_>], w: &mut dyn Write) -> fmt::Result {
    let row = |w: &mut dyn Write, c: [&dyn fmt::Display; 12]| {
        writeln!(
            w,
            "{:<16} {:<21} {:<10} {:>6} {:<17} {:>6} {:>8} {:>11} {:>8} {:>11} {:>6} {}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]
        )
    };
    let h = HEADER;
    row(
        w,
        [
            &h[0], &h[1], &h[2], &h[3], &h[4], &h[5], &h[6], &h[7], &h[8], &h[9], &h[10], &h[11],
        ],
    )?;
    for r in reports {
        let (Some(t), Some(x)) = (r.tunnel, r.traffic) else {
            continue;
        };
        let state = t.state.map(|s| s.name()).unwrap_or("none");
        let up = t.suite.is_some();
        row(
            w,
            [
                &r.config.name,
                &Cell(current_endpoint(r)),
                &state,
                &Cell(t.since_ms.map(Elapsed)),
                &Cell(t.suite.map(short_suite)),
                &Cell(t.last_handshake_ms.filter(|_| up).map(Elapsed)),
                &x.sent_records,
                &x.sent_bytes,
                &x.received_records,
                &x.received_bytes,
                &x.rekeys,
                &Cell(t.last_failure.map(|f| f.token())),
            ],
        )?;
    }
    Ok(())
}

fn tunnel_fields(o: &mut Object<'_, '_>, t: Option<TunnelStatus>) -> fmt::Result {
    let t = t.unwrap_or_default();
    o.str("state", t.state.map(|s| s.name()).unwrap_or("inactive"))?
        .opt_num("state_for_ms", t.since_ms)?
        .opt_num("last_handshake_ago_ms", t.last_handshake_ms)?
        .opt_num("last_authenticated_ago_ms", t.last_authenticated_ms)?
        .opt_str("suite", t.suite)?
        .num("endpoint_moves", t.endpoint_moves)?
        .opt_num("last_move_ago_ms", t.last_move_ms)?
        .opt_str("pin_used", t.pin_used)?;
    match t.last_failure {
        Some(f) => {
            let mut e = o.object("last_failure")?;
            e.str("reason", f.token())?
                .str("explanation", f.explain().1)?;
            e.end()
        }
        None => o.null("last_failure").map(drop),
    }
}

fn traffic_fields(o: &mut Object<'_, '_>, x: Option<TunnelTraffic>) -> fmt::Result {
    let Some(x) = x else {
        for k in ["sent", "received", "handshakes", "rekeys"] {
            o.null(k)?;
        }
        return Ok(());
    };
    let mut s = o.object("sent")?;
    s.num("records", x.sent_records)?
        .num("bytes", x.sent_bytes)?;
    s.end()?;
    let mut r = o.object("received")?;
    r.num("records", x.received_records)?
        .num("bytes", x.received_bytes)?;
    r.end()?;
    let mut h = o.object("handshakes")?;
    h.num("started", x.handshakes_started)?
        .num("completed", x.handshakes_completed)?
        .num("failed", x.handshakes_failed)?;
    h.end()?;
    o.num("rekeys", x.rekeys).map(drop)
}

fn data_plane(o: &mut Object<'_, '_>, inactive: Option<&str>) -> fmt::Result {
    let mut d = o.object("data_plane")?;
    d.bool("active", inactive.is_none())?
        .opt_str("inactive_reason", inactive)?;
    d.end()
}

/// `peers json`: `{"data_plane":{..},"peers":[{..},..]}` on one line.
pub fn write_peers_json(
    reports: &[PeerReport<'_>],
    inactive: Option<&str>,
    w: &mut dyn Write,
) -> fmt::Result {
    let mut doc = Object::new(w)?;
    data_plane(&mut doc, inactive)?;
    let mut list: Array<'_, '_> = doc.array("peers")?;
    for r in reports {
        let c = r.config;
        let mut o = list.object()?;
        o.str("name", &c.name)?
            .opt_str("endpoint", current_endpoint(r))?
            .opt_str("configured_endpoint", c.endpoint)?
            .str("fingerprint", c.fingerprint)?
            .opt_str("second_pin", c.second_pin)?
            .bool("transit", c.transit)?;
        let mut prefixes = o.array("prefixes")?;
        for p in &c.prefixes {
            prefixes.str(p)?;
        }
        prefixes.end()?;
        o.str("enforcement", r.enforcement.keyword())?.str(
            "enforcement_from",
            if c.enforcement.is_some() {
                "peer"
            } else {
                "global"
            },
        )?;
        tunnel_fields(&mut o, r.tunnel)?;
        traffic_fields(&mut o, r.traffic)?;
        o.end()?;
    }
    list.end()?;
    doc.end()?;
    w.write_str("\n")
}

/// `sessions json`: `{"data_plane":{..},"sessions":[{..},..]}` on one line, one entry
/// per peer the data plane knows.
pub fn write_sessions_json(
    reports: &[PeerReport<'_>],
    inactive: Option<&str>,
    w: &mut dyn Write,
) -> fmt::Result {
    let mut doc = Object::new(w)?;
    data_plane(&mut doc, inactive)?;
    let mut list = doc.array("sessions")?;
    for r in reports.iter().filter(|r| r.tunnel.is_some()) {
        let mut o = list.object()?;
        o.str("peer", &r.config.name)?
            .opt_str("endpoint", current_endpoint(r))?;
        let up = r.tunnel.is_some_and(|t| t.suite.is_some());
        o.opt_num(
            "age_ms",
            r.tunnel.and_then(|t| t.last_handshake_ms).filter(|_| up),
        )?;
        tunnel_fields(&mut o, r.tunnel)?;
        traffic_fields(&mut o, r.traffic)?;
        o.end()?;
    }
    list.end()?;
    doc.end()?;
    w.write_str("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{TunnelFailure, TunnelState};
    use std::string::String;
    use std::vec;
    use std::vec::Vec;
    use vnetcrypt_config::{Enforcement, Fingerprint, PeerConfig};

    fn cfg(name: &str, port: u16) -> PeerConfig {
        PeerConfig {
            name: name.into(),
            endpoint: Some(std::format!("192.0.2.2:{port}").parse().unwrap()),
            fingerprint: Fingerprint([0xab; 32]),
            second_pin: None,
            prefixes: vec!["10.2.0.0/24".parse().unwrap()],
            enforcement: None,
            transit: false,
        }
    }

    fn reports<'a>(up: &'a PeerConfig, failing: &'a PeerConfig) -> Vec<PeerReport<'a>> {
        vec![
            PeerReport {
                config: up,
                enforcement: Enforcement::DropUnencrypted,
                tunnel: Some(TunnelStatus {
                    state: Some(TunnelState::Up),
                    since_ms: Some(125_000),
                    last_handshake_ms: Some(125_400),
                    last_authenticated_ms: Some(900),
                    last_failure: None,
                    suite: Some("ECDHE-ECDSA-AES128-GCM-SHA256"),
                    ..TunnelStatus::default()
                }),
                traffic: Some(TunnelTraffic {
                    sent_records: 808,
                    sent_bytes: 1_148_478,
                    received_records: 305,
                    received_bytes: 16_748,
                    handshakes_started: 1,
                    handshakes_completed: 1,
                    handshakes_failed: 0,
                    rekeys: 3,
                }),
            },
            PeerReport {
                config: failing,
                enforcement: Enforcement::AllowUnencrypted,
                tunnel: Some(TunnelStatus {
                    state: Some(TunnelState::Connecting),
                    since_ms: Some(31_000),
                    last_failure: Some(TunnelFailure::PinMismatch),
                    ..TunnelStatus::default()
                }),
                traffic: Some(TunnelTraffic {
                    handshakes_started: 4,
                    handshakes_failed: 4,
                    ..TunnelTraffic::default()
                }),
            },
        ]
    }

    #[test]
    fn the_table_uses_the_words_of_peers_and_one_word_per_cell() {
        let (a, b) = (cfg("gw-b", 4433), cfg("gw-c", 4444));
        let mut out = String::new();
        write_sessions(&reports(&a, &b), &mut out).unwrap();
        let lines: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(lines[0], HEADER.to_vec());
        assert_eq!(
            lines[1],
            [
                "gw-b",
                "192.0.2.2:4433",
                "up",
                "2m05s",
                "AES128-GCM-SHA256",
                "2m05s",
                "808",
                "1148478",
                "305",
                "16748",
                "3",
                "-"
            ]
        );
        assert_eq!(
            lines[2],
            [
                "gw-c",
                "192.0.2.2:4444",
                "connecting",
                "31s",
                "-",
                "-",
                "0",
                "0",
                "0",
                "0",
                "0",
                "pin-mismatch"
            ]
        );
        assert!(!out.contains("established"), "{out}");
    }

    #[test]
    fn json_forms_parse_and_carry_the_facts() {
        let (a, mut b) = (cfg("gw-b", 4433), cfg("gw-\"c\\", 4444));
        b.enforcement = Some(Enforcement::AllowUnencrypted);
        let mut out = String::new();
        write_peers_json(&reports(&a, &b), None, &mut out).unwrap();
        assert_eq!(out.matches('\n').count(), 1, "one line: {out}");
        let v: serde_json::Value = serde_json::from_str(&out).expect(&out);
        assert_eq!(v["data_plane"]["active"], true);
        let p = &v["peers"][0];
        assert_eq!(p["name"], "gw-b");
        assert_eq!(p["endpoint"], "192.0.2.2:4433");
        assert_eq!(p["fingerprint"], "ab".repeat(32));
        assert_eq!(p["prefixes"][0], "10.2.0.0/24");
        assert_eq!(p["state"], "up");
        assert_eq!(p["state_for_ms"], 125_000);
        assert_eq!(p["suite"], "ECDHE-ECDSA-AES128-GCM-SHA256");
        assert_eq!(p["sent"]["records"], 808);
        assert_eq!(p["received"]["bytes"], 16_748);
        assert_eq!(p["rekeys"], 3);
        assert_eq!(p["enforcement_from"], "global");
        assert!(p["last_failure"].is_null());
        let q = &v["peers"][1];
        assert_eq!(q["name"], "gw-\"c\\");
        assert_eq!(q["enforcement"], "allow");
        assert_eq!(q["enforcement_from"], "peer");
        assert_eq!(q["last_failure"]["reason"], "pin-mismatch");
        assert!(q["last_handshake_ago_ms"].is_null());

        let mut out = String::new();
        write_sessions_json(&reports(&a, &b), None, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).expect(&out);
        assert_eq!(v["sessions"][0]["peer"], "gw-b");
        assert_eq!(v["sessions"][0]["age_ms"], 125_400);
        assert!(v["sessions"][1]["age_ms"].is_null());
        assert_eq!(v["sessions"][1]["handshakes"]["failed"], 4);
    }

    #[test]
    fn an_inactive_data_plane_is_said_in_json_too() {
        let a = cfg("gw-b", 4433);
        let r = [PeerReport {
            config: &a,
            enforcement: Enforcement::DropUnencrypted,
            tunnel: None,
            traffic: None,
        }];
        let mut out = String::new();
        write_peers_json(&r, Some("locked: \"disk\""), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).expect(&out);
        assert_eq!(v["data_plane"]["active"], false);
        assert_eq!(v["data_plane"]["inactive_reason"], "locked: \"disk\"");
        assert_eq!(v["peers"][0]["state"], "inactive");
        assert!(v["peers"][0]["sent"].is_null());
        let mut out = String::new();
        write_sessions_json(&r, Some("x"), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).expect(&out);
        assert!(v["sessions"].as_array().unwrap().is_empty());
    }
}
