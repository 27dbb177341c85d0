//! The PF's part of SR-IOV, as much as a VF needs to pass traffic under QEMU: the
//! switch in VMDq mode (one pool per VF, frames to a pool by destination MAC),
//! receive and transmit on, and the mailbox answers (reset with the MAC the PF
//! assigns, MAC, multicast and frame-size requests). For the test rig only: in a cloud
//! the hypervisor owns the PF.
//!
//! Messages come from the VF, which in a real deployment is another tenant's driver:
//! every request is answered or refused, none can make this code panic, and a VF can
//! only change its own pool's filter.

use super::mailbox::{mac_from_words, mac_to_words};
use super::regs::*;
use super::Regs;

/// Pools (VFs) the 82576 has.
pub const MAX_VFS: usize = 8;

/// The PF of an igb card, set up to host VFs.
pub struct Pf<R: Regs> {
    regs: R,
    macs: [Option<[u8; 6]>; MAX_VFS],
    max_frame: u32,
    /// Requests answered and refused, for tests and logs.
    pub answered: u32,
    pub refused: u32,
}

impl<R: Regs> Pf<R> {
    /// Sets up the switch and the VF-facing registers for `num_vfs` VFs whose pools
    /// take frames of up to `max_frame` bytes (Ethernet header included, no CRC),
    /// then tells the VFs that the PF is ready.
    pub fn new(mut regs: R, num_vfs: usize, max_frame: u32) -> Self {
        let limit = (max_frame + 4) & VMOLR_RLPML_MASK;
        let gpie = regs.read(PF_GPIE) | GPIE_MSIX_MODE;
        regs.write(PF_GPIE, gpie);
        regs.write(PF_MRQC, MRQC_VMDQ);
        regs.write(PF_VT_CTL, VT_CTL_DISABLE_DEF_POOL);
        regs.write(PF_RLPML, limit);
        // VFs receive and send only once they have reset and learnt their MAC.
        regs.write(PF_VFRE, 0);
        regs.write(PF_VFTE, 0);
        for pool in 0..num_vfs.min(MAX_VFS) as u32 {
            regs.write(
                pf_vmolr(pool),
                VMOLR_BAM | VMOLR_ROMPE | VMOLR_AUPE | VMOLR_LPE | VMOLR_STRCRC | limit,
            );
        }
        regs.write(PF_RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC | RCTL_LPE);
        regs.write(PF_TCTL, TCTL_EN | TCTL_PSP);
        regs.write(PF_VFLRE, 0xff);
        let ext = regs.read(PF_CTRL_EXT) | CTRL_EXT_PFRSTD;
        regs.write(PF_CTRL_EXT, ext);
        Self {
            regs,
            macs: [None; MAX_VFS],
            max_frame,
            answered: 0,
            refused: 0,
        }
    }

    /// Restarts the PHY's autonegotiation: the link comes up when it completes (QEMU:
    /// half a second later). Needed when nothing else brought the link up since the
    /// card's last reset.
    pub fn restart_link(&mut self) {
        self.regs.write(
            PF_MDIC,
            BMCR_RESTART_AUTONEG | PHY_BMCR << 16 | MDIC_PHY_1 | MDIC_OP_WRITE,
        );
    }

    /// The MAC address VF `vf` gets when it resets.
    pub fn assign_mac(&mut self, vf: usize, mac: [u8; 6]) {
        if let Some(slot) = self.macs.get_mut(vf) {
            *slot = Some(mac);
        }
    }

    /// Whether the link is up.
    pub fn link_up(&mut self) -> bool {
        self.regs.read(VF_STATUS) & STATUS_LU != 0
    }

    /// Answers every VF request waiting in the mailboxes; returns how many.
    pub fn serve(&mut self) -> usize {
        let cause = self.regs.read(PF_MBVFICR);
        // Acknowledgements of our replies need nothing but clearing.
        if cause & 0x00ff_0000 != 0 {
            self.regs.write(PF_MBVFICR, cause & 0x00ff_0000);
        }
        let mut served = 0;
        for vf in 0..MAX_VFS as u32 {
            if cause & (1 << vf) != 0 {
                self.serve_one(vf);
                served += 1;
            }
        }
        served
    }

