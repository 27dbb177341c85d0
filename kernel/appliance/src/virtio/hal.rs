//! `virtio_drivers::Hal` for this kernel: DMA memory comes from the kernel heap, which
//! lies in identity-mapped RAM below [`crate::HEAP_LIMIT`], so a buffer's virtual
//! address *is* its physical address. Sharing a buffer with a device is therefore free:
//! no bounce buffer, no IOMMU, no copy (virtio devices here are emulated by the VMM,
//! which reads guest RAM coherently).

use crate::arch::IDENTITY_MAPPED;
use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use core::ptr::NonNull;
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

/// The kernel's virtio HAL (identity-mapped heap memory).
#[derive(Debug)]
pub struct KernelHal;

fn dma_layout(pages: usize) -> Option<Layout> {
    Layout::from_size_align(pages.checked_mul(PAGE_SIZE)?, PAGE_SIZE).ok()
}

/// The physical address of memory the kernel can reach: identity-mapped, so the
/// same number; `None` if the range is not inside the identity mapping.
pub fn phys_of(ptr: *const u8, len: usize) -> Option<PhysAddr> {
    let start = ptr as u64;
    let end = start.checked_add(len as u64)?;
    (end <= IDENTITY_MAPPED).then_some(start)
}

// SAFETY: `dma_alloc` returns page-aligned, zeroed, heap-owned memory that nothing else
// references until `dma_dealloc`; physical == virtual for all heap memory (the heap is
// inside the identity mapping); `mmio_phys_to_virt` only returns addresses that are
// identity-mapped (the boot mapping, or device windows mapped at discovery); `share` hands out the buffer's own (identity) address and the
// caller keeps the buffer alive and untouched until `unshare`.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let Some(layout) = dma_layout(pages).filter(|l| l.size() > 0) else {
            return (0, NonNull::dangling());
        };
        // SAFETY: the layout has a non-zero size (checked above).
        let ptr = unsafe { alloc_zeroed(layout) };
        match NonNull::new(ptr) {
            // The crate treats physical address 0 as failure; the heap never starts at 0.
            Some(p) => match phys_of(p.as_ptr(), layout.size()) {
                Some(paddr) => (paddr, p),
                None => {
                    // SAFETY: allocated just above with this layout, not yet freed.
                    unsafe { dealloc(ptr, layout) };
                    (0, NonNull::dangling())
                }
            },
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        let Some(layout) = dma_layout(pages) else {
            return -1;
        };
        // SAFETY: the crate's contract: `vaddr` came from `dma_alloc` with the same page
        // count (hence the same layout) and is freed once.
        unsafe { dealloc(vaddr.as_ptr(), layout) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        // Transport discovery checks every BAR against the identity mapping before it
        // builds a transport, so this cannot fail for a device we accepted.
        assert!(
            paddr != 0 && crate::arch::paging::is_mapped(paddr, size as u64),
            "virtio MMIO region outside the identity mapping"
        );
        NonNull::new(paddr as *mut u8).expect("non-zero address")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        // Buffers live in the kernel heap or stack, both identity-mapped RAM.
        let ptr = buffer.as_ptr() as *const u8;
        phys_of(ptr, buffer.len()).expect("DMA buffer outside the identity mapping")
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {
        // Nothing to undo: the device wrote (or read) the buffer in place.
    }
}
