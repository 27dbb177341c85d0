//! The interrupt controllers of a PC: the local APIC (xAPIC, register window at
//! 0xFEE0_0000 unless moved), the I/O APIC (0xFEC0_0000 on q35 and microvm) and the
//! legacy 8259 pair, which is only remapped and masked.
//!
//! xAPIC MMIO rather than x2APIC: QEMU offers it on every machine and accelerator, and
//! the kernel's identity mapping already covers the window (uncached).

use crate::port::outb;

/// A 32-bit MMIO register window.
#[derive(Clone, Copy)]
struct Window(u64);

impl Window {
    fn read(self, offset: u64) -> u32 {
        // SAFETY: the constructor's caller vouched that the window is mapped and
        // belongs to this controller; offsets are registers of its layout.
        unsafe { ((self.0 + offset) as *const u32).read_volatile() }
    }
    fn write(self, offset: u64, v: u32) {
        // SAFETY: as for `read`.
        unsafe { ((self.0 + offset) as *mut u32).write_volatile(v) }
    }
}

// Local APIC registers (offsets in the xAPIC window).
const LAPIC_ID: u64 = 0x20;
const LAPIC_TPR: u64 = 0x80;
const LAPIC_EOI: u64 = 0xb0;
const LAPIC_SVR: u64 = 0xf0;
const LAPIC_ESR: u64 = 0x280;
const LAPIC_LVT_CMCI: u64 = 0x2f0;
const LAPIC_LVT_TIMER: u64 = 0x320;
const LAPIC_LVT_THERMAL: u64 = 0x330;
const LAPIC_LVT_PERF: u64 = 0x340;
const LAPIC_LVT_LINT0: u64 = 0x350;
const LAPIC_LVT_LINT1: u64 = 0x360;
const LAPIC_LVT_ERROR: u64 = 0x370;
const LAPIC_TIMER_INITIAL: u64 = 0x380;
const LAPIC_TIMER_CURRENT: u64 = 0x390;
const LAPIC_TIMER_DIVIDE: u64 = 0x3e0;
const LVT_MASKED: u32 = 1 << 16;
const SVR_ENABLE: u32 = 1 << 8;
/// Divide configuration value for "divide by 16".
const DIVIDE_BY_16: u32 = 0b0011;

/// The local APIC of this CPU.
pub struct LocalApic {
    regs: Window,
}

impl LocalApic {
    /// # Safety
    /// `base` must be this CPU's local APIC register window (from IA32_APIC_BASE),
    /// identity-mapped uncached, and the APIC globally enabled in that MSR. Only one
    /// `LocalApic` may program it (EOI may be sent from any copy made by [`Self::eoi_handle`]).
    pub unsafe fn new(base: u64) -> Self {
        Self { regs: Window(base) }
    }

    /// Software-enables the APIC with `spurious_vector`, masks every local interrupt
    /// source (LINT0's ExtINT from the 8259, LINT1, thermal, performance, CMCI, error,
    /// timer) and accepts all priorities.
    pub fn enable(&mut self, spurious_vector: u8) {
        for lvt in [
            LAPIC_LVT_CMCI,
            LAPIC_LVT_TIMER,
            LAPIC_LVT_THERMAL,
            LAPIC_LVT_PERF,
            LAPIC_LVT_LINT0,
            LAPIC_LVT_LINT1,
            LAPIC_LVT_ERROR,
        ] {
            self.regs.write(lvt, LVT_MASKED);
        }
        // The ESR is cleared by a write before it is read.
        self.regs.write(LAPIC_ESR, 0);
        self.regs.write(LAPIC_TPR, 0);
        self.regs
            .write(LAPIC_SVR, SVR_ENABLE | u32::from(spurious_vector));
        self.regs.write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_16);
        self.regs.write(LAPIC_TIMER_INITIAL, 0);
        self.eoi();
    }

    /// This APIC's id (the destination for I/O APIC entries and MSI messages).
    pub fn id(&self) -> u8 {
        (self.regs.read(LAPIC_ID) >> 24) as u8
    }

    /// Starts the timer in one-shot mode: `vector` fires after `ticks` (divided by 16)
    /// bus clocks. 0 stops it.
    pub fn one_shot(&mut self, vector: u8, ticks: u32) {
        self.regs.write(LAPIC_LVT_TIMER, u32::from(vector));
        self.regs.write(LAPIC_TIMER_INITIAL, ticks);
    }

    /// Stops the timer (a pending timer interrupt already accepted stays pending).
    pub fn stop_timer(&mut self) {
        self.regs.write(LAPIC_TIMER_INITIAL, 0);
    }

    /// The timer's current count.
    pub fn timer_count(&self) -> u32 {
        self.regs.read(LAPIC_TIMER_CURRENT)
    }

    /// Ends the interrupt in service.
    pub fn eoi(&self) {
        self.regs.write(LAPIC_EOI, 0);
    }

    /// A handle that can only send EOI, for interrupt handlers.
    pub fn eoi_handle(&self) -> Eoi {
        Eoi(self.regs)
    }
}

