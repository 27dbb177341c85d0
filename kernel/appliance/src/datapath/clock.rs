//! Wall-clock time for flow records: the RTC read once, minus the uptime then.

use vnetcrypt_drivers::rtc::CmosRtc;

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

/// Unix time in milliseconds at uptime zero (0 if the RTC cannot be read).
pub fn epoch_ms() -> u64 {
    // SAFETY: 0x70/0x71 are the CMOS RTC on PC machines and microvm; reading the time
    // has no side effect on other users of those ports.
    let Some(t) = (unsafe { CmosRtc::new() }).read() else {
        return 0;
    };
    let days = days_from_civil(i64::from(t.year), i64::from(t.month), i64::from(t.day));
    let secs =
        days * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second);
    let now_ms = u64::try_from(secs).unwrap_or(0) * 1000;
    now_ms.saturating_sub(crate::clock::uptime_us() / 1000)
}
