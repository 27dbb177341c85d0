//! PCI configuration space: the legacy 0xCF8/0xCFC mechanism and a brute-force
//! enumeration of every bus, device and function.
//!
//! Enumeration is written against [`ConfigSpace`] so that host tests drive it with
//! a fake bus; [`PortConfigSpace`] is the real one.

use crate::port::{inl, outl};

/// A function's location on the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciAddress {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

/// Reads 32-bit registers of configuration space.
pub trait ConfigSpace {
    /// The dword at `offset` (a multiple of 4) of `addr`'s configuration header;
    /// all ones when no function answers there.
    fn read32(&mut self, addr: PciAddress, offset: u8) -> u32;
}

/// Configuration mechanism #1 through I/O ports 0xCF8 (address) and 0xCFC (data).
#[derive(Debug)]
pub struct PortConfigSpace(());

impl PortConfigSpace {
    /// # Safety
    /// The machine must implement configuration mechanism #1 at 0xCF8/0xCFC (or
    /// nothing there), and no one else may use those ports concurrently.
    pub const unsafe fn new() -> Self {
        Self(())
    }
}

impl ConfigSpace for PortConfigSpace {
    fn read32(&mut self, a: PciAddress, offset: u8) -> u32 {
        let address = 0x8000_0000
            | u32::from(a.bus) << 16
            | u32::from(a.device & 0x1f) << 11
            | u32::from(a.function & 0x7) << 8
            | u32::from(offset & 0xfc);
        // SAFETY: `new`'s contract gives us 0xCF8/0xCFC; an address write followed
        // by a data read has no effect beyond the read itself.
        unsafe {
            outl(0xcf8, address);
            inl(0xcfc)
        }
    }
}

/// What identifies a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciFunction {
    pub addr: PciAddress,
    pub vendor: u16,
    pub device: u16,
    pub class: u8,
    pub subclass: u8,
}

impl PciFunction {
    /// A short name of what the function is, from its ids and class.
    pub fn kind(&self) -> &'static str {
        describe(self.vendor, self.device, self.class, self.subclass)
    }
}

/// Names a function by vendor/device id (virtio) or by class code.
pub fn describe(vendor: u16, device: u16, class: u8, subclass: u8) -> &'static str {
    if vendor == 0x1af4 {
        // Transitional ids 0x1000.. and modern ids 0x1040 + virtio device id.
        return match device {
            0x1000 | 0x1041 => "virtio-net",
            0x1001 | 0x1042 => "virtio-blk",
            0x1005 | 0x1044 => "virtio-rng",
            0x1003 | 0x1043 => "virtio-console",
            _ => "virtio",
        };
    }
    match (class, subclass) {
        (0x01, 0x01) => "IDE controller",
        (0x01, 0x06) => "SATA controller",
        (0x01, 0x08) => "NVMe controller",
        (0x01, _) => "storage controller",
        (0x02, 0x00) => "ethernet controller",
        (0x02, _) => "network controller",
        (0x03, _) => "display controller",
        (0x06, 0x00) => "host bridge",
        (0x06, 0x01) => "ISA bridge",
        (0x06, 0x04) => "PCI bridge",
        (0x06, _) => "bridge",
        (0x0c, 0x03) => "USB controller",
        (0x0c, 0x05) => "SMBus controller",
        (0x0c, _) => "serial bus controller",
        _ => "device",
    }
}

/// Calls `found` for every function present on buses 0..=255, in bus/device/function
/// order. Functions 1..7 are probed only on multi-function devices.
pub fn enumerate(cs: &mut dyn ConfigSpace, found: &mut dyn FnMut(PciFunction)) {
    for bus in 0..=255u8 {
        for device in 0..32u8 {
            let f0 = PciAddress {
                bus,
                device,
                function: 0,
            };
            let Some(first) = probe(cs, f0) else { continue };
            found(first);
            let header_type = (cs.read32(f0, 0x0c) >> 16) as u8;
            if header_type & 0x80 == 0 {
                continue;
            }
            for function in 1..8u8 {
                if let Some(f) = probe(
                    cs,
                    PciAddress {
                        bus,
                        device,
                        function,
                    },
                ) {
                    found(f);
                }
            }
        }
    }
}

fn probe(cs: &mut dyn ConfigSpace, addr: PciAddress) -> Option<PciFunction> {
    let id = cs.read32(addr, 0x00);
    let vendor = id as u16;
    if vendor == 0xffff || vendor == 0x0000 {
        return None;
    }
    let class = cs.read32(addr, 0x08);
    Some(PciFunction {
        addr,
        vendor,
        device: (id >> 16) as u16,
        class: (class >> 24) as u8,
        subclass: (class >> 16) as u8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// A bus with a host bridge at 00:00.0, a multi-function ISA bridge at 00:1f
    /// (functions 0 and 3), and a virtio-net at 00:02.0 that also answers on function
    /// 4 (which must be ignored: device 2 is not multi-function).
    struct FakeBus {
        reads: usize,
    }

    impl ConfigSpace for FakeBus {
        fn read32(&mut self, a: PciAddress, offset: u8) -> u32 {
            self.reads += 1;
            let (id, class, header): (u32, u32, u32) = match (a.bus, a.device, a.function) {
                (0, 0, 0) => (0x29c0_8086, 0x0600_0000, 0x00),
                (0, 2, _) => (0x1000_1af4, 0x0200_0000, 0x00),
                (0, 0x1f, 0) => (0x2918_8086, 0x0601_0000, 0x80),
                (0, 0x1f, 3) => (0x2930_8086, 0x0c05_0000, 0x00),
                _ => return 0xffff_ffff,
            };
            match offset {
                0x00 => id,
                0x08 => class,
                0x0c => header << 16,
                _ => 0,
            }
        }
    }

    #[test]
    fn finds_functions_in_order() {
        let mut bus = FakeBus { reads: 0 };
        let mut found = Vec::new();
        enumerate(&mut bus, &mut |f| found.push(f));
        let names: Vec<_> = found
            .iter()
            .map(|f| (f.addr.device, f.addr.function, f.kind()))
            .collect();
        assert_eq!(
            names,
            [
                (0, 0, "host bridge"),
                (2, 0, "virtio-net"),
                (0x1f, 0, "ISA bridge"),
                (0x1f, 3, "SMBus controller")
            ]
        );
        assert_eq!(found[1].vendor, 0x1af4);
        assert_eq!(found[1].device, 0x1000);
        // One read per absent slot: every bus and device probed once at function 0,
        // plus the details of the four functions and the seven extra probes of 00:1f.
        assert!(bus.reads < 256 * 32 + 40, "{}", bus.reads);
    }

    #[test]
    fn names_virtio_and_classes() {
        assert_eq!(describe(0x1af4, 0x1041, 2, 0), "virtio-net");
        assert_eq!(describe(0x1af4, 0x1001, 1, 0), "virtio-blk");
        assert_eq!(describe(0x8086, 0x10d3, 2, 0), "ethernet controller");
        assert_eq!(describe(0x1234, 0x1111, 3, 0), "display controller");
        assert_eq!(describe(0x1234, 0x5678, 0xff, 0), "device");
    }
}