/// Sends end-of-interrupt to the local APIC.
#[derive(Clone, Copy)]
pub struct Eoi(Window);

impl Eoi {
    pub fn send(self) {
        self.0.write(LAPIC_EOI, 0);
    }
}

/// How an I/O APIC input signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// ISA style: a rising edge.
    Edge,
    /// Active-high level: the input is re-delivered after EOI while still asserted, so
    /// a handler must quiet the device (or the line stays masked) before its EOI.
    Level,
}

const IOAPIC_SELECT: u64 = 0x00;
const IOAPIC_WINDOW: u64 = 0x10;
const IOAPIC_VERSION: u32 = 0x01;
const IOAPIC_REDIRECTION: u32 = 0x10;

/// An I/O APIC.
pub struct IoApic {
    regs: Window,
    inputs: u32,
}

impl IoApic {
    /// The I/O APIC at `base`, if one answers there. Masks every input.
    ///
    /// # Safety
    /// `base` must be an I/O APIC register window (or unclaimed: reads then give all
    /// ones), identity-mapped uncached; only this `IoApic` programs it.
    pub unsafe fn new(base: u64) -> Option<Self> {
        let mut io = Self {
            regs: Window(base),
            inputs: 0,
        };
        let version = io.read(IOAPIC_VERSION);
        if version == 0xffff_ffff || version == 0 {
            return None;
        }
        io.inputs = ((version >> 16) & 0xff) + 1;
        for input in 0..io.inputs {
            io.write(IOAPIC_REDIRECTION + 2 * input, LVT_MASKED);
        }
        Some(io)
    }

    fn read(&self, reg: u32) -> u32 {
        self.regs.write(IOAPIC_SELECT, reg);
        self.regs.read(IOAPIC_WINDOW)
    }

    fn write(&mut self, reg: u32, v: u32) {
        self.regs.write(IOAPIC_SELECT, reg);
        self.regs.write(IOAPIC_WINDOW, v);
    }

    /// How many inputs (GSIs from 0) this I/O APIC has.
    pub fn inputs(&self) -> u32 {
        self.inputs
    }

    /// Delivers `input` as `vector` (fixed, physical destination `apic_id`, active
    /// high) and unmasks it. False if the input does not exist.
    pub fn route(&mut self, input: u32, vector: u8, trigger: Trigger, apic_id: u8) -> bool {
        if input >= self.inputs {
            return false;
        }
        let (low, high) = redirection_entry(vector, trigger, apic_id);
        let reg = IOAPIC_REDIRECTION + 2 * input;
        // Masked while the destination changes, so no half-written entry fires.
        self.write(reg, LVT_MASKED);
        self.write(reg + 1, high);
        self.write(reg, low);
        true
    }
}

/// An unmasked I/O APIC redirection entry (low, high word): fixed delivery, physical
/// destination `apic_id`, active high, `trigger`.
pub fn redirection_entry(vector: u8, trigger: Trigger, apic_id: u8) -> (u32, u32) {
    let level = if trigger == Trigger::Level {
        1 << 15
    } else {
        0
    };
    (u32::from(vector) | level, u32::from(apic_id) << 24)
}

/// The MSI message (address, data) that delivers `vector` to local APIC `apic_id`:
/// fixed delivery, physical destination, edge.
pub fn msi_message(apic_id: u8, vector: u8) -> (u64, u32) {
    (0xfee0_0000 | u64::from(apic_id) << 12, u32::from(vector))
}

/// Remaps the legacy 8259 pair to `base..base + 16` (so that a stray interrupt from it
/// can never look like a CPU exception) and masks every line.
///
/// # Safety
/// Ports 0x20/0x21/0xa0/0xa1 must be the 8259 pair or unclaimed (microvm without PIC).
pub unsafe fn mask_8259(base: u8) {
    // SAFETY: the caller vouches for the ports; this is the standard ICW1..ICW4 sequence
    // followed by an all-ones mask on both chips.
    unsafe {
        outb(0x20, 0x11);
        outb(0xa0, 0x11);
        outb(0x21, base);
        outb(0xa1, base + 8);
        outb(0x21, 0x04);
        outb(0xa1, 0x02);
        outb(0x21, 0x01);
        outb(0xa1, 0x01);
        outb(0x21, 0xff);
        outb(0xa1, 0xff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirection_entries_match_the_ioapic_layout() {
        // COM1 on vector 0x44, edge, APIC 0: only the vector bits.
        assert_eq!(redirection_entry(0x44, Trigger::Edge, 0), (0x44, 0));
        // A virtio-mmio line, level (bit 15), to APIC 3 (bits 56..63 = high 24..31);
        // polarity (bit 13) stays 0 = active high, mask (bit 16) stays 0.
        assert_eq!(
            redirection_entry(0x4c, Trigger::Level, 3),
            (0x804c, 0x0300_0000)
        );
    }

    #[test]
    fn msi_messages_name_the_apic_and_vector() {
        assert_eq!(msi_message(0, 0x70), (0xfee0_0000, 0x70));
        assert_eq!(msi_message(2, 0x71), (0xfee0_2000, 0x71));
    }
}
