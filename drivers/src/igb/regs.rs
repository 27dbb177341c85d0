//! Register offsets and bits of the Intel 82576 (igb) and its virtual function, from
//! the 82576 datasheet's register chapter (8) and virtualisation chapter (7.10).
//!
//! A VF sees a small window (BAR0, 16 KiB): its own copies of the interrupt registers,
//! one mailbox to the PF, and the registers of its first queue pair at the addresses a
//! PF uses for queue 0. The PF sees everything, including the switch that assigns
//! received frames to pools (one pool per VF).

// --- Registers a VF sees (offsets in its BAR0) ---
/// Device control; writing [`CTRL_RST`] resets the VF (queues off, the PF is told).
pub const VF_CTRL: u32 = 0x0000;
/// Device status, shared with the PF: link up in [`STATUS_LU`].
pub const VF_STATUS: u32 = 0x0008;
/// Extended interrupt cause set / mask set / mask clear / auto clear / cause.
pub const VF_EICS: u32 = 0x1520;
pub const VF_EIMS: u32 = 0x1524;
pub const VF_EIMC: u32 = 0x1528;
pub const VF_EIAC: u32 = 0x152c;
pub const VF_EICR: u32 = 0x1580;
/// Which MSI-X vector each queue's interrupt uses (rx queue 0: bits 0..7, tx queue 0:
/// bits 8..15; each entry a vector number and [`IVAR_VALID`]).
pub const VF_IVAR0: u32 = 0x1700;
/// The mailbox interrupt's vector.
pub const VF_IVAR_MISC: u32 = 0x1740;
/// The VF's side of its mailbox control register.
pub const VF_MAILBOX: u32 = 0x0c40;
/// The 16 words of the mailbox buffer, as the VF sees them.
pub const VF_MAILBOX_MEM: u32 = 0x0800;

// Queue 0 (a VF's only queue pair here).
pub const RDBAL: u32 = 0x2800;
pub const RDBAH: u32 = 0x2804;
pub const RDLEN: u32 = 0x2808;
pub const SRRCTL: u32 = 0x280c;
pub const RDH: u32 = 0x2810;
pub const RDT: u32 = 0x2818;
pub const RXDCTL: u32 = 0x2828;
pub const TDBAL: u32 = 0x3800;
pub const TDBAH: u32 = 0x3804;
pub const TDLEN: u32 = 0x3808;
pub const TDH: u32 = 0x3810;
pub const TDT: u32 = 0x3818;
pub const TXDCTL: u32 = 0x3828;
pub const TDWBAL: u32 = 0x3838;
pub const TDWBAH: u32 = 0x383c;

pub const CTRL_RST: u32 = 1 << 26;
pub const STATUS_LU: u32 = 1 << 1;
/// RXDCTL/TXDCTL: the queue is enabled.
pub const QUEUE_ENABLE: u32 = 1 << 25;
/// SRRCTL: receive buffer size in KiB (bits 0..6), advanced one-buffer descriptors,
/// drop frames when no descriptor is free (rather than stall the other pools).
pub const SRRCTL_BSIZE_KB_SHIFT: u32 = 0;
pub const SRRCTL_DESCTYPE_ADV_ONEBUF: u32 = 1 << 25;
pub const SRRCTL_DROP_EN: u32 = 1 << 31;
pub const IVAR_VALID: u32 = 0x80;

// --- Mailbox control bits, VF side ---
/// VF: a message for the PF is in the buffer (write).
pub const V2P_REQ: u32 = 1 << 0;
/// VF: the PF's message was read (write).
pub const V2P_ACK: u32 = 1 << 1;
/// VF holds the buffer lock.
pub const V2P_VFU: u32 = 1 << 2;
/// PF holds the buffer lock.
pub const V2P_PFU: u32 = 1 << 3;
/// PF wrote a message (cleared when read).
pub const V2P_PFSTS: u32 = 1 << 4;
/// PF read our message (cleared when read).
pub const V2P_PFACK: u32 = 1 << 5;
/// PF is resetting: the VF must wait before it talks.
pub const V2P_RSTI: u32 = 1 << 6;
/// PF finished its reset (cleared when read).
pub const V2P_RSTD: u32 = 1 << 7;
/// The bits a read clears.
pub const V2P_READ_CLEARS: u32 = V2P_PFSTS | V2P_PFACK | V2P_RSTD;

