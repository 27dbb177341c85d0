//! `status`: what the appliance reports about itself. The kernel gathers the facts;
//! this module only lays them out.

use core::fmt::{self, Write};

/// CPU features that matter for the crypto path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    pub aesni: bool,
    pub pclmulqdq: bool,
    pub rdrand: bool,
    pub rdseed: bool,
    pub avx: bool,
    pub avx2: bool,
}

/// Whether the CSPRNG could be seeded from hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RngState {
    Seeded {
        source: &'static str,
    },
    /// Neither RDSEED nor RDRAND: key generation is refused.
    Unavailable,
}

/// Wall-clock time read from the RTC (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// Where a device was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceAddr {
    Pci { bus: u8, dev: u8, func: u8 },
    Mmio { base: u64, irq: u32 },
}

/// A device found at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub addr: DeviceAddr,
    pub vendor: u16,
    pub device: u16,
    pub kind: &'static str,
}

/// Everything `status` shows.
#[derive(Debug, Clone, Copy)]
pub struct StatusReport<'a> {
    pub version: &'a str,
    pub uptime_ms: u64,
    /// Kernel entry to first prompt.
    pub boot_ms: u64,
    pub mem_total: u64,
    pub mem_used: u64,
    pub cpu: CpuFeatures,
    pub rng: RngState,
    pub tsc_hz: u64,
    pub wall_clock: Option<DateTime>,
    pub machine: &'a str,
    pub devices: &'a [Device],
}

pub(crate) struct Uptime(pub u64);

impl fmt::Display for Uptime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        let (s, ms) = (ms / 1000, ms % 1000);
        let (m, s) = (s / 60, s % 60);
        let (h, m) = (m / 60, m % 60);
        let (d, h) = (h / 24, h % 24);
        if d > 0 {
            write!(f, "{d}d ")?;
        }
        write!(f, "{h:02}:{m:02}:{s:02}.{ms:03}")
    }
}

struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * 1024;
        if self.0 >= 10 * MIB {
            write!(f, "{} MiB", self.0 / MIB)
        } else {
            write!(f, "{} KiB", self.0 / KIB)
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Writes the `status` report.
pub fn write_status(s: &StatusReport<'_>, w: &mut dyn Write) -> fmt::Result {
    write!(w, "version   {}\r\n", s.version)?;
    write!(w, "machine   {}\r\n", s.machine)?;
    write!(w, "uptime    {}\r\n", Uptime(s.uptime_ms))?;
    write!(w, "boot      {} ms (kernel entry to prompt)\r\n", s.boot_ms)?;
    match s.wall_clock {
        Some(t) => write!(
            w,
            "clock     {:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z (RTC)\r\n",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        )?,
        None => w.write_str("clock     unavailable (RTC unreadable)\r\n")?,
    }
    write!(
        w,
        "tsc       {}.{:03} MHz (calibrated)\r\n",
        s.tsc_hz / 1_000_000,
        s.tsc_hz / 1000 % 1000
    )?;
    let pct = (s.mem_used * 100).checked_div(s.mem_total).unwrap_or(0);
    write!(
        w,
        "memory    {} used of {} ({pct}%)\r\n",
        Size(s.mem_used),
        Size(s.mem_total)
    )?;
    let c = s.cpu;
    write!(
        w,
        "cpu       aes-ni={} pclmulqdq={} rdrand={} rdseed={} avx={} avx2={}\r\n",
        yes_no(c.aesni),
        yes_no(c.pclmulqdq),
        yes_no(c.rdrand),
        yes_no(c.rdseed),
        yes_no(c.avx),
        yes_no(c.avx2)
    )?;
    match s.rng {
        RngState::Seeded { source } => write!(w, "rng       chacha20, seeded from {source}\r\n")?,
        RngState::Unavailable => {
            w.write_str("rng       UNAVAILABLE: no RDSEED/RDRAND; key generation refused\r\n")?
        }
    }
    write!(w, "devices   {}\r\n", s.devices.len())?;
    for d in s.devices {
        match d.addr {
            DeviceAddr::Pci { bus, dev, func } => {
                write!(w, "  pci  {bus:02x}:{dev:02x}.{func:x}      ")?;
            }
            DeviceAddr::Mmio { base, irq } => write!(w, "  mmio {base:#x} irq {irq:<2} ")?,
        }
        write!(w, "{:04x}:{:04x} {}\r\n", d.vendor, d.device, d.kind)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn report(devices: &[Device]) -> StatusReport<'_> {
        StatusReport {
            version: "0.1.0",
            uptime_ms: 90_061_005,
            boot_ms: 17,
            mem_total: 64 * 1024 * 1024,
            mem_used: 16 * 1024 * 1024,
            cpu: CpuFeatures {
                aesni: true,
                pclmulqdq: true,
                rdrand: true,
                rdseed: false,
                avx: true,
                avx2: false,
            },
            rng: RngState::Seeded { source: "rdrand" },
            tsc_hz: 2_445_123_456,
            wall_clock: Some(DateTime {
                year: 2026,
                month: 11,
                day: 28,
                hour: 9,
                minute: 5,
                second: 3,
            }),
            machine: "microvm",
            devices,
        }
    }

    #[test]
    fn renders_every_field() {
        let devices = [
            Device {
                addr: DeviceAddr::Pci {
                    bus: 0,
                    dev: 2,
                    func: 0,
                },
                vendor: 0x1af4,
                device: 0x1041,
                kind: "virtio-net",
            },
            Device {
                addr: DeviceAddr::Mmio {
                    base: 0xfeb0_0e00,
                    irq: 12,
                },
                vendor: 0x554d_4551u32 as u16,
                device: 1,
                kind: "virtio-net",
            },
        ];
        let mut out = String::new();
        write_status(&report(&devices), &mut out).unwrap();
        for want in [
            "version   0.1.0\r\n",
            "uptime    1d 01:01:01.005\r\n",
            "boot      17 ms (kernel entry to prompt)\r\n",
            "clock     2026-11-28T09:05:03Z (RTC)\r\n",
            "tsc       2445.123 MHz",
            "memory    16 MiB used of 64 MiB (25%)\r\n",
            "aes-ni=yes pclmulqdq=yes rdrand=yes rdseed=no",
            "seeded from rdrand",
            "devices   2\r\n",
            "  pci  00:02.0      1af4:1041 virtio-net\r\n",
            "  mmio 0xfeb00e00 irq 12 ",
        ] {
            assert!(out.contains(want), "missing {want:?} in:\n{out}");
        }
    }

    #[test]
    fn says_when_rng_or_clock_are_missing() {
        let mut r = report(&[]);
        r.rng = RngState::Unavailable;
        r.wall_clock = None;
        r.mem_total = 0;
        let mut out = String::new();
        write_status(&r, &mut out).unwrap();
        assert!(out.contains("key generation refused"), "{out}");
        assert!(out.contains("clock     unavailable"), "{out}");
        assert!(out.contains("(0%)"), "{out}");
    }
}
