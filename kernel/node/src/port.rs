//! A NIC as the node sees it: queues of [`PacketBuf`]s. The appliance implements it
//! over virtio-net (where the unsafe DMA edge lives); host tests over a fake fabric.
//!
//! A buffer given to the port (posted for receive or queued for send) belongs to it
//! until it comes back from [`NetPort::recv`] or [`NetPort::reclaim_tx`].

use crate::packet::PacketBuf;

/// Why a port refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortError {
    /// No free descriptor.
    Full,
    /// The frame does not fit the buffer's room for a header, or is empty.
    BadBuffer,
    /// The device returned something inconsistent (unknown descriptor, short length).
    Device,
}

/// A refused buffer comes back, except one the device may still write to (after an
/// inconsistency): that one is never reused.
pub type Refused = (Option<PacketBuf>, PortError);

pub trait NetPort {
    /// The port's Ethernet address.
    fn mac(&self) -> [u8; 6];
    /// Whether the device returned something inconsistent (the port is out of use).
    fn is_broken(&self) -> bool;
    /// Whether the receive queue has room for another empty buffer.
    fn rx_has_room(&self) -> bool;
    /// Whether a frame can be queued for transmission now.
    fn tx_has_room(&self) -> bool;
    /// Gives the port an empty buffer to receive into.
    fn post_rx(&mut self, buf: PacketBuf) -> Result<(), Refused>;
    /// A received frame, if there is one.
    fn recv(&mut self) -> Option<Result<PacketBuf, Refused>>;
    /// Queues `buf`'s frame for transmission.
    fn send(&mut self, buf: PacketBuf) -> Result<(), Refused>;
    /// A buffer whose frame has been sent, if any.
    fn reclaim_tx(&mut self) -> Option<Result<PacketBuf, PortError>>;
}
