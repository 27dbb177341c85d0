//! `events [N]` and `events json`.

use super::{EventLog, CAPACITY};
use alloc::string::String;
use core::fmt::{self, Write};
use vnetcrypt_console::json::Object;

/// `2026-11-28T10:00:00.000Z` for a Unix time in milliseconds (the wall clock's own
/// format, `vnetcrypt_ops::wallclock::write_iso8601`).
pub(crate) fn iso8601(ms: u64) -> String {
    let mut s = String::new();
    let _ = vnetcrypt_ops::wallclock::write_iso8601(&mut s, i64::try_from(ms).unwrap_or(i64::MAX));
    s
}

/// Uptime as seconds with milliseconds.
struct Up(u64);

impl fmt::Display for Up {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 / 1000;
        write!(f, "+{}.{:03}s", ms / 1000, ms % 1000)
    }
}

/// `events [N]`: a summary line, then the newest `newest` events (all kept if
/// `None`), oldest first: time, uptime, MSGID, the line.
pub fn write_events(log: &EventLog, newest: Option<usize>, w: &mut dyn Write) -> fmt::Result {
    let kept = log.iter().len();
    let shown = newest.unwrap_or(kept).min(kept);
    writeln!(
        w,
        "events: {kept} kept (capacity {CAPACITY}), {} overwritten; showing the newest {shown}",
        log.overwritten()
    )?;
    for e in log.iter().skip(kept - shown) {
        let time = e.unix_ms.map(iso8601);
        writeln!(
            w,
            "{:<24} {} {:<15} {}",
            time.as_deref().unwrap_or("-"),
            Up(e.uptime_us),
            e.kind.msgid(),
            e.message
        )?;
    }
    Ok(())
}

/// `events json`: `{"capacity":..,"kept":..,"overwritten":..,"events":[..]}`.
pub fn write_events_json(log: &EventLog, w: &mut dyn Write) -> fmt::Result {
    let mut doc = Object::new(w)?;
    doc.num("capacity", CAPACITY as u64)?
        .num("kept", log.iter().len() as u64)?
        .num("overwritten", log.overwritten())?;
    let mut list = doc.array("events")?;
    for e in log.iter() {
        let mut o = list.object()?;
        o.num("seq", e.seq)?
            .opt_str("time", e.unix_ms.map(iso8601))?
            .num("uptime_ms", e.uptime_us / 1000)?
            .str("kind", e.kind.msgid())?
            .str("severity", e.kind.severity().name())?;
        let mut data = o.object("data")?;
        for (k, v) in &e.data {
            data.str(k, v)?;
        }
        data.end()?;
        o.str("message", &e.message)?;
        o.end()?;
    }
    list.end()?;
    doc.end()?;
    w.write_str("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;
    use alloc::string::ToString;
    use alloc::vec;

    fn log() -> EventLog {
        let mut log = EventLog::default();
        log.push(
            21_000,
            Some(1_795_860_001_000),
            EventKind::Boot,
            vec![("version", "0.1.0".to_string())],
            "vnetcrypt 0.1.0 booted".to_string(),
        );
        log.push(
            3_400_000,
            None,
            EventKind::ConfigChanged,
            vec![("added", "peer add \"x\" \\ y".to_string())],
            "configuration changed: +\"x\"".to_string(),
        );
        log
    }

    #[test]
    fn text_shows_the_newest_with_times() {
        let mut out = String::new();
        write_events(&log(), Some(1), &mut out).unwrap();
        let lines: alloc::vec::Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "events: 2 kept (capacity 256), 0 overwritten; showing the newest 1"
        );
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("-  "), "{out}");
        assert!(lines[1].contains("+3.400s CONFIG_CHANGED"), "{out}");
        let mut out = String::new();
        write_events(&log(), None, &mut out).unwrap();
        assert!(
            out.contains("2026-11-28T10:00:01.000Z +0.021s BOOT"),
            "{out}"
        );
    }

    #[test]
    fn json_parses() {
        let mut out = String::new();
        write_events_json(&log(), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).expect(&out);
        assert_eq!(v["kept"], 2);
        assert_eq!(v["events"][0]["kind"], "BOOT");
        assert_eq!(v["events"][0]["time"], "2026-11-28T10:00:01.000Z");
        assert_eq!(v["events"][0]["severity"], "notice");
        assert_eq!(v["events"][1]["data"]["added"], "peer add \"x\" \\ y");
        assert!(v["events"][1]["time"].is_null());
    }

    #[test]
    fn iso8601_of_known_times() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_868_800_001), "2000-03-01T00:00:00.001Z");
    }
}
