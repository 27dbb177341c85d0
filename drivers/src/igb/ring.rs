//! Advanced descriptor rings (82576 datasheet 7.1.5, 7.2.2): one receive and one
//! transmit ring of 16-byte descriptors in memory the device reads and writes.
//!
//! The ring only tracks descriptors; the caller owns the buffers and keeps each one
//! untouched from `post` until the ring returns its slot (the appliance holds it as a
//! raw pointer in a table indexed by slot, as the virtio-net driver does).
//!
//! Receive descriptor, as posted: buffer address (8 bytes), header address (8, zero).
//! As written back by the device: info (8), status and errors (4: DD bit 0, EOP bit 1,
//! errors in bits 24..31), length (2), VLAN (2).
//! Transmit data descriptor: buffer address (8), command/type/length (4), offload
//! info with the payload length in bits 14..31 (4). Write-back: status (bytes 12..16,
//! DD bit 0).

use super::regs::*;
use super::Regs;
use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{fence, Ordering};

pub const DESC_LEN: usize = 16;
const RXD_STAT_DD: u32 = 1 << 0;
const RXD_STAT_EOP: u32 = 1 << 1;
/// Frame errors (CRC, symbol, sequence, carrier extension, RX data): the frame is bad.
/// The checksum error bits (IPE 30, TCPE 29) are not: the appliance screens headers
/// itself, so such frames go up and are counted by reason there.
const RXD_ERR_FRAME: u32 = 0x9700_0000;
const TXD_DTYP_DATA: u32 = 0x3 << 20;
const TXD_CMD_EOP: u32 = 1 << 24;
const TXD_CMD_IFCS: u32 = 1 << 25;
const TXD_CMD_RS: u32 = 1 << 27;
const TXD_CMD_DEXT: u32 = 1 << 29;
const TXD_PAYLEN_SHIFT: u32 = 14;
const TXD_STAT_DD: u32 = 1 << 0;

/// Descriptor memory shared with the device: zeroed, page aligned (the device needs
/// 128-byte alignment), freed only when dropped.
pub struct DmaRing {
    ptr: NonNull<u8>,
    layout: Layout,
    /// Descriptors in the ring.
    len: u16,
}

impl DmaRing {
    /// `len` descriptors (a multiple of 8: ring lengths are multiples of 128 bytes);
    /// `None` for a bad length or no memory.
    pub fn new(len: u16) -> Option<Self> {
        if len == 0 || !len.is_multiple_of(8) {
            return None;
        }
        let layout = Layout::from_size_align(usize::from(len) * DESC_LEN, 4096).ok()?;
        // SAFETY: the layout's size is non-zero (len > 0).
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        Some(Self { ptr, layout, len })
    }

    pub fn descriptors(&self) -> u16 {
        self.len
    }

    /// The memory's address, for the caller to translate into a bus address.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    pub fn bytes(&self) -> usize {
        self.layout.size()
    }

    fn word32(&self, index: u16, offset: usize) -> *mut u32 {
        let at = usize::from(index % self.len) * DESC_LEN + offset;
        // Offsets are 0, 8 or 12 within a 16-byte descriptor: in bounds, aligned.
        self.ptr.as_ptr().wrapping_add(at).cast::<u32>()
    }

    fn read32(&self, index: u16, offset: usize) -> u32 {
        // SAFETY: `word32` points inside the allocation, 4-byte aligned; the device may
        // write it concurrently, hence volatile (no reference to it ever exists).
        unsafe { self.word32(index, offset).read_volatile() }
    }

    fn write32(&mut self, index: u16, offset: usize, v: u32) {
        // SAFETY: as for `read32`.
        unsafe { self.word32(index, offset).write_volatile(v) }
    }

    fn write64(&mut self, index: u16, offset: usize, v: u64) {
        self.write32(index, offset, v as u32);
        self.write32(index, offset + 4, (v >> 32) as u32);
    }
}

impl Drop for DmaRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once. The owner stops the
        // device's queue before dropping the ring (see `vf::Vf`'s drop order).
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

// SAFETY: the ring is plain memory owned by this value; moving it between threads
// moves that ownership (the kernel has one thread anyway).
unsafe impl Send for DmaRing {}

/// What the device returned for one receive descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxDone {
    /// A whole frame of this many bytes.
    Frame(usize),
    /// Part of a frame longer than one buffer, or a frame with errors: the buffer
    /// comes back unused.
    Dropped,
}

/// The receive ring: the driver posts at the tail, the device fills from the head.
pub struct RxRing {
    mem: DmaRing,
    tail: u16,
    clean: u16,
    posted: u16,
    buf_len: u32,
    /// Inside a frame that spans descriptors: drop until its last one.
    discarding: bool,
}

