//! The VF's side of the mailbox to its PF (82576 datasheet 7.10.2.9): one 16-word
//! buffer, a lock bit for each side, and notifications the other side reads.
//!
//! Sending: take the buffer (VFU), write the words, raise REQ (which also drops the
//! lock); the PF answers PFACK once it has read them. Receiving: PFSTS says the PF
//! wrote a message; take the buffer, read it, answer ACK (dropping the lock).
//!
//! PFSTS, PFACK and RSTD clear when the control register is read, so every read is
//! folded into [`Mailbox::seen`] and a bit is consumed only by the check that waits
//! for it: a reply that arrives while we wait for the acknowledgement is not lost.

use super::regs::*;
use super::{Regs, MAX_POLLS};

/// Why a mailbox exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxError {
    /// The PF did not answer (or kept the lock) within [`MAX_POLLS`] waits.
    Timeout,
    /// The PF said no, or answered something else.
    Refused(u32),
}

#[derive(Debug, Default)]
pub struct Mailbox {
    seen: u32,
}

impl Mailbox {
    pub fn new() -> Self {
        Self::default()
    }

    fn status(&mut self, regs: &mut dyn Regs) -> u32 {
        let v = regs.read(VF_MAILBOX);
        self.seen |= v & V2P_READ_CLEARS;
        v
    }

    /// Waits until `bit` (a read-clear bit) has been seen, and consumes it.
    fn wait_for(
        &mut self,
        regs: &mut dyn Regs,
        bit: u32,
        wait: &mut dyn FnMut(),
    ) -> Result<(), MailboxError> {
        for _ in 0..MAX_POLLS {
            self.status(regs);
            if self.seen & bit != 0 {
                self.seen &= !bit;
                return Ok(());
            }
            wait();
        }
        Err(MailboxError::Timeout)
    }

    /// Whether the PF is still resetting (RSTI); reading also clears RSTD.
    pub fn pf_resetting(&mut self, regs: &mut dyn Regs) -> bool {
        self.status(regs) & V2P_RSTI != 0
    }

    fn lock(&mut self, regs: &mut dyn Regs, wait: &mut dyn FnMut()) -> Result<(), MailboxError> {
        for _ in 0..MAX_POLLS {
            regs.write(VF_MAILBOX, V2P_VFU);
            if self.status(regs) & V2P_VFU != 0 {
                return Ok(());
            }
            wait();
        }
        Err(MailboxError::Timeout)
    }

    /// Sends `msg` (at most 16 words) and waits for the PF to acknowledge it.
    pub fn send(
        &mut self,
        regs: &mut dyn Regs,
        msg: &[u32],
        wait: &mut dyn FnMut(),
    ) -> Result<(), MailboxError> {
        self.lock(regs, wait)?;
        // A stale acknowledgement must not stand for this message's.
        self.seen &= !V2P_PFACK;
        for (i, w) in msg.iter().take(MAILBOX_WORDS).enumerate() {
            regs.write(VF_MAILBOX_MEM + 4 * i as u32, *w);
        }
        // REQ without VFU: notify the PF and release the buffer.
        regs.write(VF_MAILBOX, V2P_REQ);
        self.wait_for(regs, V2P_PFACK, wait)
    }

    /// Waits for the PF's message and reads `out.len()` words of it.
    pub fn receive(
        &mut self,
        regs: &mut dyn Regs,
        out: &mut [u32],
        wait: &mut dyn FnMut(),
    ) -> Result<(), MailboxError> {
        self.wait_for(regs, V2P_PFSTS, wait)?;
        self.lock(regs, wait)?;
        for (i, w) in out.iter_mut().take(MAILBOX_WORDS).enumerate() {
            *w = regs.read(VF_MAILBOX_MEM + 4 * i as u32);
        }
        // ACK without VFU: tell the PF we read it and release the buffer.
        regs.write(VF_MAILBOX, V2P_ACK);
        Ok(())
    }

    /// Sends a request and returns the PF's answer, which must acknowledge it
    /// (same message type, ACK set).
    pub fn request(
        &mut self,
        regs: &mut dyn Regs,
        msg: &[u32],
        reply: &mut [u32],
        wait: &mut dyn FnMut(),
    ) -> Result<(), MailboxError> {
        self.send(regs, msg, wait)?;
        self.receive(regs, reply, wait)?;
        let (Some(&sent), Some(&got)) = (msg.first(), reply.first()) else {
            return Ok(());
        };
        let acked = got & MSG_ACK != 0 && got & MSG_NACK == 0;
        if acked && (got & 0xffff) == (sent & 0xffff) {
            Ok(())
        } else {
            Err(MailboxError::Refused(got))
        }
    }
}

/// The MAC address in words 1 and 2 of a reset reply (bytes in memory order).
pub fn mac_from_words(w1: u32, w2: u32) -> [u8; 6] {
    let a = w1.to_le_bytes();
    let b = w2.to_le_bytes();
    [a[0], a[1], a[2], a[3], b[0], b[1]]
}

/// Words 1 and 2 of a message carrying `mac`.
pub fn mac_to_words(mac: [u8; 6]) -> (u32, u32) {
    (
        u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
        u32::from_le_bytes([mac[4], mac[5], 0, 0]),
    )
}
