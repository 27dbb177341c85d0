//! Intel 82576 (igb) SR-IOV: the virtual function driver (`igbvf`), and the physical
//! function's side of the VF protocol for the QEMU test rig.
//!
//! In a cloud the PF belongs to the host: only [`vf`] ships into a guest. [`pf`] exists
//! because QEMU emulates the whole card, and someone in the guest must play the host's
//! part (enable VFs, answer the mailbox, switch frames to the VF's pool) before a VF
//! can pass traffic; the appliance does it only in a test mode.
//!
//! The logic (mailbox protocol, descriptor rings) is written against the [`Regs`]
//! trait and plain memory, so host tests drive it against a model of the device
//! (`tests` below). The unsafe edge is [`MmioRegs`] (register window) and
//! [`ring::DmaRing`] (descriptor memory the device reads and writes).

pub mod mailbox;
pub mod pf;
pub mod regs;
pub mod ring;
pub mod vf;

#[cfg(test)]
mod model;

/// 32-bit registers of a device function (reads may have side effects: some bits
/// clear when read).
pub trait Regs {
    fn read(&mut self, offset: u32) -> u32;
    fn write(&mut self, offset: u32, value: u32);
}

/// A memory-mapped register window.
#[derive(Debug)]
pub struct MmioRegs {
    base: u64,
    len: u32,
}

impl MmioRegs {
    /// # Safety
    /// `base..base + len` must be a mapped, uncached register window of an igb
    /// function (PF BAR0 or VF BAR0) that nothing else drives while this value lives.
    pub unsafe fn new(base: u64, len: u32) -> Self {
        Self { base, len }
    }

    fn in_window(&self, offset: u32) -> bool {
        offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|end| end <= self.len)
    }
}

impl Regs for MmioRegs {
    fn read(&mut self, offset: u32) -> u32 {
        if !self.in_window(offset) {
            return 0;
        }
        let p = (self.base + u64::from(offset)) as *const u32;
        // SAFETY: `new`'s contract makes the window ours; the offset is aligned and
        // inside it (checked).
        unsafe { p.read_volatile() }
    }

    fn write(&mut self, offset: u32, value: u32) {
        if !self.in_window(offset) {
            return;
        }
        let p = (self.base + u64::from(offset)) as *mut u32;
        // SAFETY: as for `read`.
        unsafe { p.write_volatile(value) }
    }
}

/// A mutable reference drives the same registers (the rig lends the PF's window).
impl<R: Regs + ?Sized> Regs for &mut R {
    fn read(&mut self, offset: u32) -> u32 {
        (**self).read(offset)
    }
    fn write(&mut self, offset: u32, value: u32) {
        (**self).write(offset, value)
    }
}

/// Gives up polling the device after this many waits (the caller's `wait` decides
/// how long one is).
pub const MAX_POLLS: u32 = 20_000;

#[cfg(test)]
mod tests;
