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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_grows_into_its_headroom_and_shrinks_back() {
        let mut b = PacketBuf::new();
        assert!(b.set_received(60));
        b.frame_mut().fill(7);
        assert_eq!(b.headroom(), HEADROOM);
        let head = b.push_front(42).expect("room for outer headers");
        head.fill(1);
        assert_eq!(b.frame().len(), 102);
        assert_eq!(b.headroom(), HEADROOM - 42);
        assert!(
            b.push_front(HEADROOM).is_none(),
            "no more than the headroom"
        );
        assert!(b.pull_front(42));
        assert_eq!(b.frame(), &[7; 60][..]);
        assert!(!b.pull_front(61));
        assert!(b.set_len(60 + TAILROOM + MAX_FRAME - 60));
        assert!(!b.set_len(MAX_FRAME + TAILROOM + 1));
    }

    #[test]
    fn the_device_header_goes_just_in_front_of_the_frame() {
        let mut b = PacketBuf::new();
        assert!(b.set_received(10));
        assert_eq!(b.header_mut(HDR_MAX).map(|h| h.len()), Some(HDR_MAX));
        assert!(b.header_mut(RX_FRAME_AT + 1).is_none());
    }

    #[test]
    fn raw_parts_make_the_same_buffer_and_nothing_else() {
        let mut b = PacketBuf::new();
        assert!(b.set_received(100));
        b.frame_mut()[0] = 0xaa;
        let (data, start, len) = b.into_raw();
        let b = PacketBuf::from_raw(data, start, len).expect("its own parts");
        assert_eq!(
            (b.start(), b.frame().len(), b.frame()[0]),
            (RX_FRAME_AT, 100, 0xaa)
        );
        let (data, _, _) = b.into_raw();
        assert!(
            PacketBuf::from_raw(data, 0, 10).is_none(),
            "no room for the header"
        );
        let short = alloc::vec![0u8; 100].into_boxed_slice();
        assert!(
            PacketBuf::from_raw(short, HDR_MAX, 10).is_none(),
            "not a buffer"
        );
    }
}
