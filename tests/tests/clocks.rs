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

/// How far the guest's uptime may run from real time: a TSC calibrated 10% off fails.
const RATE_TOLERANCE: f64 = 0.02;

/// One `status`: the host's time when it was sent and when its answer was complete,
/// and the guest's uptime in it (read somewhere in between).
fn sample(con: &mut Console) -> (Instant, u64, Instant, String) {
    let sent = Instant::now();
    con.send(b"status\r");
    let text = con.wait_for(PROMPT, WAIT);
    let answered = Instant::now();
    (sent, uptime_ms(&text), answered, text)
}

#[test]
#[ignore = "boots QEMU: run by `make test-qemu` after building the kernel"]
fn uptime_follows_real_time_and_rtc_shows_utc() {
    let logs = LogDir::new("clocks");
    let mut con = Console::boot("microvm", &kernel(), &logs);
    con.wait_for(PROMPT, WAIT);
    // The guest read its clock between sending and answering each `status`, so the
    // guest interval lies between the host's shortest and longest possible intervals
    // (second sent - first answered, second answered - first sent), whatever the
    // console round trips cost on a loaded machine. The rate is checked against those
    // bounds; a sample whose bounds are too loose to tell 2% apart (a slow round trip)
    // is taken again instead of widening the tolerance.
    let mut tries = Vec::new();
    let second = loop {
        let (sent1, up1, answered1, _) = sample(&mut con);
        std::thread::sleep(Duration::from_secs(3)); // the interval measured, not a wait for anything
        let (sent2, up2, answered2, text) = sample(&mut con);
        let shortest = sent2.duration_since(answered1).as_secs_f64() * 1000.0;
        let longest = answered2.duration_since(sent1).as_secs_f64() * 1000.0;
        let guest = up2 as f64 - up1 as f64;
        tries.push(format!(
            "guest {guest} ms, host between {shortest:.0} and {longest:.0} ms"
        ));
        if longest - shortest > shortest * RATE_TOLERANCE && tries.len() < 5 {
            continue;
        }
        // 1 ms: the uptime's resolution.
        assert!(
            guest >= shortest * (1.0 - RATE_TOLERANCE) - 1.0
                && guest <= longest * (1.0 + RATE_TOLERANCE) + 1.0,
            "the guest's uptime does not advance at real time (within {}%): {tries:?}",
            RATE_TOLERANCE * 100.0
        );
        break text;
    };
    eprintln!("clocks: {tries:?}");

    let host_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let rtc = rtc_epoch_seconds(&second);
    assert!((rtc - host_now).abs() <= 5, "RTC {rtc} vs host {host_now}");
    assert_eq!(con.poweroff(), exit::OK);
}
