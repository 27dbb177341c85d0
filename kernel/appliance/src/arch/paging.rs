//! Changes to the boot identity mapping: the guard page below the kernel stack.
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
