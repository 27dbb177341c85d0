//! The igb virtual function driver (`igbvf`): reset through the PF, the MAC address
//! the PF assigns, one receive and one transmit queue of advanced descriptors, link
//! state, and one MSI-X vector for both queues.
//!
//! Buffers stay the caller's: it posts bus addresses and gets slots back (see
//! [`super::ring`]). No checksum or segmentation offload is used: the appliance
//! builds and checks its own headers.

use super::mailbox::{mac_from_words, Mailbox, MailboxError};
use super::regs::*;
use super::ring::{DmaRing, RxDone, RxRing, TxRing};
use super::{Regs, MAX_POLLS};

/// Why a VF could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VfError {
    /// The PF stayed in reset (it never set "reset done").
    PfResetting,
    Mailbox(MailboxError),
    /// The PF assigned no usable (unicast, non-zero) MAC address.
    BadMac,
    /// No memory for a ring, or memory the device cannot address.
    NoMemory,
    /// The receive buffers are shorter than a full-size Ethernet frame.
    SmallBuffers,
}

impl core::fmt::Display for VfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::PfResetting => f.write_str("the PF did not finish its reset"),
            Self::Mailbox(MailboxError::Timeout) => {
                f.write_str("the PF did not answer the mailbox")
            }
            Self::Mailbox(MailboxError::Refused(w)) => write!(f, "the PF refused ({w:#010x})"),
            Self::BadMac => f.write_str("the PF assigned no unicast MAC address"),
            Self::NoMemory => f.write_str("no DMA memory for the rings"),
            Self::SmallBuffers => f.write_str("receive buffers too small"),
        }
    }
}

/// Translates memory the kernel owns into a bus address the device can use.
pub type BusAddr<'a> = &'a dyn Fn(*const u8, usize) -> Option<u64>;

/// A VF with its rings set up and its queues enabled.
pub struct Vf<R: Regs> {
    regs: R,
    mac: [u8; 6],
    rx: RxRing,
    tx: TxRing,
}

