//! The appliance's clocks against the host's: the TSC-based uptime advances at the
//! rate of real time (so the calibration is right), and the RTC shows the host's UTC.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vnetcrypt_tests::{exit, field, kernel, Console, LogDir, PROMPT};

const WAIT: Duration = Duration::from_secs(60);

/// `hh:mm:ss.mmm` (hours may exceed 24? not in a test) to milliseconds.
fn uptime_ms(status: &str) -> u64 {
    let up = field(status, "uptime").expect("uptime field");
    let (hms, ms) = up.split_once('.').unwrap_or_else(|| panic!("{up:?}"));
    let parts: Vec<u64> = hms.split(':').map(|p| p.parse().expect("number")).collect();
    assert_eq!(parts.len(), 3, "{up:?}");
    ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + ms.parse::<u64>().expect("ms")
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDThh:mm:ssZ (RTC)` to seconds since the epoch.
fn rtc_epoch_seconds(status: &str) -> i64 {
    let c = field(status, "clock").expect("clock field");
    let t = c.split_whitespace().next().unwrap();
    let n = |r: std::ops::Range<usize>| -> i64 { t[r].parse().unwrap_or_else(|_| panic!("{t:?}")) };
    days_from_civil(n(0..4), n(5..7), n(8..10)) * 86_400
        + n(11..13) * 3600
        + n(14..16) * 60
        + n(17..19)
}

#[test]
fn civil_dates_convert() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(
        rtc_epoch_seconds("clock     2026-11-28T10:19:02Z (RTC)\n"),
        1_795_861_142
    );
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn uptime_follows_real_time_and_rtc_shows_utc() {
    let logs = LogDir::new("clocks");
    let mut con = Console::boot("microvm", &kernel(), &logs);
    con.wait_for(PROMPT, WAIT);
    con.send(b"status\r");
    let first = con.wait_for(PROMPT, WAIT);
    let host_first = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    con.send(b"status\r");
    let second = con.wait_for(PROMPT, WAIT);
    let host_ms = host_first.elapsed().as_millis() as i64;
    let guest_ms = uptime_ms(&second) as i64 - uptime_ms(&first) as i64;
    // Both intervals span the same two status commands, give or take the console
    // round trips (milliseconds, more on a loaded machine); a TSC calibrated 10% off
    // would be 300 ms off here.
    assert!(
        (guest_ms - host_ms).abs() < 300,
        "guest {guest_ms} ms vs host {host_ms} ms"
    );

    let host_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let rtc = rtc_epoch_seconds(&second);
    assert!((rtc - host_now).abs() <= 5, "RTC {rtc} vs host {host_now}");
    assert_eq!(con.poweroff(), exit::OK);
}
