//! Packet buffers: a frame with room in front (encapsulation, the device's header)
//! and behind (AEAD tag). A received frame stays in its buffer on its way through the
//! node; buffers move between NICs and back to the pool, never allocated per packet.
//!
//! Layout (one [`PacketBuf`], [`BUF_SIZE`] bytes, any NIC):
//! ```text
//! | HEADROOM (96) | device header (HDR_MAX = 12) | frame (<= MAX_FRAME) | TAILROOM (32) |
//! ```
//! A received frame starts at [`RX_FRAME_AT`]; a frame to send may start anywhere
//! from `HDR_MAX` on: the device's header (virtio-net's) is written just in front of it.

use alloc::boxed::Box;
use alloc::vec;

/// Free bytes in front of a received frame, for the gateway's encapsulation.
pub const HEADROOM: usize = 96;
/// Free bytes behind the largest frame (AEAD tag, padding).
pub const TAILROOM: usize = 32;
/// Room for the device's per-frame header (virtio-net: 12 bytes modern, 10 legacy).
pub const HDR_MAX: usize = 12;
/// The largest frame a receive buffer holds: MTU 9000, Ethernet header, one VLAN tag.
pub const MAX_FRAME: usize = 9000 + 14 + 4;
/// Bytes per buffer.
pub const BUF_SIZE: usize = HEADROOM + HDR_MAX + MAX_FRAME + TAILROOM;
/// Where a received frame starts.
pub const RX_FRAME_AT: usize = HEADROOM + HDR_MAX;

/// A packet buffer: a frame with room in front and behind. Moves between NICs.
pub struct PacketBuf {
    data: Box<[u8]>,
    start: usize,
    len: usize,
}

impl Default for PacketBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl PacketBuf {
    /// A zeroed buffer, empty, positioned like a received frame.
    pub fn new() -> Self {
        Self {
            data: vec![0u8; BUF_SIZE].into_boxed_slice(),
            start: RX_FRAME_AT,
            len: 0,
        }
    }
    pub fn frame(&self) -> &[u8] {
        &self.data[self.start..self.start + self.len]
    }
    pub fn frame_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.start..self.start + self.len]
    }
    /// Where the frame starts in the buffer.
    pub fn start(&self) -> usize {
        self.start
    }
    /// Bytes that can still be prepended (keeping room for the device header).
    pub fn headroom(&self) -> usize {
        self.start - HDR_MAX
    }
    /// Bytes that can still be appended.
    pub fn tailroom(&self) -> usize {
        BUF_SIZE - self.start - self.len
    }
    /// Grows the frame by `n` bytes at the front and returns them; `None` if there is
    /// not that much headroom.
    pub fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.headroom() {
            return None;
        }
        self.start -= n;
        self.len += n;
        Some(&mut self.data[self.start..self.start + n])
    }
    /// Removes `n` bytes from the front; false if the frame is shorter.
    pub fn pull_front(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.start += n;
        self.len -= n;
        true
    }
    /// Sets the frame length (growing into the tailroom or shrinking).
    pub fn set_len(&mut self, len: usize) -> bool {
        if self.start + len > BUF_SIZE {
            return false;
        }
        self.len = len;
        true
    }
    /// The buffer from just after the device header's room, and where the frame
    /// starts in it: for the data plane, which edits a frame in place and may grow it
    /// into the room in front and behind.
    pub fn room_mut(&mut self) -> (&mut [u8], usize) {
        (&mut self.data[HDR_MAX..], self.start - HDR_MAX)
    }
    /// Empties the buffer and puts the frame start back where a received frame goes.
    pub fn reset(&mut self) {
        self.start = RX_FRAME_AT;
        self.len = 0;
    }
    /// The `n` bytes just in front of the frame, for the device's header; `None` if
    /// the frame starts too early for them.
    pub fn header_mut(&mut self, n: usize) -> Option<&mut [u8]> {
        let from = self.start.checked_sub(n)?;
        self.data.get_mut(from..self.start)
    }
    /// Marks `len` bytes at [`RX_FRAME_AT`] as a received frame; false if they do not fit.
    pub fn set_received(&mut self, len: usize) -> bool {
        self.start = RX_FRAME_AT;
        self.set_len(len)
    }
    /// For a driver that hands the memory to a device: the storage, frame start and
    /// length. [`Self::from_raw`] makes the buffer again.
    pub fn into_raw(self) -> (Box<[u8]>, usize, usize) {
        (self.data, self.start, self.len)
    }
    /// The buffer [`Self::into_raw`] took apart; `None` if the parts are not one.
    pub fn from_raw(data: Box<[u8]>, start: usize, len: usize) -> Option<Self> {
        let fits = data.len() == BUF_SIZE
            && start >= HDR_MAX
            && start.checked_add(len).is_some_and(|end| end <= BUF_SIZE);
        fits.then_some(Self { data, start, len })
    }
}

impl core::fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PacketBuf({} bytes at {})", self.len, self.start)
    }
}