impl<R: Regs> Vf<R> {
    /// Resets the VF, asks the PF for its MAC address, and enables one queue pair of
    /// `ring_len` descriptors whose receive buffers hold `rx_buf_len` bytes (the device
    /// writes at most the largest multiple of 1 KiB that fits). `wait` runs between
    /// polls of the device (a short delay; in the test rig also the PF's turn).
    pub fn new(
        mut regs: R,
        ring_len: u16,
        rx_buf_len: usize,
        bus: BusAddr<'_>,
        wait: &mut dyn FnMut(),
    ) -> Result<Self, VfError> {
        let kb = (rx_buf_len / 1024).min(127) as u32;
        if kb < 2 {
            return Err(VfError::SmallBuffers);
        }
        let mac = reset(&mut regs, wait)?;
        let rx_mem = DmaRing::new(ring_len).ok_or(VfError::NoMemory)?;
        let tx_mem = DmaRing::new(ring_len).ok_or(VfError::NoMemory)?;
        let rx_addr = bus(rx_mem.as_ptr(), rx_mem.bytes()).ok_or(VfError::NoMemory)?;
        let tx_addr = bus(tx_mem.as_ptr(), tx_mem.bytes()).ok_or(VfError::NoMemory)?;
        let ring_bytes = u32::from(ring_len) * super::ring::DESC_LEN as u32;

        regs.write(RXDCTL, 0);
        regs.write(RDBAL, rx_addr as u32);
        regs.write(RDBAH, (rx_addr >> 32) as u32);
        regs.write(RDLEN, ring_bytes);
        regs.write(RDH, 0);
        regs.write(RDT, 0);
        regs.write(
            SRRCTL,
            kb << SRRCTL_BSIZE_KB_SHIFT | SRRCTL_DESCTYPE_ADV_ONEBUF | SRRCTL_DROP_EN,
        );
        regs.write(RXDCTL, QUEUE_ENABLE);

        regs.write(TXDCTL, 0);
        regs.write(TDBAL, tx_addr as u32);
        regs.write(TDBAH, (tx_addr >> 32) as u32);
        regs.write(TDLEN, ring_bytes);
        regs.write(TDH, 0);
        regs.write(TDT, 0);
        // Completion is written back into each descriptor, not to a head address.
        regs.write(TDWBAL, 0);
        regs.write(TDWBAH, 0);
        regs.write(TXDCTL, QUEUE_ENABLE);

        Ok(Self {
            regs,
            mac,
            rx: RxRing::new(rx_mem, kb * 1024),
            tx: TxRing::new(tx_mem),
        })
    }

    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Whether the port's link is up (the PF's status, which the VF reads too).
    pub fn link_up(&mut self) -> bool {
        self.regs.read(VF_STATUS) & STATUS_LU != 0
    }

    /// Bytes the device may write into each receive buffer.
    pub fn rx_buf_len(&self) -> usize {
        self.rx.buf_len() as usize
    }

    pub fn rx_has_room(&self) -> bool {
        self.rx.has_room()
    }

    pub fn tx_has_room(&self) -> bool {
        self.tx.has_room()
    }

    /// Buffers the rings hold at most (receive, transmit).
    pub fn capacity(&self) -> (u16, u16) {
        (self.rx.capacity(), self.tx.capacity())
    }

    /// Posts a receive buffer of at least [`Self::rx_buf_len`] bytes at `addr`.
    pub fn rx_post(&mut self, addr: u64) -> Option<u16> {
        self.rx.post(&mut self.regs, addr)
    }

    pub fn rx_poll(&mut self) -> Option<(u16, RxDone)> {
        self.rx.poll()
    }

    /// Queues the frame of `len` bytes at `addr` for sending.
    pub fn tx_send(&mut self, addr: u64, len: usize) -> Option<u16> {
        self.tx.send(&mut self.regs, addr, len)
    }

    pub fn tx_reclaim(&mut self) -> Option<u16> {
        self.tx.reclaim()
    }

    /// Sends both queues' interrupts to MSI-X `vector`, cleared automatically when
    /// delivered; the mailbox interrupt stays off (the driver polls it).
    pub fn enable_interrupts(&mut self, vector: u8) {
        let entry = (u32::from(vector) & 0x7) | IVAR_VALID;
        self.regs.write(VF_IVAR0, entry | entry << 8);
        self.regs.write(VF_IVAR_MISC, 0);
        let bit = 1u32 << (vector & 0x7);
        self.regs.write(VF_EIAC, bit);
        self.regs.write(VF_EIMS, bit);
    }
}

impl<R: Regs> Drop for Vf<R> {
    fn drop(&mut self) {
        // Stop both queues before the rings (dropped after this) are freed.
        self.regs.write(VF_EIMC, 0x7);
        self.regs.write(RXDCTL, 0);
        self.regs.write(TXDCTL, 0);
    }
}

/// Resets the VF and learns its MAC address from the PF.
pub fn reset(regs: &mut dyn Regs, wait: &mut dyn FnMut()) -> Result<[u8; 6], VfError> {
    let mut mbx = Mailbox::new();
    regs.write(VF_CTRL, CTRL_RST);
    let mut settled = false;
    for _ in 0..MAX_POLLS {
        if !mbx.pf_resetting(regs) {
            settled = true;
            break;
        }
        wait();
    }
    if !settled {
        return Err(VfError::PfResetting);
    }
    let mut reply = [0u32; 3];
    mbx.request(regs, &[MSG_VF_RESET], &mut reply, wait)
        .map_err(VfError::Mailbox)?;
    let mac = mac_from_words(reply[1], reply[2]);
    if mac[0] & 1 != 0 || mac == [0; 6] {
        return Err(VfError::BadMac);
    }
    Ok(mac)
}
