//! Changes to the boot identity mapping: the guard page below the kernel stack, and
//! device windows above 4 GiB (UEFI firmware places 64-bit PCI BARs there).
//!
//! The boot code maps everything with 2 MiB pages. To make a stack overflow fault
//! instead of silently overwriting the page tables below the stack, the 2 MiB page
//! holding the guard splits into 4 KiB pages, the same mapping except the guard page,
//! which is left not present. An overflow then raises #PF while pushing, which the
//! CPU turns into a double fault, handled on its own IST stack.

use core::arch::asm;

const PAGE: u64 = 4096;
const LARGE_PAGE: u64 = 2 << 20;
const PRESENT_WRITABLE: u64 = 0x3;

unsafe extern "C" {
    static mut boot_pml4: [u64; 512];
    static mut boot_pd: [u64; 2048];
    static STACK_GUARD: u8;
}

#[repr(C, align(4096))]
struct PageTable([u64; 512]);

static mut GUARD_TABLE: PageTable = PageTable([0; 512]);

/// The guard page's address range.
pub fn stack_guard() -> (u64, u64) {
    let start = &raw const STACK_GUARD as u64;
    (start, start + PAGE)
}

/// Unmaps the guard page. Called once, early, with interrupts off.
pub fn install_stack_guard() {
    let (guard, _) = stack_guard();
    let region = guard & !(LARGE_PAGE - 1);
    let pd_index = (guard / LARGE_PAGE) as usize;
    let table = &raw mut GUARD_TABLE;
    let pd = &raw mut boot_pd;
    // SAFETY: single-threaded early boot. The new table maps the 2 MiB region exactly
    // as the large page did (same addresses, present and writable; regions below
    // 3 GiB are cached in both), except the guard page, which no code uses. The
    // directory entry is swapped in one aligned store and CR3 is reloaded to flush
    // the large-page TLB entry, so no access ever sees a different mapping for any
    // byte but the guard.
    unsafe {
        for (i, entry) in (*table).0.iter_mut().enumerate() {
            *entry = (region + i as u64 * PAGE) | PRESENT_WRITABLE;
        }
        (*table).0[((guard - region) / PAGE) as usize] = 0;
        (*pd)[pd_index] = (table as u64) | PRESENT_WRITABLE;
        asm!("mov {tmp}, cr3", "mov cr3, {tmp}", tmp = out(reg) _, options(nostack));
    }
}

/// Page-size bit of a directory entry, and cache-disable + write-through (device memory).
const LARGE: u64 = 0x80;
const UNCACHED: u64 = 0x18;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Physical addresses this kernel can map (52-bit physical address space).
const PHYS_LIMIT: u64 = 1 << 52;

/// The next-level table behind `entry`, created (zeroed) if absent. `None` if the entry
/// maps a large page (nothing here splits one).
///
/// # Safety
/// `entry` is a live paging-structure entry; single-threaded, interrupts off.
unsafe fn next_table(entry: *mut u64) -> Option<*mut [u64; 512]> {
    // SAFETY: the caller's contract: `entry` is a valid, exclusively used entry.
    let value = unsafe { entry.read_volatile() };
    if value & 1 != 0 {
        if value & LARGE != 0 {
            return None;
        }
        return Some((value & ADDR_MASK) as *mut [u64; 512]);
    }
    // A new table from the heap: page-aligned by its type, zeroed, identity-mapped (so
    // its address is its physical address) and never freed: page tables live forever.
    let table = alloc::boxed::Box::leak(alloc::boxed::Box::new(PageTable([0; 512])));
    let phys = &raw mut table.0;
    // SAFETY: as above; the new table is complete (all zero = not present) before
    // the entry that makes it reachable is written.
    unsafe { entry.write_volatile(phys as u64 | PRESENT_WRITABLE) };
    Some(phys)
}

/// Maps `[start, start + len)` identity, uncached, for a device (a PCI BAR), unless it
/// already is mapped. Returns false if it cannot be (beyond the physical address
/// space, or overlapping a 4 KiB-mapped region). Call before interrupts are enabled,
/// from the single boot thread.
pub fn map_device(start: u64, len: u64) -> bool {
    let Some(end) = start.checked_add(len) else {
        return false;
    };
    if end > PHYS_LIMIT {
        return false;
    }
    let mut region = start & !(LARGE_PAGE - 1);
    while region < end {
        if region >= super::IDENTITY_MAPPED {
            let pml4 = &raw mut boot_pml4;
            // SAFETY: single-threaded boot; every entry pointer comes from a table that
            // is live for the kernel's lifetime and indexed within 512. The new 2 MiB
            // entry maps device memory at its own address (identity), uncached; no
            // existing mapping changes, so no stale TLB entry can exist for it, and
            // the CR3 reload below flushes any negative caching anyway.
            let mapped = unsafe {
                let l4 = &raw mut (*pml4)[((region >> 39) & 511) as usize];
                next_table(l4)
                    .and_then(|pdpt| next_table(&raw mut (*pdpt)[((region >> 30) & 511) as usize]))
                    .map(|pd| {
                        let e = &raw mut (*pd)[((region >> 21) & 511) as usize];
                        if e.read_volatile() & 1 == 0 {
                            e.write_volatile(region | PRESENT_WRITABLE | LARGE | UNCACHED);
                        }
                    })
            };
            if mapped.is_none() {
                return false;
            }
        }
        region += LARGE_PAGE;
    }
    // SAFETY: reloading CR3 with its own value only flushes the TLB.
    unsafe { asm!("mov {tmp}, cr3", "mov cr3, {tmp}", tmp = out(reg) _, options(nostack)) };
    true
}

/// Whether every byte of `[start, start + len)` is mapped (identity).
pub fn is_mapped(start: u64, len: u64) -> bool {
    let Some(end) = start.checked_add(len) else {
        return false;
    };
    if end <= super::IDENTITY_MAPPED {
        return true;
    }
    let mut region = start.max(super::IDENTITY_MAPPED) & !(LARGE_PAGE - 1);
    while region < end {
        let pml4 = &raw const boot_pml4;
        // SAFETY: read-only walk of live tables; each table address comes from a
        // present, non-large entry written by the boot code or `map_device`.
        let present = unsafe {
            let e4 = (*pml4)[((region >> 39) & 511) as usize];
            if e4 & 1 == 0 || e4 & LARGE != 0 {
                false
            } else {
                let pdpt = (e4 & ADDR_MASK) as *const [u64; 512];
                let e3 = (*pdpt)[((region >> 30) & 511) as usize];
                if e3 & 1 == 0 || e3 & LARGE != 0 {
                    false
                } else {
                    let pd = (e3 & ADDR_MASK) as *const [u64; 512];
                    (*pd)[((region >> 21) & 511) as usize] & 1 != 0
                }
            }
        };
        if !present {
            return false;
        }
        region += LARGE_PAGE;
    }
    true
}
