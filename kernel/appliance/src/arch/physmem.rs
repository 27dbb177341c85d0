//! Reading what the boot loader left in physical memory (identity-mapped).

/// The `len` bytes at physical address `paddr`, or `None` if the range leaves the
/// identity mapping or wraps.
///
/// # Safety
/// The range must be memory the boot loader filled for us (boot information, command
/// line, memory map) and that nothing writes while the slice lives: the kernel never
/// hands these ranges to the heap (they lie below the kernel image on every loader
/// this kernel supports, and the heap starts above it).
pub unsafe fn slice(paddr: u64, len: usize) -> Option<&'static [u8]> {
    let end = paddr.checked_add(len as u64)?;
    if paddr == 0 || end > super::IDENTITY_MAPPED {
        return None;
    }
    // SAFETY: mapped (checked above), initialised by the loader, immutable while
    // borrowed (the caller's contract).
    Some(unsafe { core::slice::from_raw_parts(paddr as *const u8, len) })
}

/// The NUL-terminated string at `paddr`, at most `max` bytes, without the NUL.
///
/// # Safety
/// As for [`slice`], for the bytes up to the NUL or `max`.
pub unsafe fn c_string(paddr: u64, max: usize) -> Option<&'static [u8]> {
    let mut len = 0;
    while len < max {
        // SAFETY: as for `slice`: one byte more at a time, each checked to be mapped.
        let b = unsafe { slice(paddr + len as u64, 1)? };
        if b[0] == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: the bytes just scanned.
    unsafe { slice(paddr, len) }
}
