//! The appliance's wall clock: Unix time as a base plus uptime, set from the RTC at
//! boot and then disciplined by SNTP samples.
//!
//! - The first sample steps the clock (the RTC is only a fallback, often seconds or
//!   hours off). Later samples slew it when their offset is below
//!   [`STEP_THRESHOLD_US`] (the correction is spread over time at [`SLEW_PPM`], so the
//!   clock never jumps and never runs backwards), and step it otherwise; the caller
//!   logs every step ([`Correction::Stepped`]), backwards ones included.
//! - Drift between the uptime counter and the server is corrected by the periodic
//!   re-sync: each sample slews away what accumulated since the last.
//!
//! Nothing here reads a clock: uptime is an argument (microseconds), so the tests run
//! on a fake one.

/// Offsets below this are slewed, larger ones stepped (ntpd's default step threshold).
pub const STEP_THRESHOLD_US: i64 = 128_000;
/// How fast a slew moves the clock: 500 µs per second, as the Linux kernel's
/// `adjtime` does.
pub const SLEW_PPM: u64 = 500;

/// Where the wall clock's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// No RTC and no SNTP sample: Unix time counts from 0 at boot.
    None,
    /// The RTC read at boot.
    Rtc,
    /// SNTP samples.
    Sntp,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::None => "none",
            Source::Rtc => "rtc",
            Source::Sntp => "sntp",
        }
    }
}

/// What a sample did to the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    /// Moved at once by this many microseconds (negative: backwards).
    Stepped(i64),
    /// Being moved gradually by this many microseconds.
    Slewing(i64),
}

/// A correction being applied gradually.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slew {
    total_us: i64,
    from: u64,
}

impl Slew {
    /// How much of it is applied at uptime `now`.
    fn applied(&self, now: u64) -> i64 {
        let max = now.saturating_sub(self.from).saturating_mul(SLEW_PPM) / 1_000_000;
        let done = self.total_us.unsigned_abs().min(max) as i64;
        if self.total_us < 0 {
            -done
        } else {
            done
        }
    }
}

/// The last sample that was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastSync {
    /// Uptime when it was applied.
    pub at: u64,
    pub offset_us: i64,
    pub delay_us: i64,
    pub stratum: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WallClock {
    /// Unix microseconds at uptime zero (before any slew in progress).
    base_us: i64,
    slew: Option<Slew>,
    source: Source,
    /// The source when no SNTP sample is in use (what `reset` goes back to).
    fallback: (i64, Source),
    pub last_sync: Option<LastSync>,
    /// Steps so far, and backwards steps among them.
    pub steps: u64,
    pub backward_steps: u64,
}

impl WallClock {
    /// From the RTC's Unix time in microseconds read at uptime `now` (`None`: no RTC).
    pub fn new(rtc_unix_us: Option<i64>, now: u64) -> Self {
        let fallback = match rtc_unix_us {
            Some(t) => (t.saturating_sub(now as i64), Source::Rtc),
            None => (0, Source::None),
        };
        Self {
            base_us: fallback.0,
            slew: None,
            source: fallback.1,
            fallback,
            last_sync: None,
            steps: 0,
            backward_steps: 0,
        }
    }

    pub fn source(&self) -> Source {
        self.source
    }

    /// Unix time in microseconds at uptime `now`.
    pub fn unix_us(&self, now: u64) -> i64 {
        let slewed = self.slew.map_or(0, |s| s.applied(now));
        self.base_us
            .saturating_add(now as i64)
            .saturating_add(slewed)
    }

    /// Unix milliseconds at uptime zero as seen now (what flow records add their
    /// uptime to); 0 when that would be before 1970.
    pub fn epoch_ms(&self, now: u64) -> u64 {
        let at_zero = self.unix_us(now).saturating_sub(now as i64);
        u64::try_from(at_zero / 1000).unwrap_or(0)
    }

    /// Applies an SNTP sample taken at uptime `now`: `offset_us` is what to add to
    /// [`Self::unix_us`] to get the server's time.
    pub fn apply(&mut self, now: u64, offset_us: i64, delay_us: i64, stratum: u8) -> Correction {
        // Fold what the previous slew already did into the base.
        if let Some(s) = self.slew.take() {
            self.base_us = self.base_us.saturating_add(s.applied(now));
        }
        let first = self.source != Source::Sntp;
        self.source = Source::Sntp;
        self.last_sync = Some(LastSync {
            at: now,
            offset_us,
            delay_us,
            stratum,
        });
        if first || offset_us.unsigned_abs() >= STEP_THRESHOLD_US as u64 {
            self.base_us = self.base_us.saturating_add(offset_us);
            self.steps += 1;
            if offset_us < 0 {
                self.backward_steps += 1;
            }
            return Correction::Stepped(offset_us);
        }
        self.slew = Some(Slew {
            total_us: offset_us,
            from: now,
        });
        Correction::Slewing(offset_us)
    }

