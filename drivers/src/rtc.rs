//! The CMOS real-time clock (MC146818 at ports 0x70/0x71).
//!
//! Reading is done twice until two consecutive snapshots agree and no update was in
//! progress, so a read never mixes two seconds. Decoding (BCD or binary, 12 or 24
//! hours, century register or not) is pure and host-tested.

use crate::port::{inb, outb};

/// Wall-clock time as the RTC keeps it (no time zone: QEMU's default is UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// The raw registers of one snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcRegisters {
    pub second: u8,
    pub minute: u8,
    pub hour: u8,
    pub day: u8,
    pub month: u8,
    pub year: u8,
    /// Register 0x32, where PC firmware keeps the century.
    pub century: u8,
    /// Status register B: bit 2 = binary mode, bit 1 = 24-hour mode.
    pub status_b: u8,
}

impl RtcRegisters {
    /// Decodes a snapshot; `None` when a field is out of range (a clock that was
    /// never set, or garbage from an absent chip).
    pub fn decode(&self) -> Option<RtcTime> {
        let binary = self.status_b & 0x04 != 0;
        let h24 = self.status_b & 0x02 != 0;
        let num = |v: u8| -> Option<u8> {
            if binary {
                Some(v)
            } else if v & 0x0f <= 9 && v >> 4 <= 9 {
                Some((v >> 4) * 10 + (v & 0x0f))
            } else {
                None
            }
        };
        let pm = !h24 && self.hour & 0x80 != 0;
        let mut hour = num(self.hour & 0x7f)?;
        if !h24 {
            if !(1..=12).contains(&hour) {
                return None;
            }
            hour %= 12;
            if pm {
                hour += 12;
            }
        }
        let century = match num(self.century) {
            Some(c @ 19..=21) => u16::from(c),
            _ => 20,
        };
        let t = RtcTime {
            year: century * 100 + u16::from(num(self.year)?),
            month: num(self.month)?,
            day: num(self.day)?,
            hour,
            minute: num(self.minute)?,
            second: num(self.second)?,
        };
        let valid = (1..=12).contains(&t.month)
            && (1..=31).contains(&t.day)
            && t.hour < 24
            && t.minute < 60
            && t.second < 60;
        valid.then_some(t)
    }
}

/// The CMOS RTC.
#[derive(Debug)]
pub struct CmosRtc(());

impl CmosRtc {
    /// # Safety
    /// Ports 0x70/0x71 must be the CMOS (or nothing), used by no one else; NMI
    /// masking (bit 7 of 0x70) is left cleared.
    pub const unsafe fn new() -> Self {
        Self(())
    }

    fn reg(&mut self, r: u8) -> u8 {
        // SAFETY: `new`'s contract gives us 0x70/0x71; selecting and reading a
        // register has no other effect.
        unsafe {
            outb(0x70, r);
            inb(0x71)
        }
    }

    fn snapshot(&mut self) -> RtcRegisters {
        RtcRegisters {
            second: self.reg(0x00),
            minute: self.reg(0x02),
            hour: self.reg(0x04),
            day: self.reg(0x07),
            month: self.reg(0x08),
            year: self.reg(0x09),
            century: self.reg(0x32),
            status_b: self.reg(0x0b),
        }
    }

    fn update_in_progress(&mut self) -> bool {
        self.reg(0x0a) & 0x80 != 0
    }

    /// The current time, or `None` if the clock is absent, invalid or never
    /// settles (bounded number of attempts).
    pub fn read(&mut self) -> Option<RtcTime> {
        for _ in 0..1000 {
            if self.update_in_progress() {
                continue;
            }
            let a = self.snapshot();
            if self.update_in_progress() {
                continue;
            }
            if a == self.snapshot() {
                return a.decode();
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs(status_b: u8) -> RtcRegisters {
        RtcRegisters {
            second: 0x59,
            minute: 0x07,
            hour: 0x23,
            day: 0x28,
            month: 0x11,
            year: 0x26,
            century: 0x20,
            status_b,
        }
    }

    #[test]
    fn decodes_bcd_24h() {
        let t = regs(0x02).decode().unwrap();
        assert_eq!(
            t,
            RtcTime {
                year: 2026,
                month: 11,
                day: 28,
                hour: 23,
                minute: 7,
                second: 59
            }
        );
    }

    #[test]
    fn decodes_binary_and_12h() {
        let r = RtcRegisters {
            second: 5,
            minute: 30,
            hour: 0x80 | 12,
            day: 1,
            month: 2,
            year: 99,
            century: 19,
            status_b: 0x04,
        };
        let t = r.decode().unwrap();
        assert_eq!((t.year, t.hour), (1999, 12));
        let am12 = RtcRegisters { hour: 12, ..r }.decode().unwrap();
        assert_eq!(am12.hour, 0);
        let pm1 = RtcRegisters {
            hour: 0x80 | 1,
            ..r
        }
        .decode()
        .unwrap();
        assert_eq!(pm1.hour, 13);
    }

    #[test]
    fn missing_century_means_20xx() {
        let t = RtcRegisters {
            century: 0,
            ..regs(0x02)
        }
        .decode()
        .unwrap();
        assert_eq!(t.year, 2026);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(
            RtcRegisters {
                second: 0xff,
                ..regs(0x02)
            }
            .decode(),
            None
        );
        assert_eq!(
            RtcRegisters {
                month: 0x13,
                ..regs(0x02)
            }
            .decode(),
            None
        );
        assert_eq!(
            RtcRegisters {
                day: 0,
                ..regs(0x02)
            }
            .decode(),
            None
        );
        assert_eq!(
            RtcRegisters {
                hour: 0x24,
                ..regs(0x02)
            }
            .decode(),
            None
        );
        assert_eq!(
            RtcRegisters {
                hour: 0x13,
                ..regs(0x00)
            }
            .decode(),
            None
        );
        let absent = RtcRegisters {
            second: 0xff,
            minute: 0xff,
            hour: 0xff,
            day: 0xff,
            month: 0xff,
            year: 0xff,
            century: 0xff,
            status_b: 0xff,
        };
        assert_eq!(absent.decode(), None);
    }
}
