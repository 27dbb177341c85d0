//! `debug fault <kind>` (test builds only): crashes on purpose, to prove that each
//! kind of crash is reported and fails the QEMU run.
//!
//! Every block below executes a deliberately faulting instruction; the exception
//! handler stops the machine, so nothing runs after it.

use vnetcrypt_console::FaultKind;

pub fn trigger(kind: FaultKind) -> ! {
    match kind {
        FaultKind::Panic => panic!("debug fault panic requested"),
        FaultKind::PageFault => {
            // SAFETY: reads an address above the 4 GiB identity mapping: not present,
            // so the CPU raises #PF before any value is produced.
            unsafe { core::ptr::read_volatile(0x0000_0dea_dbee_f000 as *const u64) };
        }
        FaultKind::InvalidOpcode => {
            // SAFETY: `ud2` raises #UD and does nothing else.
            unsafe { core::arch::asm!("ud2") };
        }
        FaultKind::DivideError => {
            // SAFETY: division by zero raises #DE before writing any register.
            unsafe {
                core::arch::asm!("xor edx, edx", "xor eax, eax", "xor ecx, ecx", "div ecx",
                                 out("eax") _, out("edx") _, out("ecx") _);
            }
        }
        FaultKind::GeneralProtection => {
            // SAFETY: a non-canonical address raises #GP before any value is produced.
            unsafe { core::ptr::read_volatile(0x8000_0000_0000_0000u64 as *const u64) };
        }
        FaultKind::Breakpoint => {
            // SAFETY: `int3` raises #BP, which the kernel treats as fatal.
            unsafe { core::arch::asm!("int3") };
        }
        FaultKind::StackOverflow => {
            core::hint::black_box(recurse(0));
        }
        FaultKind::UnexpectedInterrupt => {
            // SAFETY: `int 0x99` enters the interrupt stub of a vector nothing routes;
            // the dispatcher reports it and stops the machine.
            unsafe { core::arch::asm!("int 0x99") };
        }
    }
    unreachable!("the fault handler stops the machine")
}

/// Recurses without bound, 1 KiB of stack per call, until the guard page stops it.
#[inline(never)]
#[allow(unconditional_recursion)] // on purpose: it must run into the stack guard
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth as u8; 1024]);
    core::hint::black_box(recurse(depth + 1)) + u64::from(frame[0])
}