    /// Back to the RTC (SNTP turned off): the time it gave at boot, plus uptime.
    pub fn reset(&mut self) {
        self.base_us = self.fallback.0;
        self.source = self.fallback.1;
        self.slew = None;
        self.last_sync = None;
    }
}

/// Writes Unix milliseconds as `2026-11-30T05:12:03.123Z` (times before 1970 as 1970).
pub fn write_iso8601(w: &mut dyn core::fmt::Write, unix_ms: i64) -> core::fmt::Result {
    let ms = unix_ms.max(0);
    let (days, rem) = (ms / 86_400_000, ms % 86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    write!(
        w,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_of_known_times() {
        let f = |ms| {
            let mut s = std::string::String::new();
            write_iso8601(&mut s, ms).unwrap();
            s
        };
        assert_eq!(f(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(f(951_868_800_000), "2000-03-01T00:00:00.000Z");
        assert_eq!(f(1_795_860_001_234), "2026-11-28T10:00:01.234Z");
        assert_eq!(f(-5), "1970-01-01T00:00:00.000Z");
    }

    const RTC: i64 = 1_796_083_200_000_000;
    const S: u64 = 1_000_000;

    #[test]
    fn the_rtc_until_the_first_sample_then_a_step() {
        let mut c = WallClock::new(Some(RTC), 2 * S);
        assert_eq!(c.source(), Source::Rtc);
        assert_eq!(c.unix_us(2 * S), RTC);
        assert_eq!(c.unix_us(3 * S), RTC + 1_000_000);
        assert_eq!(c.epoch_ms(3 * S), (RTC as u64 - 2 * S) / 1000);
        // Even a small first offset is stepped: from now on the time is the server's.
        assert_eq!(c.apply(3 * S, -5_000, 100, 2), Correction::Stepped(-5_000));
        assert_eq!(c.source(), Source::Sntp);
        assert_eq!(c.unix_us(3 * S), RTC + 995_000);
        assert_eq!(c.backward_steps, 1);
        c.reset();
        assert_eq!(c.source(), Source::Rtc);
        assert_eq!(c.unix_us(3 * S), RTC + 1_000_000);
    }

    #[test]
    fn small_offsets_slew_without_going_backwards() {
        let mut c = WallClock::new(Some(RTC), 0);
        c.apply(0, 0, 0, 2);
        // 100 ms slow: at 500 ppm it takes 200 s to catch up, always forwards.
        assert_eq!(
            c.apply(10 * S, -100_000, 0, 2),
            Correction::Slewing(-100_000)
        );
        let mut last = c.unix_us(10 * S);
        for t in (10 * S..300 * S).step_by(S as usize) {
            let now = c.unix_us(t);
            assert!(now >= last, "went backwards at {t}");
            last = now;
        }
        assert_eq!(c.unix_us(210 * S), RTC + 210_000_000 - 100_000);
        assert_eq!(c.unix_us(300 * S), RTC + 300_000_000 - 100_000);
        // A new sample mid-slew keeps what was applied and slews the rest.
        let mut d = WallClock::new(Some(RTC), 0);
        d.apply(0, 0, 0, 2);
        d.apply(0, 100_000, 0, 2);
        let mid = d.unix_us(100 * S);
        assert_eq!(mid, RTC + 100_000_000 + 50_000);
        assert_eq!(d.apply(100 * S, 50_000, 0, 2), Correction::Slewing(50_000));
        assert_eq!(d.unix_us(100 * S), mid);
        assert_eq!(d.unix_us(400 * S), RTC + 400_000_000 + 100_000);
    }

    #[test]
    fn large_offsets_step_and_backward_steps_are_counted() {
        let mut c = WallClock::new(None, 0);
        assert_eq!(c.source(), Source::None);
        assert_eq!(c.unix_us(5 * S), 5_000_000);
        c.apply(5 * S, RTC, 0, 1);
        assert_eq!(c.unix_us(5 * S), RTC + 5_000_000);
        assert_eq!(
            c.apply(6 * S, -3_600 * 1_000_000, 0, 1),
            Correction::Stepped(-3_600_000_000)
        );
        assert_eq!(c.backward_steps, 1);
        assert_eq!(c.steps, 2);
        assert_eq!(c.unix_us(6 * S), RTC + 6_000_000 - 3_600_000_000);
    }

    #[test]
    fn epoch_before_1970_is_zero() {
        let c = WallClock::new(Some(-5_000_000), 0);
        assert_eq!(c.epoch_ms(1), 0);
    }
}
