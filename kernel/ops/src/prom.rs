//! A writer of the Prometheus text exposition format, version 0.0.4: each metric
//! family is announced by `# HELP` and `# TYPE` lines and followed by its samples,
//! label values escaped (`\\`, `\"`, `\n`). Counters are named `..._total` by the
//! caller; the writer checks names only in debug builds.
//!
//! [`Histogram`] keeps fixed buckets in microseconds and writes `_bucket{le=...}`
//! (cumulative, ending with `+Inf`), `_sum` (seconds) and `_count`.

use core::fmt::{self, Write};

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Writes an exposition into `w`.
pub struct Exposition<'w> {
    w: &'w mut dyn Write,
}

impl<'w> Exposition<'w> {
    pub fn new(w: &'w mut dyn Write) -> Self {
        Self { w }
    }

    /// Starts a metric family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, help: &str, kind: Kind) -> fmt::Result {
        debug_assert!(kind != Kind::Counter || name.ends_with("_total"));
        write!(self.w, "# HELP {name} ")?;
        for c in help.chars() {
            match c {
                '\\' => self.w.write_str("\\\\")?,
                '\n' => self.w.write_str("\\n")?,
                c => self.w.write_char(c)?,
            }
        }
        writeln!(self.w, "\n# TYPE {name} {}", kind.name())
    }

    /// One sample of the current family with an integer value.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) -> fmt::Result {
        self.series(name, labels)?;
        writeln!(self.w, " {value}")
    }

    /// One sample with a value in seconds, given in microseconds.
    pub fn sample_secs(&mut self, name: &str, labels: &[(&str, &str)], us: i64) -> fmt::Result {
        self.series(name, labels)?;
        self.w.write_char(' ')?;
        write_secs(self.w, us)?;
        self.w.write_char('\n')
    }

    /// A family with a single sample, in one call.
    pub fn single(&mut self, name: &str, help: &str, kind: Kind, value: u64) -> fmt::Result {
        self.family(name, help, kind)?;
        self.sample(name, &[], value)
    }

    fn series(&mut self, name: &str, labels: &[(&str, &str)]) -> fmt::Result {
        self.w.write_str(name)?;
        if labels.is_empty() {
            return Ok(());
        }
        self.w.write_char('{')?;
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                self.w.write_char(',')?;
            }
            write!(self.w, "{k}=\"")?;
            for c in v.chars() {
                match c {
                    '\\' => self.w.write_str("\\\\")?,
                    '"' => self.w.write_str("\\\"")?,
                    '\n' => self.w.write_str("\\n")?,
                    c => self.w.write_char(c)?,
                }
            }
            self.w.write_char('"')?;
        }
        self.w.write_char('}')
    }
}

/// `us` microseconds as seconds in decimal, without trailing zeros (`0.25`, `3`, `-1.5`).
pub fn write_secs(w: &mut dyn Write, us: i64) -> fmt::Result {
    let sign = if us < 0 { "-" } else { "" };
    let a = us.unsigned_abs();
    let (whole, frac) = (a / 1_000_000, a % 1_000_000);
    if frac == 0 {
        return write!(w, "{sign}{whole}");
    }
    let mut digits = 6;
    let mut f = frac;
    while f % 10 == 0 {
        f /= 10;
        digits -= 1;
    }
    write!(w, "{sign}{whole}.{f:0digits$}")
}

/// A histogram with fixed upper bounds (microseconds, ascending).
#[derive(Debug, Clone)]
pub struct Histogram<const N: usize> {
    bounds: [u64; N],
    /// Observations in each bucket (not cumulative).
    counts: [u64; N],
    count: u64,
    sum_us: u64,
}

impl<const N: usize> Histogram<N> {
    pub const fn new(bounds: [u64; N]) -> Self {
        Self {
            bounds,
            counts: [0; N],
            count: 0,
            sum_us: 0,
        }
    }

