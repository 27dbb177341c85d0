//! The monotonic clock: the TSC, calibrated at boot against the PIT (a timer of
//! known frequency), never an assumed frequency. Where no PIT answers, the frequency
//! the CPU itself reports (CPUID 0x15/0x16) is used and the source says so.

use crate::arch::cpu::{rdtsc, reported_tsc_hz};
use core::sync::atomic::{AtomicU64, Ordering};
use vnetcrypt_drivers::pit::{Pit, TickAccumulator, PIT_HZ};

static ENTRY_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// Calibration window: 5 ms of PIT ticks.
const CALIBRATION_TICKS: u64 = PIT_HZ / 200;
/// Reads of an unchanging count after which the PIT is taken to be absent.
const ABSENT_AFTER_READS: u32 = 50_000;

/// Where the TSC frequency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Calibration {
    Pit,
    Cpuid,
    Unavailable,
}

/// Calibrates the TSC; `entry_tsc` is the TSC value read at kernel entry.
pub fn init(entry_tsc: u64) -> Calibration {
    ENTRY_TSC.store(entry_tsc, Ordering::Relaxed);
    let (hz, source) = match calibrate_against_pit() {
        Some(hz) => (hz, Calibration::Pit),
        None => match reported_tsc_hz() {
            Some(hz) => (hz, Calibration::Cpuid),
            None => (0, Calibration::Unavailable),
        },
    };
    TSC_HZ.store(hz, Ordering::Relaxed);
    source
}

fn calibrate_against_pit() -> Option<u64> {
    // SAFETY: ports 0x40/0x43 are the PIT on PC-compatible machines and QEMU's
    // microvm (or unclaimed); IF is 0 here and its IRQ 0 is never routed later (8259
    // masked, I/O APIC input 2 left masked), so the PIT only counts.
    let mut pit = unsafe { Pit::start() };
    let first = pit.count();
    // Wait for the counter to move, so the window starts on a tick edge.
    let mut reads = 0;
    let mut start = pit.count();
    while start == first {
        reads += 1;
        if reads > ABSENT_AFTER_READS {
            return None;
        }
        start = pit.count();
    }
    let tsc_start = rdtsc();
    let mut acc = TickAccumulator::new(start);
    let mut ticks = 0;
    while ticks < CALIBRATION_TICKS {
        ticks = acc.sample(pit.count());
    }
    let cycles = rdtsc().wrapping_sub(tsc_start);
    let hz = u128::from(cycles) * u128::from(PIT_HZ) / u128::from(ticks);
    u64::try_from(hz).ok().filter(|&hz| hz > 0)
}

/// The calibrated TSC frequency in Hz (0 if unknown).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Nanoseconds between two TSC readings.
pub fn tsc_delta_ns(from: u64, to: u64) -> u64 {
    let hz = tsc_hz();
    if hz == 0 {
        return 0;
    }
    (u128::from(to.wrapping_sub(from)) * 1_000_000_000 / u128::from(hz)) as u64
}

/// Nanoseconds since kernel entry.
pub fn uptime_ns() -> u64 {
    tsc_delta_ns(ENTRY_TSC.load(Ordering::Relaxed), rdtsc())
}

/// Microseconds since kernel entry (the defmt timestamp).
pub fn uptime_us() -> u64 {
    uptime_ns() / 1000
}
