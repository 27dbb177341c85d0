//! The kernel heap: `linked_list_allocator` over the largest usable RAM range of the
//! boot memory map above the kernel image.

use linked_list_allocator::LockedHeap;
use vnetcrypt_bootinfo::Span;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Hands `span` to the allocator. Called once, before the first allocation.
///
/// # Safety
/// `span` must be identity-mapped RAM that nothing else uses, now or later.
pub unsafe fn init(span: Span) {
    // SAFETY: the caller's contract; the allocator is initialised only once.
    unsafe { HEAP.lock().init(span.start as *mut u8, span.len() as usize) };
}

/// Bytes handed out and still allocated.
pub fn used() -> u64 {
    HEAP.lock().used() as u64
}

/// Bytes the heap manages.
pub fn size() -> u64 {
    HEAP.lock().size() as u64
}
