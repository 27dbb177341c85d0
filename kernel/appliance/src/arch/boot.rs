//! The entry point: multiboot2 header, PVH note, and the 32-bit code that builds the
//! identity mapping, enters long mode and calls `kernel_main`.
//!
//! Both PVH (QEMU `-kernel`, Firecracker, cloud-hypervisor) and multiboot2 (GRUB)
//! enter `_start32` in 32-bit protected mode with paging off; `%eax` holds the
//! multiboot2 magic (PVH leaves it undefined, the PVH start info carries its own
//! magic) and `%ebx` the physical address of the boot information. Before anything
//! else the TSC is read, so "kernel entry" in the boot time is this instruction.
//!
//! Mapping: the first 4 GiB, identity, with 2 MiB pages (1 GiB pages are not offered
//! by every CPU model); 3..4 GiB, where devices live, is mapped uncached.
//! SSE is enabled here because compiled Rust uses it from the first instruction.

core::arch::global_asm!(
    r#"
    .section .multiboot2, "a"
    .balign 8
mb2_header:
    .long 0xe85250d6
    .long 0
    .long mb2_header_end - mb2_header
    .long -(0xe85250d6 + (mb2_header_end - mb2_header))
    .short 0
    .short 0
    .long 8
mb2_header_end:

    .section .note.Xen, "a", @note
    .balign 4
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .balign 4
    .long _start32
    .balign 4

    .section .data.boot, "aw"
    .balign 8
boot_tsc:   .quad 0
boot_magic: .long 0
boot_info:  .long 0
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
boot_gdt_end:
boot_gdt_ptr:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .bss.boot, "aw", @nobits
    .balign 4096
    .global boot_pml4
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
    .global boot_pd
boot_pd:    .skip 4096 * 4
    /* Unmapped by paging::install_stack_guard: an overflow faults here. */
    .global STACK_GUARD
STACK_GUARD:
    .skip 4096
    .global BOOT_STACK_BOTTOM
BOOT_STACK_BOTTOM:
    .skip 0x20000
    .global BOOT_STACK_TOP
BOOT_STACK_TOP:

    .section .boot.text, "ax"
    .code32
    .global _start32
_start32:
    cli
    cld
    mov dword ptr [boot_magic], eax
    mov dword ptr [boot_info], ebx
    rdtsc
    mov dword ptr [boot_tsc], eax
    mov dword ptr [boot_tsc + 4], edx

    /* Zero .bss: not every loader does. */
    mov edi, offset __bss_start
    mov ecx, offset __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd
    mov esp, offset BOOT_STACK_TOP

    /* PML4[0] -> PDPT; PDPT[0..4] -> four page directories. */
    mov eax, offset boot_pdpt
    or eax, 3
    mov dword ptr [boot_pml4], eax
    mov eax, offset boot_pd
    or eax, 3
    mov dword ptr [boot_pdpt], eax
    add eax, 4096
    mov dword ptr [boot_pdpt + 8], eax
    add eax, 4096
    mov dword ptr [boot_pdpt + 16], eax
    add eax, 4096
    mov dword ptr [boot_pdpt + 24], eax

    /* 2048 entries of 2 MiB: present, writable, page size. */
    mov edi, offset boot_pd
    mov eax, 0x83
    xor ecx, ecx
1:
    mov dword ptr [edi + ecx * 8], eax
    add eax, 0x200000
    inc ecx
    cmp ecx, 2048
    jb 1b
    /* 3..4 GiB: cache disabled, write-through (device memory). */
    mov ecx, 1536
2:
    or dword ptr [edi + ecx * 8], 0x18
    inc ecx
    cmp ecx, 2048
    jb 2b

    mov eax, offset boot_pml4
    mov cr3, eax
    /* CR4: PAE, OSFXSR, OSXMMEXCPT. */
    mov eax, cr4
    or eax, 0x620
    mov cr4, eax
    /* EFER.LME */
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x100
    wrmsr
    /* CR0: PG, WP, MP, PE; EM off (SSE). */
    mov eax, cr0
    and eax, 0xfffffffb
    or eax, 0x80010003
    mov cr0, eax

    lgdt [boot_gdt_ptr]
    /* Far return into the 64-bit code segment. */
    mov eax, offset start64
    push 0x08
    push eax
    retf

    .code64
start64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    mov rsp, offset BOOT_STACK_TOP
    xor ebp, ebp
    mov edi, dword ptr [rip + boot_magic]
    mov esi, dword ptr [rip + boot_info]
    mov rdx, qword ptr [rip + boot_tsc]
    call kernel_main
    ud2
"#
);

unsafe extern "C" {
    static BOOT_STACK_BOTTOM: u8;
    static BOOT_STACK_TOP: u8;
    static __kernel_start: u8;
    static __kernel_end: u8;
    static __text_start: u8;
    static __text_end: u8;
}

/// The boot stack's address range `[bottom, top)`.
pub fn boot_stack() -> (u64, u64) {
    // Only the addresses of the symbols are taken, never their values.
    (
        &raw const BOOT_STACK_BOTTOM as u64,
        &raw const BOOT_STACK_TOP as u64,
    )
}

/// The kernel image's physical range `[start, end)`, `.bss` included.
pub fn kernel_image() -> (u64, u64) {
    (
        &raw const __kernel_start as u64,
        &raw const __kernel_end as u64,
    )
}

/// The range of executable code, to recognise return addresses on the stack.
pub fn text() -> (u64, u64) {
    (
        &raw const __kernel_start as u64,
        &raw const __text_end as u64,
    )
}
