//! The event log: what happened to the appliance that an operator wants to know
//! afterwards — boot, handshakes completed and failed (with the reason), peers up and
//! down, rekeys, endpoints that moved, configuration changed and saved, disk errors.
//!
//! The log is bounded: it keeps the newest [`CAPACITY`] events and counts those it
//! had to overwrite. Events carry the uptime and, when the wall clock is known, the
//! Unix time at which they were recorded. They are shown by `events` (text or JSON)
//! and exported as RFC 5424 syslog (`syslog.rs`) by the data path's exporter.
//! Nothing here ever holds a key: configuration changes are recorded as the
//! statements `config show` prints, which never include the identity key.

mod syslog;
mod view;
mod watch;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

pub use syslog::{format_syslog, SyslogHeader};
pub(crate) use view::iso8601;
pub use view::{write_events, write_events_json};
pub use watch::{PeerFact, PeerWatch};

/// Events kept at most; older ones are overwritten (and counted).
pub const CAPACITY: usize = 256;

/// What happened. Each kind has its own syslog MSGID and severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Boot,
    HandshakeCompleted,
    HandshakeFailed,
    PeerUp,
    PeerDown,
    Rekey,
    EndpointMoved,
    ConfigChanged,
    ConfigSaved,
    DiskError,
}

/// RFC 5424 severities used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error = 3,
    Warning = 4,
    Notice = 5,
    Informational = 6,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Informational => "info",
        }
    }
}

impl EventKind {
    /// The syslog MSGID (also shown by `events`).
    pub fn msgid(self) -> &'static str {
        match self {
            EventKind::Boot => "BOOT",
            EventKind::HandshakeCompleted => "HANDSHAKE_OK",
            EventKind::HandshakeFailed => "HANDSHAKE_FAIL",
            EventKind::PeerUp => "PEER_UP",
            EventKind::PeerDown => "PEER_DOWN",
            EventKind::Rekey => "REKEY",
            EventKind::EndpointMoved => "ENDPOINT_MOVED",
            EventKind::ConfigChanged => "CONFIG_CHANGED",
            EventKind::ConfigSaved => "CONFIG_SAVED",
            EventKind::DiskError => "DISK_ERROR",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            EventKind::DiskError => Severity::Error,
            EventKind::HandshakeFailed | EventKind::PeerDown => Severity::Warning,
            EventKind::Boot
            | EventKind::PeerUp
            | EventKind::EndpointMoved
            | EventKind::ConfigChanged
            | EventKind::ConfigSaved => Severity::Notice,
            EventKind::HandshakeCompleted | EventKind::Rekey => Severity::Informational,
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Numbers every event since boot, from 1 (gaps show overwritten ones).
    pub seq: u64,
    pub uptime_us: u64,
    /// Unix time in milliseconds when it was recorded; `None` without a wall clock.
    pub unix_ms: Option<u64>,
    pub kind: EventKind,
    /// Structured facts (`peer`, `reason`, `suite`, ...), by name.
    pub data: Vec<(&'static str, String)>,
    /// One line for people.
    pub message: String,
}

/// The bounded log.
#[derive(Debug, Default)]
pub struct EventLog {
    events: VecDeque<Event>,
    next_seq: u64,
    overwritten: u64,
}

impl EventLog {
    /// Records an event.
    pub fn push(
        &mut self,
        uptime_us: u64,
        unix_ms: Option<u64>,
        kind: EventKind,
        data: Vec<(&'static str, String)>,
        message: String,
    ) {
        if self.events.len() >= CAPACITY {
            self.events.pop_front();
            self.overwritten += 1;
        }
        self.next_seq += 1;
        self.events.push_back(Event {
            seq: self.next_seq,
            uptime_us,
            unix_ms,
            kind,
            data,
            message,
        });
    }

    /// The events kept, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Event> + ExactSizeIterator {
        self.events.iter()
    }

    /// Events overwritten because the log was full.
    pub fn overwritten(&self) -> u64 {
        self.overwritten
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq + 1
    }

    /// The kept events from sequence number `seq` on.
    pub fn starting_at(&self, seq: u64) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(move |e| e.seq >= seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn the_log_is_bounded_and_counts_what_it_overwrote() {
        let mut log = EventLog::default();
        for i in 0..CAPACITY + 5 {
            log.push(i as u64, None, EventKind::Rekey, Vec::new(), i.to_string());
        }
        assert_eq!(log.iter().len(), CAPACITY);
        assert_eq!(log.overwritten(), 5);
        assert_eq!(log.iter().next().map(|e| e.seq), Some(6));
        assert_eq!(log.iter().last().map(|e| e.seq), Some(CAPACITY as u64 + 5));
        assert_eq!(log.starting_at(CAPACITY as u64 + 4).count(), 2);
        assert_eq!(log.next_seq(), CAPACITY as u64 + 6);
    }

    #[test]
    fn msgids_are_distinct_and_valid() {
        use EventKind::*;
        let all = [
            Boot,
            HandshakeCompleted,
            HandshakeFailed,
            PeerUp,
            PeerDown,
            Rekey,
            EndpointMoved,
            ConfigChanged,
            ConfigSaved,
            DiskError,
        ];
        let mut ids: Vec<_> = all.iter().map(|k| k.msgid()).collect();
        for id in &ids {
            // RFC 5424: MSGID is 1*32 PRINTUSASCII.
            assert!(!id.is_empty() && id.len() <= 32);
            assert!(id.bytes().all(|b| (33..=126).contains(&b)));
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
    }
}
