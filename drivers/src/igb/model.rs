//! A model of an 82576 with one VF, for host tests: the registers the driver and the
//! rig use, the mailbox with its lock and read-clear bits, the pool switch for
//! received frames, and both descriptor rings, which it reads and writes in host
//! memory (bus address = pointer, as in the kernel's identity mapping). It follows the
//! datasheet's behaviour as QEMU 10 emulates it.

use super::regs::*;
use super::Regs;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::vec::Vec;

#[derive(Default)]
pub struct Model {
    pf: HashMap<u32, u32>,
    vf: HashMap<u32, u32>,
    v2p: u32,
    p2v: u32,
    mbvficr: u32,
    mem: [u32; MAILBOX_WORDS],
    /// Frames the VF sent, as they left the port.
    pub sent: Vec<Vec<u8>>,
    /// Frames delivered to the VF's ring / dropped for want of a descriptor.
    pub delivered: usize,
    pub no_descriptor: usize,
}

/// One function's view of the shared model.
#[derive(Clone)]
pub struct Handle {
    pub model: Rc<RefCell<Model>>,
    is_vf: bool,
}

impl Handle {
    /// Turns this handle into the VF's view.
    pub fn set_vf(&mut self) {
        self.is_vf = true;
    }
}

impl Model {
    /// Sets a PF register without the write's side effects (as the hardware would).
    pub fn set_pf(&mut self, off: u32, v: u32) {
        self.pf.insert(off, v);
    }
}

/// A fresh card after power-on: the PF is resetting (RSTI), the link is up.
pub fn card() -> (Handle, Handle) {
    let mut m = Model {
        v2p: V2P_RSTI,
        ..Model::default()
    };
    m.pf.insert(VF_STATUS, STATUS_LU);
    m.pf.insert(PF_VFRE, 0xff);
    m.pf.insert(PF_VFTE, 0xff);
    let model = Rc::new(RefCell::new(m));
    (
        Handle {
            model: model.clone(),
            is_vf: false,
        },
        Handle { model, is_vf: true },
    )
}

impl Model {
    fn pf_reg(&self, off: u32) -> u32 {
        self.pf.get(&off).copied().unwrap_or(0)
    }
    fn vf_reg(&self, off: u32) -> u32 {
        self.vf.get(&off).copied().unwrap_or(0)
    }

    fn vf_reset(&mut self) {
        for r in [RXDCTL, TXDCTL] {
            let v = self.vf_reg(r) & !QUEUE_ENABLE;
            self.vf.insert(r, v);
        }
        let re = self.pf_reg(PF_VFRE) & !1;
        self.pf.insert(PF_VFRE, re);
        let te = self.pf_reg(PF_VFTE) & !1;
        self.pf.insert(PF_VFTE, te);
        let lre = self.pf_reg(PF_VFLRE) | 1;
        self.pf.insert(PF_VFLRE, lre);
    }

    fn vf_mailbox_write(&mut self, v: u32) {
        if v & V2P_REQ != 0 {
            self.mbvficr |= 1;
        }
        if v & V2P_ACK != 0 {
            self.mbvficr |= 1 << 16;
        }
        if v & V2P_VFU != 0 {
            if self.v2p & V2P_PFU == 0 {
                self.v2p |= V2P_VFU;
                self.p2v |= P2V_VFU;
            }
        } else {
            self.v2p &= !V2P_VFU;
            self.p2v &= !P2V_VFU;
        }
    }

    fn pf_mailbox_write(&mut self, v: u32) {
        if v & P2V_STS != 0 {
            self.v2p |= V2P_PFSTS;
        }
        if v & P2V_ACK != 0 {
            self.v2p |= V2P_PFACK;
        }
        if v & P2V_PFU != 0 {
            if self.p2v & P2V_VFU == 0 {
                self.p2v |= P2V_PFU;
                self.v2p |= V2P_PFU;
            }
        } else {
            self.p2v &= !P2V_PFU;
            self.v2p &= !V2P_PFU;
        }
    }

    fn tx_enabled(&self) -> bool {
        self.pf_reg(PF_TCTL) & TCTL_EN != 0
            && self.pf_reg(PF_VFTE) & 1 != 0
            && self.vf_reg(TXDCTL) & QUEUE_ENABLE != 0
    }

    /// Sends what the transmit ring holds between head and tail.
    fn transmit(&mut self) {
        if !self.tx_enabled() {
            return;
        }
        let base = u64::from(self.vf_reg(TDBAL)) | u64::from(self.vf_reg(TDBAH)) << 32;
        let n = self.vf_reg(TDLEN) / 16;
        let mut head = self.vf_reg(TDH);
        let tail = self.vf_reg(TDT);
        let mut frame = Vec::new();
        while head != tail && n > 0 {
            let desc = (base + u64::from(head) * 16) as *mut u32;
            // SAFETY: the driver gave the ring's address (host memory it owns, alive
            // while the queue is enabled); descriptors are 16 bytes, 4-byte aligned.
            let (lo, hi, cmd) = unsafe {
                (
                    desc.read_volatile(),
                    desc.add(1).read_volatile(),
                    desc.add(2).read_volatile(),
                )
            };
            let addr = u64::from(lo) | u64::from(hi) << 32;
            let len = (cmd & 0xffff) as usize;
            // SAFETY: the driver vouches for `len` bytes at `addr` until the
            // descriptor is marked done.
            frame.extend_from_slice(unsafe { std::slice::from_raw_parts(addr as *const u8, len) });
            if cmd & (1 << 24) != 0 {
                self.sent.push(core::mem::take(&mut frame));
            }
            if cmd & (1 << 27) != 0 {
                // SAFETY: as above; the status word is the descriptor's last.
                unsafe {
                    let s = desc.add(3);
                    s.write_volatile(s.read_volatile() | 1);
                }
            }
            head = (head + 1) % n;
        }
        self.vf.insert(TDH, head);
    }

