//! virtio-net queues with buffers the kernel owns (`VirtIONetRaw`), so that a received
//! frame can be edited in place, grown at the front (encapsulation) and handed to the
//! other NIC's transmit queue without a copy.
//!
//! Buffers are the node's [`PacketBuf`]s (layout in `vnetcrypt_node::packet`): the
//! virtio-net header is written just in front of the frame, in the buffer's room for it.
//!
//! Ownership: a buffer posted to a queue is turned into a raw pointer and kept in the
//! queue's in-flight table until the device returns it (`poll_receive` /
//! `poll_transmit` give its descriptor id); only then is it a `PacketBuf` again. While
//! posted, no Rust reference to it exists, so the device's DMA never races Rust code.

use super::hal::KernelHal;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::NonNull;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::SomeTransport;
use vnetcrypt_node::packet::{BUF_SIZE, HDR_MAX, MAX_FRAME, RX_FRAME_AT};
use vnetcrypt_node::{NetPort, PacketBuf, PortError as QueueError, Refused};

/// Descriptors per virtqueue (receive and transmit each).
pub const QUEUE_SIZE: usize = vnetcrypt_node::QUEUE_SIZE;

/// A buffer while the device owns it (also the igb VF driver's, `crate::igb::port`).
pub(crate) struct Posted {
    raw: NonNull<[u8]>,
    start: usize,
    len: usize,
}

impl Posted {
    /// Where the frame starts and how long it is.
    pub(crate) fn frame_span(&self) -> (usize, usize) {
        (self.start, self.len)
    }

    pub(crate) fn post(buf: PacketBuf) -> Self {
        let (data, start, len) = buf.into_raw();
        Self {
            raw: NonNull::from(Box::leak(data)),
            start,
            len,
        }
    }
    /// # Safety
    /// The device must be done with the buffer (its descriptor was returned used).
    pub(crate) unsafe fn reclaim(self) -> PacketBuf {
        // SAFETY: `raw` came from `Box::leak` in `post` and is reclaimed once (the
        // `Posted` is consumed); the caller says the device is done with it.
        let data = unsafe { Box::from_raw(self.raw.as_ptr()) };
        // The parts are those `post` took apart, so they make a buffer again; were
        // they not, a fresh buffer replaces the memory (freed: the device is done).
        PacketBuf::from_raw(data, self.start, self.len).unwrap_or_default()
    }
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
            Ok((hdr, len)) if hdr == self.hdr_len && len <= MAX_FRAME && buf.set_received(len) => {
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
        let filled = !buf.frame().is_empty()
            && buf
                .header_mut(self.hdr_len)
                .is_some_and(|header| self.raw.fill_buffer_header(header).is_ok());
        if !filled {
            return Err((Some(buf), QueueError::BadBuffer));
        }
        let from = buf.start() - self.hdr_len;
        let to = buf.start() + buf.frame().len();
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
pub(crate) fn rx_region(posted: &mut Posted, from: usize, to: usize) -> &mut [u8] {
    // SAFETY: `raw` is the leaked box of `post` (valid, BUF_SIZE bytes, uniquely ours
    // while we hold `posted` mutably), and from < to <= BUF_SIZE by construction of
    // the constants (checked by the assertion below at compile time).
    let all = unsafe { posted.raw.as_mut() };
    &mut all[from..to]
}

/// The device-readable part of a posted transmit buffer.
pub(crate) fn tx_region(posted: &Posted, from: usize, to: usize) -> &[u8] {
    // SAFETY: as for `rx_region`, shared: the device only reads transmit buffers.
    let all = unsafe { posted.raw.as_ref() };
    &all[from..to]
}

const _: () = assert!(RX_FRAME_AT + MAX_FRAME <= BUF_SIZE && HDR_MAX <= RX_FRAME_AT);

impl NetPort for NetQueues {
    fn mac(&self) -> [u8; 6] {
        NetQueues::mac(self)
    }
    fn is_broken(&self) -> bool {
        NetQueues::is_broken(self)
    }
    fn rx_has_room(&self) -> bool {
        NetQueues::rx_has_room(self)
    }
    fn tx_has_room(&self) -> bool {
        NetQueues::tx_has_room(self)
    }
    fn post_rx(&mut self, buf: PacketBuf) -> Result<(), Refused> {
        NetQueues::post_rx(self, buf)
    }
    fn recv(&mut self) -> Option<Result<PacketBuf, Refused>> {
        NetQueues::recv(self)
    }
    fn send(&mut self, buf: PacketBuf) -> Result<(), Refused> {
        NetQueues::send(self, buf)
    }
    fn reclaim_tx(&mut self) -> Option<Result<PacketBuf, QueueError>> {
        NetQueues::reclaim_tx(self)
    }
}

/// Brings up the virtio-net devices among `devices` as the node's ports, in discovery
/// order, and returns the devices that are not NICs, for their own drivers.
pub fn ports(
    devices: Vec<super::VirtioDevice>,
) -> (Vec<vnetcrypt_node::PortSlot>, Vec<super::VirtioDevice>) {
    let (nets, others): (Vec<_>, Vec<_>) = devices
        .into_iter()
        .partition(|d| d.kind == super::DeviceType::Network);
    let mut ports = Vec::new();
    for d in nets {
        match NetQueues::new(d.transport) {
            Ok(q) => ports.push(vnetcrypt_node::PortSlot {
                port: Box::new(q),
                location: alloc::format!("{}, virtio-net", d.location),
            }),
            Err(e) => defmt::error!(
                "virtio-net at {=str}: {}",
                d.location.as_str(),
                defmt::Display2Format(&e)
            ),
        }
    }
    (ports, others)
}
