//! The 8254 programmable interval timer, used only as a reference clock of known
//! frequency (1.193182 MHz) to calibrate the TSC.
//!
//! Channel 0 runs as a free 16-bit down-counter (mode 2, reload 65536); interrupts
//! stay masked at the CPU, so its IRQ 0 goes nowhere. Channel 2 would not do: its
//! gate is wired to the PC speaker port, which QEMU's microvm does not have.

use crate::port::{inb, outb};

/// The PIT's input clock in Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Counts elapsed ticks of a 16-bit down-counter sampled at least once per wrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickAccumulator {
    last: u16,
    total: u64,
}

impl TickAccumulator {
    pub fn new(first: u16) -> Self {
        Self {
            last: first,
            total: 0,
        }
    }

    /// Takes a new sample and returns the ticks elapsed since the first one.
    pub fn sample(&mut self, now: u16) -> u64 {
        self.total += u64::from(self.last.wrapping_sub(now));
        self.last = now;
        self.total
    }
}

/// Channel 0 of the PIT.
#[derive(Debug)]
pub struct Pit(());

impl Pit {
    /// Starts channel 0 counting down from 65536, repeatedly.
    ///
    /// # Safety
    /// Ports 0x40 and 0x43 must be the PIT (or nothing) and no one else may use
    /// channel 0; interrupts from it must be masked or ignored.
    pub unsafe fn start() -> Self {
        // SAFETY: the caller gives us the PIT; this programs channel 0 only.
        unsafe {
            outb(0x43, 0b0011_0100); // channel 0, lobyte/hibyte, mode 2, binary
            outb(0x40, 0);
            outb(0x40, 0);
        }
        Self(())
    }

    /// The current count of channel 0.
    pub fn count(&mut self) -> u16 {
        // SAFETY: `start`'s contract; latching and reading the count of channel 0
        // has no other effect.
        unsafe {
            outb(0x43, 0b0000_0000); // latch channel 0
            let lo = inb(0x40);
            let hi = inb(0x40);
            u16::from_le_bytes([lo, hi])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulates_across_wraps() {
        let mut a = TickAccumulator::new(100);
        assert_eq!(a.sample(40), 60);
        assert_eq!(a.sample(65500), 60 + 40 + 36);
        assert_eq!(a.sample(65500), 136);
        assert_eq!(a.sample(0), 136 + 65500);
    }
}
