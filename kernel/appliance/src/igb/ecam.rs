//! PCI Express enhanced configuration access (ECAM): the whole 4 KiB configuration
//! space of every function, memory-mapped. The SR-IOV capability lies beyond the 256
//! bytes that ports 0xCF8/0xCFC reach, so the test rig needs this. On q35 the
//! firmware places the window where the host bridge's PCIEXBAR register says.

use crate::arch::IDENTITY_MAPPED;
use vnetcrypt_drivers::pci::{ConfigSpace, PciAddress, PortConfigSpace};

/// q35's MCH: PCIEXBAR at offset 0x60 of 00:00.0 (bit 0 enable, bits 1..2 size).
const PCIEXBAR: u8 = 0x60;

#[derive(Debug, Clone, Copy)]
pub struct Ecam {
    base: u64,
    buses: u16,
}

impl Ecam {
    /// The window the q35 host bridge decodes, if enabled and identity-mapped.
    pub fn q35() -> Option<Self> {
        // SAFETY: reading ports 0xCF8/0xCFC only reads configuration space; discovery
        // is over and nothing else uses them now (single boot thread).
        let mut cs = unsafe { PortConfigSpace::new() };
        let host = PciAddress {
            bus: 0,
            device: 0,
            function: 0,
        };
        if cs.read32(host, 0) != 0x29c0_8086 {
            return None;
        }
        let lo = cs.read32(host, PCIEXBAR);
        let hi = cs.read32(host, PCIEXBAR + 4);
        if lo & 1 == 0 || hi != 0 {
            return None;
        }
        let buses: u16 = match (lo >> 1) & 3 {
            0 => 256,
            1 => 128,
            2 => 64,
            _ => return None,
        };
        let base = u64::from(lo & 0xf000_0000);
        let end = base + u64::from(buses) * (1 << 20);
        (end <= IDENTITY_MAPPED).then_some(Self { base, buses })
    }

    fn at(&self, f: PciAddress, offset: u16) -> Option<*mut u32> {
        (u16::from(f.bus) < self.buses && offset < 4096 && offset.is_multiple_of(4)).then(|| {
            (self.base
                | u64::from(f.bus) << 20
                | u64::from(f.device & 0x1f) << 15
                | u64::from(f.function & 7) << 12
                | u64::from(offset)) as *mut u32
        })
    }

    pub fn read(&self, f: PciAddress, offset: u16) -> u32 {
        match self.at(f, offset) {
            // SAFETY: inside the ECAM window the host bridge decodes (checked against
            // its size and the identity mapping); configuration reads have no effect
            // beyond the read.
            Some(p) => unsafe { p.read_volatile() },
            None => 0xffff_ffff,
        }
    }

    /// Writes a configuration register. Callers write only what the rig owns: the
    /// command register, the SR-IOV capability, BARs and MSI-X control of the igb.
    pub fn write(&self, f: PciAddress, offset: u16, v: u32) {
        if let Some(p) = self.at(f, offset) {
            // SAFETY: as for `read`; see the caller contract above.
            unsafe { p.write_volatile(v) }
        }
    }

    /// The offset of standard capability `id`, if the function has one.
    pub fn capability(&self, f: PciAddress, id: u8) -> Option<u16> {
        if self.read(f, 0x04) & (1 << 20) == 0 {
            return None;
        }
        let mut at = (self.read(f, 0x34) & 0xfc) as u16;
        for _ in 0..48 {
            if at < 0x40 {
                return None;
            }
            let head = self.read(f, at);
            if head as u8 == id {
                return Some(at);
            }
            at = ((head >> 8) & 0xfc) as u16;
        }
        None
    }

    /// The offset of extended capability `id` (0x100 and up), if present.
    pub fn extended_capability(&self, f: PciAddress, id: u16) -> Option<u16> {
        let mut at = 0x100u16;
        for _ in 0..64 {
            let head = self.read(f, at);
            if head == 0 || head == 0xffff_ffff {
                return None;
            }
            if head as u16 == id {
                return Some(at);
            }
            at = (head >> 20) as u16 & 0xffc;
            if at < 0x100 {
                return None;
            }
        }
        None
    }
}