    /// Whether the switch gives a frame to `dst` to the VF's pool.
    fn for_vf(&self, dst: &[u8]) -> bool {
        if self.pf_reg(PF_VFRE) & 1 == 0 || self.pf_reg(PF_RCTL) & RCTL_EN == 0 {
            return false;
        }
        if dst.iter().all(|b| *b == 0xff) {
            return self.pf_reg(pf_vmolr(0)) & VMOLR_BAM != 0;
        }
        (0..16).any(|i| {
            let rah = self.pf_reg(pf_rah(i));
            let ral = self.pf_reg(pf_ral(i)).to_le_bytes();
            let hi = rah.to_le_bytes();
            rah & RAH_AV != 0
                && rah & (1 << RAH_POOL_SHIFT) != 0
                && dst == [ral[0], ral[1], ral[2], ral[3], hi[0], hi[1]]
        })
    }

    /// A frame arrives from the wire.
    pub fn receive(&mut self, frame: &[u8]) {
        if frame.len() < 14 || !self.for_vf(&frame[..6]) || self.vf_reg(RXDCTL) & QUEUE_ENABLE == 0
        {
            return;
        }
        let base = u64::from(self.vf_reg(RDBAL)) | u64::from(self.vf_reg(RDBAH)) << 32;
        let n = self.vf_reg(RDLEN) / 16;
        let bufsize = ((self.vf_reg(SRRCTL) & 0x7f) * 1024) as usize;
        let mut head = self.vf_reg(RDH);
        let tail = self.vf_reg(RDT);
        let free = if head <= tail {
            tail - head
        } else {
            n + tail - head
        };
        if n == 0 || bufsize == 0 || (free as usize) * bufsize < frame.len() {
            self.no_descriptor += 1;
            return;
        }
        for (i, chunk) in frame.chunks(bufsize).enumerate() {
            let last = (i + 1) * bufsize >= frame.len();
            let desc = (base + u64::from(head) * 16) as *mut u32;
            // SAFETY: ring and buffers are host memory the driver posted and keeps
            // alive while posted; the buffer holds `bufsize` bytes.
            unsafe {
                let addr =
                    u64::from(desc.read_volatile()) | u64::from(desc.add(1).read_volatile()) << 32;
                core::ptr::copy_nonoverlapping(chunk.as_ptr(), addr as *mut u8, chunk.len());
                desc.write_volatile(0);
                desc.add(1).write_volatile(0);
                desc.add(3).write_volatile(chunk.len() as u32);
                desc.add(2).write_volatile(1 | if last { 2 } else { 0 });
            }
            head = (head + 1) % n;
        }
        self.vf.insert(RDH, head);
        self.delivered += 1;
    }
}

impl Regs for Handle {
    fn read(&mut self, off: u32) -> u32 {
        let mut m = self.model.borrow_mut();
        if self.is_vf {
            match off {
                VF_STATUS => m.pf_reg(VF_STATUS),
                VF_MAILBOX => {
                    let v = m.v2p;
                    m.v2p &= !V2P_READ_CLEARS;
                    v
                }
                o if (VF_MAILBOX_MEM..VF_MAILBOX_MEM + 64).contains(&o) => {
                    m.mem[((o - VF_MAILBOX_MEM) / 4) as usize]
                }
                o => m.vf_reg(o),
            }
        } else {
            match off {
                o if o == pf_mailbox(0) => m.p2v,
                PF_MBVFICR => m.mbvficr,
                o if (pf_mailbox_mem(0)..pf_mailbox_mem(0) + 64).contains(&o) => {
                    m.mem[((o - pf_mailbox_mem(0)) / 4) as usize]
                }
                o => m.pf_reg(o),
            }
        }
    }

    fn write(&mut self, off: u32, v: u32) {
        let mut m = self.model.borrow_mut();
        if self.is_vf {
            match off {
                VF_CTRL if v & CTRL_RST != 0 => m.vf_reset(),
                VF_STATUS => {}
                VF_MAILBOX => m.vf_mailbox_write(v),
                o if (VF_MAILBOX_MEM..VF_MAILBOX_MEM + 64).contains(&o) => {
                    m.mem[((o - VF_MAILBOX_MEM) / 4) as usize] = v
                }
                TDT => {
                    m.vf.insert(TDT, v);
                    m.transmit();
                }
                o => {
                    m.vf.insert(o, v);
                }
            }
        } else {
            match off {
                o if o == pf_mailbox(0) => m.pf_mailbox_write(v),
                PF_MBVFICR => m.mbvficr &= !v,
                PF_VFLRE => {
                    let l = m.pf_reg(PF_VFLRE) & !v;
                    m.pf.insert(PF_VFLRE, l);
                }
                PF_CTRL_EXT => {
                    if v & CTRL_EXT_PFRSTD != 0 {
                        m.v2p = (m.v2p & !V2P_RSTI) | V2P_RSTD;
                    }
                    m.pf.insert(off, v);
                }
                o if (pf_mailbox_mem(0)..pf_mailbox_mem(0) + 64).contains(&o) => {
                    m.mem[((o - pf_mailbox_mem(0)) / 4) as usize] = v
                }
                o => {
                    m.pf.insert(o, v);
                }
            }
        }
    }
}
