//! virtio-net queues with buffers the kernel owns (`VirtIONetRaw`), so that a received
//! frame can be edited in place, grown at the front (encapsulation) and handed to the
//! other NIC's transmit queue without a copy.
//!
//! Buffer layout (one [`PacketBuf`], [`BUF_SIZE`] bytes, any NIC):
//! ```text
//! | HEADROOM (96) | virtio-net header (12) | frame (<= MAX_FRAME) | TAILROOM (32) |
//! ```
//! A received frame starts at `HEADROOM + HDR_MAX`; a frame to send may start anywhere
//! from `HDR_MAX` on: its virtio-net header is written just in front of it.
//!
//! Ownership: a buffer posted to a queue is turned into a raw pointer and kept in the
//! queue's in-flight table until the device returns it (`poll_receive` /
//! `poll_transmit` give its descriptor id); only then is it a `PacketBuf` again. While
//! posted, no Rust reference to it exists, so the device's DMA never races Rust code.

use super::hal::KernelHal;
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::ptr::NonNull;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::SomeTransport;

/// Descriptors per virtqueue (receive and transmit each).
pub const QUEUE_SIZE: usize = 64;
/// Free bytes in front of a received frame, for the gateway's encapsulation.
pub const HEADROOM: usize = 96;
/// Free bytes behind the largest frame (AEAD tag, padding).
pub const TAILROOM: usize = 32;
/// Room for the virtio-net header (12 bytes modern, 10 legacy).
pub const HDR_MAX: usize = 12;
/// The largest frame a receive buffer holds: MTU 9000, Ethernet header, one VLAN tag.
/// Longer frames never reach the driver: QEMU drops what does not fit a buffer.
pub const MAX_FRAME: usize = 9000 + 14 + 4;
/// Bytes per buffer.
pub const BUF_SIZE: usize = HEADROOM + HDR_MAX + MAX_FRAME + TAILROOM;
/// Where a received frame starts.
const RX_FRAME_AT: usize = HEADROOM + HDR_MAX;

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

// The headroom/tailroom editing methods are for the gateway data plane.
#[allow(dead_code)]
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
    /// Bytes that can still be prepended (keeping room for the virtio-net header).
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
    /// The buffer from just after the virtio-net header's room, and where the frame
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
}

/// A buffer while the device owns it.
struct Posted {
    raw: NonNull<[u8]>,
    start: usize,
    len: usize,
}

impl Posted {
    fn post(buf: PacketBuf) -> Self {
        Self {
            raw: NonNull::from(Box::leak(buf.data)),
            start: buf.start,
            len: buf.len,
        }
    }
    /// # Safety
    /// The device must be done with the buffer (its descriptor was returned used).
    unsafe fn reclaim(self) -> PacketBuf {
        PacketBuf {
            // SAFETY: `raw` came from `Box::leak` in `post` and is reclaimed once
            // (the `Posted` is consumed); the caller says the device is done with it.
            data: unsafe { Box::from_raw(self.raw.as_ptr()) },
            start: self.start,
            len: self.len,
        }
    }
}

/// Why the queues refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// No free descriptor.
    Full,
    /// The frame does not fit the buffer's room for a header, or is empty.
    BadBuffer,
    /// The device returned something inconsistent (unknown descriptor, short length).
    Device,
}

type Raw = VirtIONetRaw<KernelHal, SomeTransport<'static>, QUEUE_SIZE>;

/// One virtio-net device's receive and transmit queues with their in-flight buffers.
pub struct NetQueues {
    // Declared first so that it is dropped first: the queues are reset before the
    // buffers they point to are freed.
    raw: Raw,
    hdr_len: usize,
    rx_posted: Vec<Option<Posted>>,
    tx_posted: Vec<Option<Posted>>,
    rx_count: usize,
    tx_count: usize,
    /// The device returned something inconsistent; the queues are no longer used.
    broken: bool,
}

/// A refused buffer comes back, except one the device may still write to (after an
/// inconsistency): that one is leaked rather than freed.
pub type Refused = (Option<PacketBuf>, QueueError);

impl NetQueues {
    /// Initialises the device (features, queues, DRIVER_OK).
    pub fn new(transport: SomeTransport<'static>) -> Result<Self, virtio_drivers::Error> {
        let raw = Raw::new(transport)?;
        let mut probe = [0u8; HDR_MAX];
        let hdr_len = raw.fill_buffer_header(&mut probe)?;
        Ok(Self {
            raw,
            hdr_len,
            rx_posted: (0..QUEUE_SIZE).map(|_| None).collect(),
            tx_posted: (0..QUEUE_SIZE).map(|_| None).collect(),
            rx_count: 0,
            tx_count: 0,
            broken: false,
        })
    }

    pub fn mac(&self) -> [u8; 6] {
        self.raw.mac_address()
    }

    /// Whether the device returned something inconsistent (the NIC is then out of use).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Whether the receive queue has a free descriptor.
    pub fn rx_has_room(&self) -> bool {
        !self.broken && self.rx_count < QUEUE_SIZE
    }

    /// Whether a frame can be queued for transmission now.
    pub fn tx_has_room(&self) -> bool {
        !self.broken && self.tx_count < QUEUE_SIZE && self.raw.can_send()
    }

