//! The node's [`Platform`] on this machine: the TSC clock, the kernel CSPRNG, the CMOS
//! RTC and the defmt log on COM2.

use crate::{clock, rng};
use vnetcrypt_console::DateTime;
use vnetcrypt_drivers::rtc::CmosRtc;
use vnetcrypt_node::{Direction, Platform, RngUnavailable};

/// At most this many bytes of each traced frame are recorded (the snap length).
const SNAPLEN: usize = 256;

#[derive(Debug)]
pub struct KernelPlatform;

/// The wall clock from the CMOS RTC.
pub fn rtc_now() -> Option<DateTime> {
    // SAFETY: 0x70/0x71 are the CMOS RTC on PC machines and microvm; reading the time
    // has no side effect on other users of those ports.
    let t = unsafe { CmosRtc::new() }.read()?;
    Some(DateTime {
        year: t.year,
        month: t.month,
        day: t.day,
        hour: t.hour,
        minute: t.minute,
        second: t.second,
    })
}

impl Platform for KernelPlatform {
    fn now_us(&self) -> u64 {
        clock::uptime_us()
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), RngUnavailable> {
        rng::fill(buf).map_err(|_| RngUnavailable)
    }

    fn wall_clock(&self) -> Option<DateTime> {
        rtc_now()
    }

    fn log(&self, args: core::fmt::Arguments<'_>) {
        let line = alloc::format!("{args}");
        defmt::info!("{=str}", line.as_str());
    }

    /// A pcap-style record (interface, direction, timestamp, bytes) that
    /// `tests/tests/nic/trace2pcap.py` turns into a pcap file.
    fn trace_frame(&self, role: &str, dir: Direction, bytes: &[u8]) {
        let at = clock::uptime_us();
        let snap = &bytes[..bytes.len().min(SNAPLEN)];
        defmt::info!(
            "pcap {=str} {=str} {=u64} {=usize} {=[u8]:x}",
            role,
            dir.name(),
            at,
            bytes.len(),
            snap
        );
    }
}
