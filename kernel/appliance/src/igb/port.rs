//! An igb VF as the node's [`NetPort`]: the driver's rings with the node's
//! [`PacketBuf`]s in them. Ownership as for virtio-net (`virtio::net`): a posted
//! buffer is a raw pointer in the slot table until the device returns the slot.

use crate::virtio::hal::phys_of;
use crate::virtio::net::{rx_region, tx_region, Posted};
use alloc::vec::Vec;
use vnetcrypt_drivers::igb::ring::RxDone;
use vnetcrypt_drivers::igb::vf::Vf;
use vnetcrypt_drivers::igb::MmioRegs;
use vnetcrypt_node::packet::{BUF_SIZE, RX_FRAME_AT};
use vnetcrypt_node::{NetPort, PacketBuf, PortError, Refused, QUEUE_SIZE};

/// Descriptors per ring (a ring holds one less; the node keeps [`QUEUE_SIZE`] posted).
pub const RING_LEN: u16 = 128;
/// Bytes a receive buffer offers the device: from the frame start to the end.
pub const RX_ROOM: usize = BUF_SIZE - RX_FRAME_AT;

pub struct VfPort {
    // First, so that it is dropped first: its drop stops the queues before the
    // buffers could be freed.
    vf: Vf<MmioRegs>,
    rx: Vec<Option<Posted>>,
    tx: Vec<Option<Posted>>,
    rx_count: usize,
    tx_count: usize,
    broken: bool,
}

impl VfPort {
    pub fn new(vf: Vf<MmioRegs>) -> Self {
        let slots = usize::from(RING_LEN);
        Self {
            vf,
            rx: (0..slots).map(|_| None).collect(),
            tx: (0..slots).map(|_| None).collect(),
            rx_count: 0,
            tx_count: 0,
            broken: false,
        }
    }

    /// Records `posted` under `slot`; false (and the port broken) if the slot is out
    /// of range or taken, in which case the buffer stays leaked (the device may write).
    fn keep(table: &mut [Option<Posted>], slot: u16, posted: Posted, broken: &mut bool) -> bool {
        match table.get_mut(usize::from(slot)) {
            Some(s @ None) => {
                *s = Some(posted);
                true
            }
            // `posted` goes out of scope without being reclaimed: its buffer (a raw
            // pointer) leaks, which is what we want, as the device may still write it.
            _ => {
                let _ = posted;
                *broken = true;
                false
            }
        }
    }
}

impl NetPort for VfPort {
    fn mac(&self) -> [u8; 6] {
        self.vf.mac()
    }

    fn is_broken(&self) -> bool {
        self.broken
    }

    fn rx_has_room(&self) -> bool {
        !self.broken && self.rx_count < QUEUE_SIZE && self.vf.rx_has_room()
    }

    fn tx_has_room(&self) -> bool {
        !self.broken && self.tx_count < QUEUE_SIZE && self.vf.tx_has_room()
    }

    fn post_rx(&mut self, mut buf: PacketBuf) -> Result<(), Refused> {
        if !self.rx_has_room() {
            return Err((Some(buf), PortError::Full));
        }
        buf.reset();
        let mut posted = Posted::post(buf);
        let region = rx_region(&mut posted, RX_FRAME_AT, BUF_SIZE);
        let addr = phys_of(region.as_ptr(), region.len());
        let slot = addr.and_then(|a| self.vf.rx_post(a));
        match slot {
            Some(slot) => {
                if Self::keep(&mut self.rx, slot, posted, &mut self.broken) {
                    self.rx_count += 1;
                    Ok(())
                } else {
                    Err((None, PortError::Device))
                }
            }
            // SAFETY: not posted: the device never saw the buffer.
            None => Err((Some(unsafe { posted.reclaim() }), PortError::Full)),
        }
    }

    fn recv(&mut self) -> Option<Result<PacketBuf, Refused>> {
        if self.broken {
            return None;
        }
        let (slot, done) = self.vf.rx_poll()?;
        let Some(posted) = self.rx.get_mut(usize::from(slot)).and_then(Option::take) else {
            self.broken = true;
            return Some(Err((None, PortError::Device)));
        };
        self.rx_count -= 1;
        // SAFETY: the device wrote the descriptor back done: it no longer uses the buffer.
        let mut buf = unsafe { posted.reclaim() };
        Some(match done {
            RxDone::Frame(len) if buf.set_received(len) => Ok(buf),
            _ => Err((Some(buf), PortError::Device)),
        })
    }

    fn send(&mut self, buf: PacketBuf) -> Result<(), Refused> {
        if !self.tx_has_room() {
            return Err((Some(buf), PortError::Full));
        }
        if buf.frame().is_empty() {
            return Err((Some(buf), PortError::BadBuffer));
        }
        let posted = Posted::post(buf);
        let (start, len) = posted.frame_span();
        let frame = tx_region(&posted, start, start + len);
        let addr = phys_of(frame.as_ptr(), frame.len());
        match addr.and_then(|a| self.vf.tx_send(a, len)) {
            Some(slot) => {
                if Self::keep(&mut self.tx, slot, posted, &mut self.broken) {
                    self.tx_count += 1;
                    Ok(())
                } else {
                    Err((None, PortError::Device))
                }
            }
            // SAFETY: not queued: the device never saw the buffer.
            None => Err((Some(unsafe { posted.reclaim() }), PortError::BadBuffer)),
        }
    }

    fn reclaim_tx(&mut self) -> Option<Result<PacketBuf, PortError>> {
        if self.broken {
            return None;
        }
        let slot = self.vf.tx_reclaim()?;
        let Some(posted) = self.tx.get_mut(usize::from(slot)).and_then(Option::take) else {
            self.broken = true;
            return Some(Err(PortError::Device));
        };
        self.tx_count -= 1;
        // SAFETY: the device marked the descriptor done: it has read the frame.
        Some(Ok(unsafe { posted.reclaim() }))
    }
}
