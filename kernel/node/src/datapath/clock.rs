//! The RTC as the wall clock's first source: the platform's wall clock read once, as
//! Unix time. The node's disciplined clock (`ops`, `vnetcrypt_ops::wallclock`) starts
//! from it and follows SNTP when configured; flow records take their times from that.

use crate::platform::Platform;
use vnetcrypt_console::DateTime;

/// Days from 1970-01-01 to a proleptic Gregorian date (valid for years 1970..9999).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix time in milliseconds at `t` (0 before 1970).
pub fn unix_ms(t: &DateTime) -> u64 {
    let days = days_from_civil(i64::from(t.year), i64::from(t.month), i64::from(t.day));
    let secs =
        days * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second);
    u64::try_from(secs).unwrap_or(0) * 1000
}

/// Unix time in milliseconds at uptime zero (0 if there is no wall clock).
pub fn epoch_ms(p: &dyn Platform) -> u64 {
    let Some(t) = p.wall_clock() else {
        return 0;
    };
    unix_ms(&t).saturating_sub(p.now_us() / 1000)
}

/// The RTC's time now in Unix microseconds (`None`: the machine has no wall clock).
pub fn rtc_unix_us(p: &dyn Platform) -> Option<i64> {
    let t = p.wall_clock()?;
    i64::try_from(unix_ms(&t)).ok().map(|ms| ms * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_time_of_known_dates() {
        let t = |year, month, day, hour, minute, second| DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        };
        assert_eq!(unix_ms(&t(1970, 1, 1, 0, 0, 0)), 0);
        // 2000-03-01: after a leap day in a year divisible by 400.
        assert_eq!(unix_ms(&t(2000, 3, 1, 0, 0, 0)), 951_868_800_000);
        assert_eq!(unix_ms(&t(2026, 11, 28, 10, 0, 1)), 1_795_860_001_000);
    }
}
