//! The IDT: one gate per CPU exception (vectors 0..32), each an assembly stub that
//! pushes a uniform frame and calls the exception report, which never returns; and one
//! gate per interrupt vector (32..256), each a stub that pushes the same frame, calls
//! [`super::interrupts`]' dispatcher and returns with `iretq` (an unexpected vector is
//! reported like an exception and stops the machine).
//!
//! Interrupts are enabled only inside `idle::wait_until`'s `sti; hlt` window, whose
//! assembly declares every caller-saved register clobbered: so the interrupt stubs
//! save only the general registers (the dispatcher is ordinary Rust code) and never
//! interrupt code that keeps data in the red zone.

use super::gdt::{DOUBLE_FAULT_IST, KERNEL_CODE};
use core::arch::asm;

core::arch::global_asm!(
    r#"
    .macro exc_noerr vec
    .section .text.exceptions, "ax"
exc_stub_\vec:
    push 0
    push \vec
    jmp exc_common
    .section .rodata.exceptions, "a"
    .quad exc_stub_\vec
    .endm

    .macro exc_err vec
    .section .text.exceptions, "ax"
exc_stub_\vec:
    push \vec
    jmp exc_common
    .section .rodata.exceptions, "a"
    .quad exc_stub_\vec
    .endm

    .section .rodata.exceptions, "a"
    .balign 8
    .global EXCEPTION_STUBS
EXCEPTION_STUBS:
    exc_noerr 0
    exc_noerr 1
    exc_noerr 2
    exc_noerr 3
    exc_noerr 4
    exc_noerr 5
    exc_noerr 6
    exc_noerr 7
    exc_err 8
    exc_noerr 9
    exc_err 10
    exc_err 11
    exc_err 12
    exc_err 13
    exc_err 14
    exc_noerr 15
    exc_noerr 16
    exc_err 17
    exc_noerr 18
    exc_noerr 19
    exc_noerr 20
    exc_err 21
    exc_noerr 22
    exc_noerr 23
    exc_noerr 24
    exc_noerr 25
    exc_noerr 26
    exc_noerr 27
    exc_noerr 28
    exc_err 29
    exc_err 30
    exc_noerr 31

    .section .text.exceptions, "ax"
exc_common:
    push r15
    push r14
    push r13
    push r12
    push r11
    push r10
    push r9
    push r8
    push rbp
    push rdi
    push rsi
    push rdx
    push rcx
    push rbx
    push rax
    mov rdi, rsp
    and rsp, -16
    call exception_entry
    ud2
"#
);

// Interrupt stubs, 16 bytes apart, one per vector 32..=255, and their address table.
// The CPU aligns RSP to 16 before pushing its 5-word frame; the stub's 2 words and
// the 15 registers make the call site 16-byte aligned again.
core::arch::global_asm!(
    r#"
    .section .rodata.interrupts, "a"
    .balign 8
    .global INTERRUPT_STUBS
INTERRUPT_STUBS:
    .set irq_vec, 32
    .rept 224
    .section .text.interrupts, "ax"
    .balign 16
1:
    pushq $0
    pushq $irq_vec
    jmp interrupt_common
    .section .rodata.interrupts, "a"
    .quad 1b
    .set irq_vec, irq_vec + 1
    .endr

    .section .text.interrupts, "ax"
interrupt_common:
    pushq %r15
    pushq %r14
    pushq %r13
    pushq %r12
    pushq %r11
    pushq %r10
    pushq %r9
    pushq %r8
    pushq %rbp
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rcx
    pushq %rbx
    pushq %rax
    movq %rsp, %rdi
    cld
    call interrupt_entry
    popq %rax
    popq %rbx
    popq %rcx
    popq %rdx
    popq %rsi
    popq %rdi
    popq %rbp
    popq %r8
    popq %r9
    popq %r10
    popq %r11
    popq %r12
    popq %r13
    popq %r14
    popq %r15
    addq $16, %rsp
    iretq
"#,
    options(att_syntax)
);

unsafe extern "C" {
    static EXCEPTION_STUBS: [u64; 32];
    static INTERRUPT_STUBS: [u64; 224];
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    flags: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const EMPTY: Gate = Gate {
    offset_low: 0,
    selector: 0,
    ist: 0,
    flags: 0,
    offset_mid: 0,
    offset_high: 0,
    reserved: 0,
};

static mut IDT: [Gate; 256] = [EMPTY; 256];

#[repr(C, packed)]
struct DescriptorPointer {
    limit: u16,
    base: u64,
}

/// Installs and loads the IDT. Called once after [`super::gdt::init`].
pub fn init() {
    let stubs_ptr = &raw const EXCEPTION_STUBS;
    // SAFETY: EXCEPTION_STUBS is a read-only table of 32 code addresses emitted above.
    let stubs = unsafe { &*stubs_ptr };
    let irq_ptr = &raw const INTERRUPT_STUBS;
    // SAFETY: INTERRUPT_STUBS is a read-only table of 224 code addresses emitted above.
    let irq_stubs = unsafe { &*irq_ptr };
    // SAFETY: single-threaded early boot with interrupts off: nothing else uses the
    // IDT while it is filled in; every gate points at a stub in the kernel code
    // segment (exception stubs never return; interrupt stubs restore what they saved
    // and `iretq`); the double fault runs on its own IST stack.
    unsafe {
        let idt_ptr = &raw mut IDT;
        let idt = &mut *idt_ptr;
        for (vector, &handler) in stubs.iter().chain(irq_stubs.iter()).enumerate() {
            idt[vector] = Gate {
                offset_low: handler as u16,
                selector: KERNEL_CODE,
                ist: if vector == 8 { DOUBLE_FAULT_IST } else { 0 },
                flags: 0x8e, // present, DPL 0, 64-bit interrupt gate
                offset_mid: (handler >> 16) as u16,
                offset_high: (handler >> 32) as u32,
                reserved: 0,
            };
        }
        let ptr = DescriptorPointer {
            limit: (core::mem::size_of::<[Gate; 256]>() - 1) as u16,
            base: (&raw const IDT) as u64,
        };
        asm!("lidt [{}]", in(reg) &ptr, options(readonly, nostack, preserves_flags));
    }
}