    /// Gives the device an empty buffer to receive into.
    pub fn post_rx(&mut self, mut buf: PacketBuf) -> Result<(), Refused> {
        if !self.rx_has_room() {
            return Err((Some(buf), QueueError::Full));
        }
        buf.reset();
        let from = RX_FRAME_AT - self.hdr_len;
        let to = RX_FRAME_AT + MAX_FRAME;
        let mut posted = Posted::post(buf);
        let region = rx_region(&mut posted, from, to);
        // SAFETY: `region` is inside the leaked box (from < to <= BUF_SIZE); the box is
        // held only as a raw pointer in `rx_posted` until `poll_receive` returns this
        // token, so nothing reads or writes it while the device may.
        match unsafe { self.raw.receive_begin(region) } {
            Ok(token) => match self.rx_posted.get_mut(usize::from(token)) {
                Some(slot @ None) => {
                    *slot = Some(posted);
                    self.rx_count += 1;
                    Ok(())
                }
                // A token we already hold or out of range: the queue is corrupt; keep
                // the buffer leaked rather than free memory the device may write.
                _ => {
                    self.broken = true;
                    Err((None, QueueError::Device))
                }
            },
            // SAFETY: the device never saw the buffer (the add failed).
            Err(_) => Err((Some(unsafe { posted.reclaim() }), QueueError::Full)),
        }
    }

    /// A received frame, if the device has returned one.
    pub fn recv(&mut self) -> Option<Result<PacketBuf, Refused>> {
        if self.broken {
            return None;
        }
        let token = self.raw.poll_receive()?;
        let Some(mut posted) = self
            .rx_posted
            .get_mut(usize::from(token))
            .and_then(Option::take)
        else {
            // Not a descriptor we posted: the queue is corrupt.
            self.broken = true;
            return Some(Err((None, QueueError::Device)));
        };
        self.rx_count -= 1;
        let from = RX_FRAME_AT - self.hdr_len;
        let to = RX_FRAME_AT + MAX_FRAME;
        let region = rx_region(&mut posted, from, to);
        // SAFETY: the same region that was posted under this token, which the device
        // has now returned used.
        let done = unsafe { self.raw.receive_complete(token, region) };
        // SAFETY: the descriptor came back used: the device no longer touches it.
        let mut buf = unsafe { posted.reclaim() };
        match done {
            Ok((hdr, len)) if hdr == self.hdr_len && len <= MAX_FRAME => {
                buf.start = RX_FRAME_AT;
                buf.len = len;
                Some(Ok(buf))
            }
            Ok(_) => Some(Err((Some(buf), QueueError::Device))),
            Err(_) => {
                // The used entry was not consumed: the queue cannot move on.
                self.broken = true;
                Some(Err((Some(buf), QueueError::Device)))
            }
        }
    }

    /// Queues `buf`'s frame for transmission (the buffer comes back from
    /// [`Self::reclaim_tx`] once sent).
    pub fn send(&mut self, mut buf: PacketBuf) -> Result<(), Refused> {
        if !self.tx_has_room() {
            return Err((Some(buf), QueueError::Full));
        }
        if buf.len == 0 || buf.start < self.hdr_len {
            return Err((Some(buf), QueueError::BadBuffer));
        }
        let from = buf.start - self.hdr_len;
        let to = buf.start + buf.len;
        if self
            .raw
            .fill_buffer_header(&mut buf.data[from..buf.start])
            .is_err()
        {
            return Err((Some(buf), QueueError::BadBuffer));
        }
        let posted = Posted::post(buf);
        let region = tx_region(&posted, from, to);
        // SAFETY: `region` lies inside the leaked box; the box stays a raw pointer in
        // `tx_posted` until `poll_transmit` returns this token, so nothing writes it
        // while the device reads it.
        match unsafe { self.raw.transmit_begin(region) } {
            Ok(token) => match self.tx_posted.get_mut(usize::from(token)) {
                Some(slot @ None) => {
                    *slot = Some(posted);
                    self.tx_count += 1;
                    Ok(())
                }
                _ => {
                    self.broken = true;
                    Err((None, QueueError::Device))
                }
            },
            // SAFETY: the add failed, the device never saw the buffer.
            Err(_) => Err((Some(unsafe { posted.reclaim() }), QueueError::Full)),
        }
    }

    /// A buffer whose frame the device has sent, if any.
    pub fn reclaim_tx(&mut self) -> Option<Result<PacketBuf, QueueError>> {
        if self.broken {
            return None;
        }
        let token = self.raw.poll_transmit()?;
        let Some(posted) = self
            .tx_posted
            .get_mut(usize::from(token))
            .and_then(Option::take)
        else {
            self.broken = true;
            return Some(Err(QueueError::Device));
        };
        self.tx_count -= 1;
        let from = posted.start - self.hdr_len;
        let to = posted.start + posted.len;
        let region = tx_region(&posted, from, to);
        // SAFETY: the region posted under this token, now returned used.
        let done = unsafe { self.raw.transmit_complete(token, region) };
        // SAFETY: returned used: the device is done reading it.
        let buf = unsafe { posted.reclaim() };
        match done {
            Ok(_) => Some(Ok(buf)),
            Err(_) => {
                // The used entry was not consumed: the queue cannot move on.
                self.broken = true;
                Some(Err(QueueError::Device))
            }
        }
    }
}

/// The device-writable part of a posted receive buffer.
fn rx_region(posted: &mut Posted, from: usize, to: usize) -> &mut [u8] {
    // SAFETY: `raw` is the leaked box of `post` (valid, BUF_SIZE bytes, uniquely ours
    // while we hold `posted` mutably), and from < to <= BUF_SIZE by construction of
    // the constants (checked by the assertion below at compile time).
    let all = unsafe { posted.raw.as_mut() };
    &mut all[from..to]
}

/// The device-readable part of a posted transmit buffer.
fn tx_region(posted: &Posted, from: usize, to: usize) -> &[u8] {
    // SAFETY: as for `rx_region`, shared: the device only reads transmit buffers.
    let all = unsafe { posted.raw.as_ref() };
    &all[from..to]
}

const _: () = assert!(RX_FRAME_AT + MAX_FRAME <= BUF_SIZE && HDR_MAX <= RX_FRAME_AT);