    fn lock(&mut self, vf: u32) -> bool {
        self.regs.write(pf_mailbox(vf), P2V_PFU);
        self.regs.read(pf_mailbox(vf)) & P2V_PFU != 0
    }

    fn serve_one(&mut self, vf: u32) {
        if !self.lock(vf) {
            // The VF holds the buffer; its request stays pending for the next call.
            return;
        }
        let mut msg = [0u32; MAILBOX_WORDS];
        for (i, w) in msg.iter_mut().enumerate() {
            *w = self.regs.read(pf_mailbox_mem(vf) + 4 * i as u32);
        }
        self.regs.write(PF_MBVFICR, 1 << vf);
        // ACK without PFU: the VF may reuse the buffer.
        self.regs.write(pf_mailbox(vf), P2V_ACK);
        let (reply, len) = self.answer(vf as usize, &msg);
        if reply[0] & MSG_NACK != 0 {
            self.refused += 1;
        } else {
            self.answered += 1;
        }
        if !self.lock(vf) {
            return;
        }
        for (i, w) in reply.iter().take(len).enumerate() {
            self.regs.write(pf_mailbox_mem(vf) + 4 * i as u32, *w);
        }
        // STS without PFU: the message is there, the buffer is the VF's again.
        self.regs.write(pf_mailbox(vf), P2V_STS);
    }

    /// The reply to `msg` from VF `vf` (words and how many), after acting on it.
    fn answer(&mut self, vf: usize, msg: &[u32; MAILBOX_WORDS]) -> ([u32; 3], usize) {
        let kind = msg[0] & 0xffff;
        let ack = kind | MSG_ACK | MSG_CTS;
        let nack = ([kind | MSG_NACK | MSG_CTS, 0, 0], 1);
        match kind {
            MSG_VF_RESET => {
                let Some(mac) = self.macs[vf] else {
                    return nack;
                };
                self.set_filter(vf, mac);
                let bit = 1 << vf;
                let re = self.regs.read(PF_VFRE);
                self.regs.write(PF_VFRE, re | bit);
                let te = self.regs.read(PF_VFTE);
                self.regs.write(PF_VFTE, te | bit);
                let (w1, w2) = mac_to_words(mac);
                ([ack, w1, w2], 3)
            }
            MSG_SET_MAC_ADDR => {
                let mac = mac_from_words(msg[1], msg[2]);
                if mac[0] & 1 != 0 || mac == [0; 6] {
                    return nack;
                }
                self.macs[vf] = Some(mac);
                self.set_filter(vf, mac);
                ([ack, 0, 0], 1)
            }
            // Multicast frames reach every pool whose hash matches; nothing to filter
            // per VF here (the appliance drops multicast it does not want).
            MSG_SET_MULTICAST => ([ack, 0, 0], 1),
            MSG_SET_LPE => {
                let frame = msg[1].min(self.max_frame + 4) & VMOLR_RLPML_MASK;
                let vmolr = self.regs.read(pf_vmolr(vf as u32));
                self.regs
                    .write(pf_vmolr(vf as u32), (vmolr & !VMOLR_RLPML_MASK) | frame);
                ([ack, 0, 0], 1)
            }
            _ => nack,
        }
    }

    /// Receive address filter `vf + 1` (0 is the PF's own): `mac`, VF `vf`'s pool.
    fn set_filter(&mut self, vf: usize, mac: [u8; 6]) {
        let (lo, hi) = mac_to_words(mac);
        let i = vf as u32 + 1;
        self.regs.write(pf_rah(i), 0);
        self.regs.write(pf_ral(i), lo);
        self.regs
            .write(pf_rah(i), hi | RAH_AV | 1 << (RAH_POOL_SHIFT + vf as u32));
    }
}
