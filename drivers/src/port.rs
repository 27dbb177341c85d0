//! x86 port I/O.
//!
//! These are `unsafe` because a port write can reprogram any device (including the
//! interrupt controller or the machine's reset line): the caller vouches that the
//! port belongs to the device it means to drive and that nobody else drives it.

use core::arch::asm;

/// Reads a byte from `port`.
///
/// # Safety
/// `port` must belong to a device the caller owns; reading may have side effects
/// on that device (e.g. popping a FIFO).
#[inline]
pub unsafe fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: the caller vouches for the port; `in` touches no memory.
    unsafe {
        asm!("in al, dx", out("al") v, in("dx") port, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Writes a byte to `port`.
///
/// # Safety
/// As for [`inb`]; the write may change the device's state arbitrarily.
#[inline]
pub unsafe fn outb(port: u16, v: u8) {
    // SAFETY: the caller vouches for the port; `out` touches no memory.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags))
    };
}

/// Reads a 32-bit value from `port`.
///
/// # Safety
/// As for [`inb`].
#[inline]
pub unsafe fn inl(port: u16) -> u32 {
    let v: u32;
    // SAFETY: the caller vouches for the port; `in` touches no memory.
    unsafe {
        asm!("in eax, dx", out("eax") v, in("dx") port, options(nomem, nostack, preserves_flags))
    };
    v
}

/// Writes a 32-bit value to `port`.
///
/// # Safety
/// As for [`outb`].
#[inline]
pub unsafe fn outl(port: u16, v: u32) {
    // SAFETY: the caller vouches for the port; `out` touches no memory.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") v, options(nomem, nostack, preserves_flags))
    };
}