impl RxRing {
    /// A ring over `mem` whose buffers hold `buf_len` bytes each.
    pub fn new(mem: DmaRing, buf_len: u32) -> Self {
        Self {
            mem,
            tail: 0,
            clean: 0,
            posted: 0,
            buf_len,
            discarding: false,
        }
    }

    pub fn memory(&self) -> &DmaRing {
        &self.mem
    }

    /// Buffers the ring can hold: one descriptor stays empty (head == tail means empty).
    pub fn capacity(&self) -> u16 {
        self.mem.descriptors() - 1
    }

    pub fn has_room(&self) -> bool {
        self.posted < self.capacity()
    }

    pub fn posted(&self) -> u16 {
        self.posted
    }

    /// Bytes the device may write per buffer.
    pub fn buf_len(&self) -> u32 {
        self.buf_len
    }

    /// Posts the buffer at bus address `addr` (at least `buf_len` bytes) and tells
    /// the device; returns its slot, or `None` when the ring is full.
    pub fn post(&mut self, regs: &mut dyn Regs, addr: u64) -> Option<u16> {
        if !self.has_room() {
            return None;
        }
        let slot = self.tail;
        self.mem.write64(slot, 0, addr);
        // Header address zero also clears the write-back status (DD) of the last use.
        self.mem.write64(slot, 8, 0);
        self.tail = (self.tail + 1) % self.mem.descriptors();
        self.posted += 1;
        // The descriptor is in memory before the device learns of it.
        fence(Ordering::Release);
        regs.write(RDT, u32::from(self.tail));
        Some(slot)
    }

    /// The next descriptor the device is done with: its slot and what it holds.
    pub fn poll(&mut self) -> Option<(u16, RxDone)> {
        if self.posted == 0 {
            return None;
        }
        let slot = self.clean;
        let status = self.mem.read32(slot, 8);
        if status & RXD_STAT_DD == 0 {
            return None;
        }
        // The length is read only after DD was seen.
        fence(Ordering::Acquire);
        let len = self.mem.read32(slot, 12) & 0xffff;
        self.clean = (self.clean + 1) % self.mem.descriptors();
        self.posted -= 1;
        let eop = status & RXD_STAT_EOP != 0;
        let done = if self.discarding || !eop {
            self.discarding = !eop;
            RxDone::Dropped
        } else if status & RXD_ERR_FRAME != 0 || len > self.buf_len {
            RxDone::Dropped
        } else {
            RxDone::Frame(len as usize)
        };
        Some((slot, done))
    }
}

/// The transmit ring: the driver queues at the tail, the device sends from the head
/// and marks each sent descriptor done.
pub struct TxRing {
    mem: DmaRing,
    tail: u16,
    clean: u16,
    queued: u16,
}

impl TxRing {
    pub fn new(mem: DmaRing) -> Self {
        Self {
            mem,
            tail: 0,
            clean: 0,
            queued: 0,
        }
    }

    pub fn memory(&self) -> &DmaRing {
        &self.mem
    }

    pub fn capacity(&self) -> u16 {
        self.mem.descriptors() - 1
    }

    pub fn has_room(&self) -> bool {
        self.queued < self.capacity()
    }

    pub fn queued(&self) -> u16 {
        self.queued
    }

    /// Queues the `len`-byte frame at bus address `addr` and tells the device; its
    /// slot, or `None` when the ring is full or the length is not one a descriptor
    /// carries (0, or above 16 KiB - 1).
    pub fn send(&mut self, regs: &mut dyn Regs, addr: u64, len: usize) -> Option<u16> {
        if !self.has_room() || len == 0 || len > 0x3fff {
            return None;
        }
        let slot = self.tail;
        let len = len as u32;
        self.mem.write64(slot, 0, addr);
        let cmd = len | TXD_DTYP_DATA | TXD_CMD_DEXT | TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS;
        self.mem.write32(slot, 8, cmd);
        // The payload length; bit 0 (where DD is written back) stays clear.
        self.mem.write32(slot, 12, len << TXD_PAYLEN_SHIFT);
        self.tail = (self.tail + 1) % self.mem.descriptors();
        self.queued += 1;
        fence(Ordering::Release);
        regs.write(TDT, u32::from(self.tail));
        Some(slot)
    }

    /// The slot of the next frame the device has sent, if any.
    pub fn reclaim(&mut self) -> Option<u16> {
        if self.queued == 0 {
            return None;
        }
        let slot = self.clean;
        if self.mem.read32(slot, 12) & TXD_STAT_DD == 0 {
            return None;
        }
        fence(Ordering::Acquire);
        self.clean = (self.clean + 1) % self.mem.descriptors();
        self.queued -= 1;
        Some(slot)
    }
}
