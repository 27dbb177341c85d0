//! The fatal-fault report: what a CPU exception or a panic prints on COM1 before the
//! machine stops with a failure exit code.
//!
//! The report writes to the UART directly (a fresh handle), takes no lock and does
//! not allocate, so it works whatever state the kernel was in. A fault while
//! reporting stops the machine at once.

use super::exit::{exit, ExitCode};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};
use vnetcrypt_drivers::uart16550::{Uart16550, COM1};

/// The frame the exception stubs build: general registers, then vector and error
/// code, then what the CPU pushed.
#[repr(C)]
pub struct ExceptionFrame {
    rax: u64,
    rbx: u64,
    rcx: u64,
    rdx: u64,
    rsi: u64,
    rdi: u64,
    rbp: u64,
    r8: u64,
    r9: u64,
    r10: u64,
    r11: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    vector: u64,
    error_code: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}

const NAMES: [&str; 32] = [
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range exceeded",
    "#UD invalid opcode",
    "#NM device not available",
    "#DF double fault",
    "coprocessor segment overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack-segment fault",
    "#GP general protection",
    "#PF page fault",
    "reserved",
    "#MF x87 floating-point",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD floating-point",
    "#VE virtualization",
    "#CP control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "#HV hypervisor injection",
    "#VC VMM communication",
    "#SX security",
    "reserved",
];

static REPORTING: AtomicBool = AtomicBool::new(false);

/// A writer for the last words of the machine.
fn report_uart() -> Uart16550 {
    // SAFETY: COM1 is the console UART. The console loop's handle may be mid-line,
    // but the machine stops after this report, so the two never interleave again.
    unsafe { Uart16550::new(COM1) }
}

/// Stops at once if a report is already being written (a fault inside the report).
fn enter_report() {
    if REPORTING.swap(true, Ordering::SeqCst) {
        let _ = report_uart().write_str("\n*** fault while reporting a fault ***\n");
        exit(ExitCode::CpuException);
    }
}

fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effect; we run at CPL 0.
    unsafe {
        core::arch::asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

impl ExceptionFrame {
    /// The vector the stub pushed.
    pub fn vector(&self) -> u64 {
        self.vector
    }
}

/// Called by the exception stubs with the frame they built.
#[no_mangle]
extern "C" fn exception_entry(frame: &ExceptionFrame) -> ! {
    report(frame)
}

/// The report for a CPU exception, or for an interrupt vector nobody routed (the
/// interrupt dispatcher calls it): registers, stack, then a failure exit.
pub fn report(frame: &ExceptionFrame) -> ! {
    enter_report();
    let mut w = report_uart();
    let name = NAMES
        .get(frame.vector as usize)
        .copied()
        .unwrap_or("unexpected interrupt");
    let f = frame;
    let _ = write!(
        w,
        "\n*** CPU EXCEPTION: vector {} ({}) ***\n\
         error code 0x{:x}\n\
         RIP 0x{:016x}  CS 0x{:x}  RFLAGS 0x{:x}\n\
         RSP 0x{:016x}  SS 0x{:x}  CR2 0x{:016x}\n\
         RAX 0x{:016x}  RBX 0x{:016x}  RCX 0x{:016x}  RDX 0x{:016x}\n\
         RSI 0x{:016x}  RDI 0x{:016x}  RBP 0x{:016x}  R8  0x{:016x}\n\
         R9  0x{:016x}  R10 0x{:016x}  R11 0x{:016x}  R12 0x{:016x}\n\
         R13 0x{:016x}  R14 0x{:016x}  R15 0x{:016x}\n",
        f.vector,
        name,
        f.error_code,
        f.rip,
        f.cs,
        f.rflags,
        f.rsp,
        f.ss,
        read_cr2(),
        f.rax,
        f.rbx,
        f.rcx,
        f.rdx,
        f.rsi,
        f.rdi,
        f.rbp,
        f.r8,
        f.r9,
        f.r10,
        f.r11,
        f.r12,
        f.r13,
        f.r14,
        f.r15,
    );
    let (guard_start, guard_end) = super::paging::stack_guard();
    if (guard_start..guard_end).contains(&read_cr2()) || (guard_start..guard_end).contains(&f.rsp) {
        let _ = writeln!(
            w,
            "STACK OVERFLOW: the guard page below the kernel stack was hit"
        );
    }
    write_stack_trace(&mut w, f.rsp, f.rbp);
    let _ = writeln!(w, "machine stopped (exit code: CPU exception)");
    exit(ExitCode::CpuException)
}

/// Prints the return addresses of the calls in progress, innermost first, for
/// `addr2line -e build/vnetcrypt.elf`. The kernel is built with frame pointers, so
/// the RBP chain is walked, each link checked to stay inside the boot stack and to
/// point into kernel code. Where the chain yields nothing (a frame without a frame
/// pointer), the words on the stack that point into kernel code are listed instead.
pub fn write_stack_trace(w: &mut dyn Write, rsp: u64, rbp: u64) {
    let (bottom, top) = super::boot::boot_stack();
    let (text_start, text_end) = super::boot::text();
    let in_stack =
        |p: u64| p >= bottom && p.checked_add(16).is_some_and(|e| e <= top) && p.is_multiple_of(8);
    let read = |p: u64| {
        debug_assert!(p >= bottom && p + 8 <= top);
        // SAFETY: only called on addresses checked by `in_stack` (or such an address
        // plus 8), which lie inside the boot stack: mapped, readable, 8-aligned.
        unsafe { (p as *const u64).read_volatile() }
    };
    let _ = writeln!(w, "stack return addresses (innermost first):");
    let mut shown = 0;
    let mut fp = rbp;
    while shown < 32 && in_stack(fp) {
        let ret = read(fp + 8);
        if !(text_start..text_end).contains(&ret) {
            break;
        }
        let _ = writeln!(w, "  0x{ret:016x}");
        shown += 1;
        let next = read(fp);
        if next <= fp {
            break;
        }
        fp = next;
    }
    if shown > 0 {
        return;
    }
    let _ = writeln!(
        w,
        "  (no frame-pointer chain; code addresses found on the stack instead)"
    );
    let mut p = rsp;
    while in_stack(p) && shown < 24 {
        let word = read(p);
        if (text_start..text_end).contains(&word) {
            let _ = writeln!(w, "  0x{word:016x}");
            shown += 1;
        }
        p += 8;
    }
    if shown == 0 {
        let _ = writeln!(w, "  (none found)");
    }
}

/// The panic report: message, location and stack, then a failure exit.
pub fn panic_report(info: &core::panic::PanicInfo<'_>) -> ! {
    enter_report();
    let mut w = report_uart();
    let _ = write!(w, "\n*** PANIC: {} ***\n", info.message());
    if let Some(loc) = info.location() {
        let _ = writeln!(w, "at {}:{}:{}", loc.file(), loc.line(), loc.column());
    }
    let (rsp, rbp): (u64, u64);
    // SAFETY: reading the stack and frame pointers has no side effect.
    unsafe {
        core::arch::asm!("mov {}, rsp", "mov {}, rbp", out(reg) rsp, out(reg) rbp,
                         options(nomem, nostack, preserves_flags));
    }
    write_stack_trace(&mut w, rsp, rbp);
    let _ = writeln!(w, "machine stopped (exit code: panic)");
    exit(ExitCode::Panic)
}
