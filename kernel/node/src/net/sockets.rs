//! The data plane's state on one NIC (its sockets, the ARP tap) and the tap itself:
//! the NIC owns it, `dataplane` drives it.

use crate::packet::PacketBuf;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::RefCell;
use smoltcp::iface::SocketHandle;
use smoltcp::wire::IpProtocol;

/// The data plane's sockets on one NIC.
#[derive(Default)]
pub struct Sockets {
    pub(super) udp: Option<(u16, SocketHandle)>,
    pub(super) raw: Vec<(IpProtocol, SocketHandle)>,
    pub(super) collector: Option<SocketHandle>,
    /// Datagrams on the data plane's UDP port too large for any record we accept.
    pub truncated: u64,
    /// Copy ARP frames to the transit queue.
    pub arp_tap: bool,
}

/// Pushes a copy of `frame` to `transit` if it is ARP (and there is a buffer).
pub fn tap_arp(frame: &[u8], transit: &mut VecDeque<PacketBuf>, pool: &RefCell<Vec<PacketBuf>>) {
    if frame.get(12..14) != Some(&[0x08, 0x06]) || transit.len() >= super::TRANSIT {
        return;
    }
    let Some(mut copy) = pool.borrow_mut().pop() else {
        return;
    };
    copy.reset();
    if copy.set_len(frame.len()) {
        copy.frame_mut().copy_from_slice(frame);
        transit.push_back(copy);
    } else {
        pool.borrow_mut().push(copy);
    }
}
