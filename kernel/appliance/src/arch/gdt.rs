//! The long-mode GDT (kernel code and data, and a TSS whose IST1 stack catches
//! double faults even when the kernel stack has overflowed).

use core::arch::asm;

pub const KERNEL_CODE: u16 = 0x08;
pub const KERNEL_DATA: u16 = 0x10;
const TSS_SELECTOR: u16 = 0x18;
/// The IST slot used for the double-fault handler.
pub const DOUBLE_FAULT_IST: u8 = 1;

#[repr(C, packed)]
struct TaskStateSegment {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    iomap_base: u16,
}

#[repr(C, align(16))]
struct IstStack([u8; 16 * 1024]);

static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; 16 * 1024]);

static mut TSS: TaskStateSegment = TaskStateSegment {
    reserved0: 0,
    rsp: [0; 3],
    reserved1: 0,
    ist: [0; 7],
    reserved2: 0,
    reserved3: 0,
    iomap_base: core::mem::size_of::<TaskStateSegment>() as u16,
};

static mut GDT: [u64; 5] = [
    0,
    0x00af_9a00_0000_ffff, // 64-bit code, DPL 0
    0x00cf_9200_0000_ffff, // data, DPL 0
    0,                     // TSS (low), filled in by `init`
    0,                     // TSS (high)
];

#[repr(C, packed)]
struct DescriptorPointer {
    limit: u16,
    base: u64,
}

/// Loads the GDT and the TSS. Called once, early, before the IDT.
pub fn init() {
    let stack_top = (&raw const DOUBLE_FAULT_STACK) as u64 + 16 * 1024;
    let tss = (&raw const TSS) as u64;
    let limit = (core::mem::size_of::<TaskStateSegment>() - 1) as u64;
    let low = (limit & 0xffff)
        | (tss & 0xff_ffff) << 16
        | 0x89 << 40 // present, 64-bit available TSS
        | ((limit >> 16) & 0xf) << 48
        | ((tss >> 24) & 0xff) << 56;
    let high = tss >> 32;
    // SAFETY: single-threaded early boot with interrupts off: nothing else reads or
    // writes TSS or GDT while they are filled in; then the GDT is loaded, CS is
    // reloaded with a far return to the same code selector layout the boot GDT used,
    // and the TSS descriptor (available, not busy) is loaded once.
    unsafe {
        let (tss_ptr, gdt_ptr) = (&raw mut TSS, &raw mut GDT);
        (*tss_ptr).ist[usize::from(DOUBLE_FAULT_IST - 1)] = stack_top;
        (*gdt_ptr)[3] = low;
        (*gdt_ptr)[4] = high;
        let ptr = DescriptorPointer {
            limit: (core::mem::size_of::<[u64; 5]>() - 1) as u16,
            base: (&raw const GDT) as u64,
        };
        asm!(
            "lgdt [{ptr}]",
            "push {code}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {data:x}",
            "mov es, {data:x}",
            "mov ss, {data:x}",
            "ltr {tss:x}",
            ptr = in(reg) &ptr,
            code = in(reg) u64::from(KERNEL_CODE),
            data = in(reg) u32::from(KERNEL_DATA),
            tss = in(reg) u32::from(TSS_SELECTOR),
            tmp = lateout(reg) _,
        );
    }
}
