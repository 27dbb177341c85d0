//! Events as RFC 5424 syslog messages, one per UDP datagram (RFC 5426):
//!
//! `<PRI>1 TIMESTAMP HOSTNAME vnetcrypt - MSGID [meta sequenceId="N"][vnetcrypt@32473 k="v" ...] MSG`
//!
//! - PRI = facility local0 (16) × 8 + the event's severity;
//! - TIMESTAMP: the wall-clock time the event was recorded, UTC with milliseconds
//!   (`-` without a wall clock);
//! - HOSTNAME: the appliance's lan address (RFC 5424 allows an IP address), or `-`;
//! - MSGID: one per event kind (`HANDSHAKE_OK`, `PEER_DOWN`, ...);
//! - STRUCTURED-DATA: IANA's `meta` element with the event's sequence number (so a
//!   receiver sees gaps), and the event's facts under our SD-ID `vnetcrypt@32473`
//!   (32473 is the private enterprise number RFC 5612 reserves for documentation);
//!   values escape `"`, `\` and `]` as §6.3.3 requires;
//! - MSG: the event's line in plain ASCII/UTF-8, without a BOM, cut to fit
//!   [`MAX_DATAGRAM`] bytes.

use super::view::iso8601;
use super::Event;
use alloc::string::String;
use core::fmt::Write;

/// The largest datagram we send: well under the 2048 bytes RFC 5426 says receivers
/// should take, and inside one 1500-byte frame.
pub const MAX_DATAGRAM: usize = 1024;

/// local0: the facility appliances conventionally log under.
const FACILITY: u8 = 16;

/// Our structured-data element's ID.
const SD_ID: &str = "vnetcrypt@32473";

/// What every message of this appliance shares.
#[derive(Debug, Clone, Copy)]
pub struct SyslogHeader<'a> {
    /// HOSTNAME (an address, or `-`).
    pub hostname: &'a str,
}

/// A PARAM-VALUE with `"`, `\` and `]` escaped.
struct ParamValue<'a>(&'a str);

impl core::fmt::Display for ParamValue<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for c in self.0.chars() {
            if matches!(c, '"' | '\\' | ']') {
                f.write_char('\\')?;
            }
            // Control characters would end the message early for some receivers.
            f.write_char(if c.is_control() { ' ' } else { c })?;
        }
        Ok(())
    }
}

/// Writes `e` as one RFC 5424 message into `out` (cleared first).
pub fn format_syslog(e: &Event, h: &SyslogHeader<'_>, out: &mut String) {
    out.clear();
    let pri = FACILITY * 8 + e.kind.severity() as u8;
    let time = e.unix_ms.map(iso8601);
    let _ = write!(
        out,
        "<{pri}>1 {} {} vnetcrypt - {} [meta sequenceId=\"{}\"]",
        time.as_deref().unwrap_or("-"),
        if h.hostname.is_empty() {
            "-"
        } else {
            h.hostname
        },
        e.kind.msgid(),
        // sequenceId is 1..2147483647 and wraps.
        (e.seq - 1) % 2_147_483_647 + 1
    );
    if !e.data.is_empty() {
        let _ = write!(out, "[{SD_ID}");
        for (k, v) in &e.data {
            let _ = write!(out, " {k}=\"{}\"", ParamValue(v));
        }
        out.push(']');
    }
    out.push(' ');
    for c in e.message.chars() {
        if out.len() + c.len_utf8() > MAX_DATAGRAM {
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;
    use alloc::string::ToString;
    use alloc::vec;

    fn event(kind: EventKind, data: alloc::vec::Vec<(&'static str, String)>) -> Event {
        Event {
            seq: 7,
            uptime_us: 1_000_000,
            unix_ms: Some(1_795_860_001_123),
            kind,
            data,
            message: "peer gw-b: handshake failed: pin mismatch".to_string(),
        }
    }

    #[test]
    fn a_message_has_every_rfc5424_field() {
        let e = event(
            EventKind::HandshakeFailed,
            vec![
                ("peer", "gw-b".to_string()),
                ("reason", "pin-mismatch".to_string()),
            ],
        );
        let mut out = String::new();
        format_syslog(
            &e,
            &SyslogHeader {
                hostname: "10.1.0.1",
            },
            &mut out,
        );
        assert_eq!(
            out,
            "<132>1 2026-11-28T10:00:01.123Z 10.1.0.1 vnetcrypt - HANDSHAKE_FAIL \
             [meta sequenceId=\"7\"][vnetcrypt@32473 peer=\"gw-b\" reason=\"pin-mismatch\"] \
             peer gw-b: handshake failed: pin mismatch"
        );
    }

    #[test]
    fn values_are_escaped_and_nil_values_used() {
        let mut e = event(
            EventKind::ConfigChanged,
            vec![("added", "a\"b\\c]d\ne".into())],
        );
        e.unix_ms = None;
        e.message = "x".repeat(5000);
        let mut out = String::new();
        format_syslog(&e, &SyslogHeader { hostname: "" }, &mut out);
        assert!(
            out.starts_with("<133>1 - - vnetcrypt - CONFIG_CHANGED"),
            "{out}"
        );
        assert!(out.contains(r#"added="a\"b\\c\]d e"]"#), "{out}");
        assert_eq!(out.len(), MAX_DATAGRAM);
    }
}