    pub fn observe(&mut self, us: u64) {
        if let Some(i) = self.bounds.iter().position(|&b| us <= b) {
            self.counts[i] = self.counts[i].wrapping_add(1);
        }
        self.count = self.count.wrapping_add(1);
        self.sum_us = self.sum_us.wrapping_add(us);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The family `name` with its buckets, `_sum` and `_count`.
    pub fn write(&self, e: &mut Exposition<'_>, name: &str, help: &str) -> fmt::Result {
        e.family(name, help, Kind::Histogram)?;
        let mut cumulative = 0u64;
        let mut le = heapless_str::Buf::new();
        for (b, n) in self.bounds.iter().zip(self.counts) {
            cumulative = cumulative.wrapping_add(n);
            le.clear();
            write_secs(&mut le, i64::try_from(*b).unwrap_or(i64::MAX))?;
            e.bucket(name, le.as_str(), cumulative)?;
        }
        e.bucket(name, "+Inf", self.count)?;
        write!(e.w, "{name}_sum ")?;
        write_secs(e.w, i64::try_from(self.sum_us).unwrap_or(i64::MAX))?;
        writeln!(e.w, "\n{name}_count {}", self.count)
    }
}

impl Exposition<'_> {
    fn bucket(&mut self, name: &str, le: &str, n: u64) -> fmt::Result {
        writeln!(self.w, "{name}_bucket{{le=\"{le}\"}} {n}")
    }
}

/// A tiny fixed-size string for bucket bounds (no allocation).
mod heapless_str {
    use core::fmt;

    pub struct Buf {
        bytes: [u8; 32],
        len: usize,
    }

    impl Buf {
        pub fn new() -> Self {
            Self {
                bytes: [0; 32],
                len: 0,
            }
        }
        pub fn clear(&mut self) {
            self.len = 0;
        }
        pub fn as_str(&self) -> &str {
            core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
        }
    }

    impl fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.len + s.len();
            let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
            dst.copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn families_samples_and_escaping() {
        let mut s = String::new();
        let mut e = Exposition::new(&mut s);
        e.family(
            "vnetcrypt_peer_records_total",
            "Records a\\b\nc.",
            Kind::Counter,
        )
        .unwrap();
        e.sample(
            "vnetcrypt_peer_records_total",
            &[("peer", "gw\"b\\\n"), ("direction", "tx")],
            7,
        )
        .unwrap();
        e.single("vnetcrypt_up", "Up.", Kind::Gauge, 1).unwrap();
        assert_eq!(
            s,
            "# HELP vnetcrypt_peer_records_total Records a\\\\b\\nc.\n\
             # TYPE vnetcrypt_peer_records_total counter\n\
             vnetcrypt_peer_records_total{peer=\"gw\\\"b\\\\\\n\",direction=\"tx\"} 7\n\
             # HELP vnetcrypt_up Up.\n# TYPE vnetcrypt_up gauge\nvnetcrypt_up 1\n"
        );
    }

    #[test]
    fn seconds_in_decimal() {
        let f = |us| {
            let mut s = String::new();
            write_secs(&mut s, us).unwrap();
            s
        };
        assert_eq!(f(0), "0");
        assert_eq!(f(5_000), "0.005");
        assert_eq!(f(250_000), "0.25");
        assert_eq!(f(3_000_000), "3");
        assert_eq!(f(-1_500_001), "-1.500001");
        assert_eq!(f(i64::MIN), "-9223372036854.775808");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::new([10_000, 100_000, 1_000_000]);
        for us in [5_000, 10_000, 50_000, 2_000_000] {
            h.observe(us);
        }
        let mut s = String::new();
        h.write(&mut Exposition::new(&mut s), "x_seconds", "X.")
            .unwrap();
        assert_eq!(
            s,
            "# HELP x_seconds X.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{le=\"0.01\"} 2\nx_seconds_bucket{le=\"0.1\"} 3\n\
             x_seconds_bucket{le=\"1\"} 3\nx_seconds_bucket{le=\"+Inf\"} 4\n\
             x_seconds_sum 2.065\nx_seconds_count 4\n"
        );
    }
}
