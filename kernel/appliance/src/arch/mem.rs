//! The memory functions the compiler calls (`compiler_builtins` for the linux-gnu
//! target leaves them to libc, which a kernel does not have). Written with string
//! instructions so that the optimiser cannot turn them back into calls to themselves.

use core::arch::asm;

/// # Safety
/// Same contract as C `memcpy`: `n` bytes valid at both, regions not overlapping.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract; `rep movsb` copies forward with DF clear (the
    // ABI guarantees DF = 0 on function entry).
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dest => _, inout("rsi") src => _,
             options(nostack, preserves_flags));
    }
    dest
}

/// # Safety
/// Same contract as C `memmove`: `n` bytes valid at both; regions may overlap.
#[no_mangle]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize).wrapping_sub(src as usize) >= n {
        // No harmful overlap: a forward copy is correct.
        // SAFETY: as for memcpy; forward copying is safe when dest is below src or
        // past the end of the source.
        unsafe {
            asm!("rep movsb", inout("rcx") n => _, inout("rdi") dest => _, inout("rsi") src => _,
                 options(nostack, preserves_flags));
        }
    } else {
        // dest lies inside [src, src + n): copy backwards, then restore DF.
        // SAFETY: the caller's contract; the last byte of each region is in bounds
        // because n > 0 here (n == 0 always takes the forward branch).
        unsafe {
            asm!("std", "rep movsb", "cld",
                 inout("rcx") n => _, inout("rdi") dest.add(n - 1) => _, inout("rsi") src.add(n - 1) => _,
                 options(nostack));
        }
    }
    dest
}

/// # Safety
/// Same contract as C `memset`.
#[no_mangle]
pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract; `rep stosb` stores forward.
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dest => _, in("al") c as u8,
             options(nostack, preserves_flags));
    }
    dest
}

/// # Safety
/// Same contract as C `memcmp`.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller's contract makes both bytes readable; volatile reads keep
        // the loop from being recognised as a call to memcmp/bcmp.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// # Safety
/// Same contract as C `bcmp`.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract.
    unsafe { memcmp(a, b, n) }
}

/// `core` is precompiled with unwinding tables that name this symbol; with
/// `panic = "abort"` it is never called.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

/// The precompiled `alloc` names this unwinding entry point in landing pads that
/// `panic = "abort"` never reaches; reaching it anyway is a bug and stops the machine.
#[no_mangle]
pub extern "C" fn _Unwind_Resume() -> ! {
    super::exit::exit(super::exit::ExitCode::Panic)
}