// --- Registers only the PF sees ---
pub const PF_CTRL_EXT: u32 = 0x0018;
/// CTRL_EXT: the PF finished its reset; VFs may talk to it.
pub const CTRL_EXT_PFRSTD: u32 = 1 << 14;
/// MDI control: PHY register access (data 0..15, register 16..20, PHY 21..25, op 26..27).
pub const PF_MDIC: u32 = 0x0020;
pub const MDIC_PHY_1: u32 = 1 << 21;
pub const MDIC_OP_WRITE: u32 = 1 << 26;
/// PHY control (MII register 0): 1000 Mb/s full duplex, autonegotiation on, restart it.
pub const PHY_BMCR: u32 = 0;
pub const BMCR_RESTART_AUTONEG: u32 = 0x1340 | 0x0200;
pub const PF_RCTL: u32 = 0x0100;
pub const RCTL_EN: u32 = 1 << 1;
pub const RCTL_LPE: u32 = 1 << 5;
pub const RCTL_BAM: u32 = 1 << 15;
/// Strip the Ethernet CRC (otherwise four bytes follow every frame).
pub const RCTL_SECRC: u32 = 1 << 26;
pub const PF_TCTL: u32 = 0x0400;
pub const TCTL_EN: u32 = 1 << 1;
pub const TCTL_PSP: u32 = 1 << 3;
pub const PF_GPIE: u32 = 0x1514;
/// GPIE: interrupts through the extended causes and MSI-X (needed for VF MSI-X).
pub const GPIE_MSIX_MODE: u32 = 1 << 4;
pub const PF_RLPML: u32 = 0x5004;
/// Multiple receive queues: VMDq pools (one per VF), no RSS.
pub const PF_MRQC: u32 = 0x5818;
pub const MRQC_VMDQ: u32 = 0x3;
pub const PF_VT_CTL: u32 = 0x581c;
/// VT_CTL: frames matching no pool's filter are dropped, not given to a default pool.
pub const VT_CTL_DISABLE_DEF_POOL: u32 = 1 << 29;
/// PF's control of VF `n`'s mailbox.
pub const fn pf_mailbox(vf: u32) -> u32 {
    0x0c00 + 4 * vf
}
/// VF `n`'s mailbox buffer, as the PF sees it.
pub const fn pf_mailbox_mem(vf: u32) -> u32 {
    0x0800 + 0x40 * vf
}
pub const P2V_STS: u32 = 1 << 0;
pub const P2V_ACK: u32 = 1 << 1;
pub const P2V_VFU: u32 = 1 << 2;
pub const P2V_PFU: u32 = 1 << 3;
/// Which VFs requested (bits 0..7) or acknowledged (bits 16..23); write 1 to clear.
pub const PF_MBVFICR: u32 = 0x0c80;
/// Which VFs reset themselves (write 1 to clear).
pub const PF_VFLRE: u32 = 0x0c88;
/// Per-VF receive and transmit enables (bit n: VF n).
pub const PF_VFRE: u32 = 0x0c8c;
pub const PF_VFTE: u32 = 0x0c90;
/// Receive address filter `i` (0..15): low four bytes, then two bytes, valid, pools.
pub const fn pf_ral(i: u32) -> u32 {
    0x5400 + 8 * i
}
pub const fn pf_rah(i: u32) -> u32 {
    0x5404 + 8 * i
}
pub const RAH_AV: u32 = 1 << 31;
pub const RAH_POOL_SHIFT: u32 = 18;
/// Per-pool offload and filter settings.
pub const fn pf_vmolr(pool: u32) -> u32 {
    0x5ad0 + 4 * pool
}
pub const VMOLR_RLPML_MASK: u32 = 0x3fff;
pub const VMOLR_LPE: u32 = 1 << 16;
pub const VMOLR_AUPE: u32 = 1 << 24;
pub const VMOLR_ROMPE: u32 = 1 << 25;
pub const VMOLR_BAM: u32 = 1 << 27;
pub const VMOLR_STRCRC: u32 = 1 << 31;

// --- Mailbox messages (first word: type in bits 0..15, flags above) ---
pub const MSG_VF_RESET: u32 = 0x01;
pub const MSG_SET_MAC_ADDR: u32 = 0x02;
pub const MSG_SET_MULTICAST: u32 = 0x03;
pub const MSG_SET_LPE: u32 = 0x05;
pub const MSG_ACK: u32 = 0x8000_0000;
pub const MSG_NACK: u32 = 0x4000_0000;
/// "Clear to send": the PF accepts requests from this VF.
pub const MSG_CTS: u32 = 0x2000_0000;
/// Words of the mailbox buffer.
pub const MAILBOX_WORDS: usize = 16;
