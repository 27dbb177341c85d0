//! Device discovery: PCI enumeration where a host bridge answers (q35, pc), and the
//! virtio-mmio windows the command line names (microvm, Firecracker). The one pass
//! over the buses: `status` lists what it found, and the virtio transports are built
//! from its [`VirtioSlot`]s (`virtio::transports`), not from a second scan.

use crate::arch::IDENTITY_MAPPED;
use alloc::vec::Vec;
use vnetcrypt_bootinfo::Cmdline;
use vnetcrypt_console::{Device, DeviceAddr};
use vnetcrypt_drivers::pci::{self, ConfigSpace, PciAddress, PciFunction, PortConfigSpace};
use vnetcrypt_drivers::virtio_mmio;

/// What was found, and what the machine looks like from it.
pub struct Discovery {
    pub devices: Vec<Device>,
    pub machine: &'static str,
    /// The virtio devices among `devices`, in the same order, with what their
    /// transports are built from.
    pub virtio: Vec<VirtioSlot>,
    /// Every PCI function, for drivers that are not virtio (igb VFs).
    pub functions: Vec<PciFunction>,
}

/// Where a virtio device sits.
#[derive(Clone, Copy, Debug)]
pub enum VirtioSlot {
    /// A PCI function with the virtio vendor id.
    Pci(PciFunction),
    /// A populated virtio-mmio window inside the identity mapping.
    Mmio { base: u64, size: u64, irq: u32 },
}

/// PCI vendor id of virtio devices (virtio 1.x, 4.1.2).
const VIRTIO_VENDOR: u16 = 0x1af4;
/// A virtio-mmio register window holds at least the header.
const MIN_MMIO_WINDOW: u64 = 0x100;

pub fn discover(cmdline: &Cmdline<'_>) -> Discovery {
    let mut devices = Vec::new();
    let mut virtio = Vec::new();
    let mut functions = Vec::new();
    // SAFETY: 0xCF8/0xCFC are PCI configuration mechanism #1 on PC chipsets and
    // unclaimed on microvm (reads give all ones); only this function uses them.
    let mut cs = unsafe { PortConfigSpace::new() };
    let host_bridge = cs.read32(
        PciAddress {
            bus: 0,
            device: 0,
            function: 0,
        },
        0,
    );
    let machine = match host_bridge {
        0x29c0_8086 => "q35 (PCI)",
        0x1237_8086 => "pc/i440fx (PCI)",
        0xffff_ffff | 0 => "microvm (no PCI)",
        _ => "PCI machine",
    };
    if host_bridge != 0xffff_ffff && host_bridge != 0 {
        pci::enumerate(&mut cs, &mut |f| {
            defmt::info!(
                "pci {=u8:02x}:{=u8:02x}.{=u8} {=u16:04x}:{=u16:04x} {=str}",
                f.addr.bus,
                f.addr.device,
                f.addr.function,
                f.vendor,
                f.device,
                f.kind()
            );
            devices.push(Device {
                addr: DeviceAddr::Pci {
                    bus: f.addr.bus,
                    dev: f.addr.device,
                    func: f.addr.function,
                },
                vendor: f.vendor,
                device: f.device,
                kind: f.kind(),
            });
            functions.push(f);
            if f.vendor == VIRTIO_VENDOR {
                virtio.push(VirtioSlot::Pci(f));
            }
        });
    }
    for entry in cmdline.virtio_mmio_devices() {
        let d = match entry {
            Ok(d) => d,
            Err(e) => {
                defmt::warn!(
                    "ignored a virtio_mmio.device entry: {}",
                    defmt::Display2Format(&e)
                );
                continue;
            }
        };
        if d.size < MIN_MMIO_WINDOW
            || d.base
                .checked_add(d.size)
                .is_none_or(|end| end > IDENTITY_MAPPED)
        {
            defmt::warn!(
                "virtio-mmio window {=u64:#x} outside the mapped range",
                d.base
            );
            continue;
        }
        // SAFETY: the window lies in the identity mapping (checked) and the command
        // line, written by the VMM, names it as a virtio-mmio device.
        if let Some(id) = unsafe { virtio_mmio::probe(d.base) } {
            defmt::info!(
                "virtio-mmio {=u64:#x} irq {=u32}: {=str} (transport v{=u32})",
                d.base,
                d.irq,
                id.kind(),
                id.version
            );
            devices.push(Device {
                addr: DeviceAddr::Mmio {
                    base: d.base,
                    irq: d.irq,
                },
                vendor: id.vendor_id as u16,
                device: id.device_id as u16,
                kind: id.kind(),
            });
            virtio.push(VirtioSlot::Mmio {
                base: d.base,
                size: d.size,
                irq: d.irq,
            });
        }
    }
    Discovery {
        devices,
        machine,
        virtio,
        functions,
    }
}
