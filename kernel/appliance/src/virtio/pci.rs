//! virtio-pci (modern) transports on machines with a PCI host bridge (q35, pc).
//! The firmware (SeaBIOS) has assigned the BARs; we enable memory decoding and bus
//! mastering, check that every memory BAR lies inside the identity mapping, and let
//! `virtio-drivers` read the virtio capabilities.

use super::hal::KernelHal;
use alloc::vec::Vec;
use virtio_drivers::transport::pci::bus::{
    Command, ConfigurationAccess, DeviceFunction, HeaderType, PciRoot,
};
use virtio_drivers::transport::pci::{virtio_device_type, PciTransport};
use virtio_drivers::transport::DeviceType;
use vnetcrypt_drivers::port::{inl, outl};

/// Configuration mechanism #1 (ports 0xCF8/0xCFC), with writes (BAR sizing, command
/// register), which `vnetcrypt_drivers::pci::PortConfigSpace` does not offer.
struct PortCam(());

impl PortCam {
    fn address(f: DeviceFunction, offset: u8) -> u32 {
        0x8000_0000
            | u32::from(f.bus) << 16
            | u32::from(f.device & 0x1f) << 11
            | u32::from(f.function & 0x7) << 8
            | u32::from(offset & 0xfc)
    }
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, f: DeviceFunction, offset: u8) -> u32 {
        // SAFETY: `transports` creates the only PortCam after device discovery is done
        // and uses it only during transport discovery, single-threaded; an address
        // write followed by a data read touches nothing but configuration space.
        unsafe {
            outl(0xcf8, Self::address(f, offset));
            inl(0xcfc)
        }
    }

    fn write_word(&mut self, f: DeviceFunction, offset: u8, data: u32) {
        // SAFETY: as for `read_word`; callers write only registers the PCI spec lets a
        // driver write (command, BAR sizing with the original value restored).
        unsafe {
            outl(0xcf8, Self::address(f, offset));
            outl(0xcfc, data);
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        PortCam(())
    }
}

/// Whether every memory BAR of `f` is (or could be made) identity-mapped, so that the
/// HAL's `mmio_phys_to_virt` can hand out a valid pointer for any region in it.
fn bars_mapped(root: &mut PciRoot<PortCam>, f: DeviceFunction) -> bool {
    let Ok(bars) = root.bars(f) else {
        return false;
    };
    bars.iter()
        .flatten()
        .all(|bar| match bar.memory_address_size() {
            // UEFI firmware puts 64-bit BARs above 4 GiB: map those windows too.
            Some((addr, size)) => {
                size == 0 || (addr != 0 && crate::arch::paging::map_device(addr, size))
            }
            None => true, // I/O BARs are not used by modern virtio
        })
}

/// Every virtio function on PCI bus 0..=255 with a usable modern transport.
pub fn transports() -> Vec<(DeviceType, DeviceFunction, PciTransport)> {
    let mut found = Vec::new();
    let cam = PortCam(());
    let host_bridge = DeviceFunction {
        bus: 0,
        device: 0,
        function: 0,
    };
    // No host bridge at 0:0.0 (microvm): no PCI at all; do not walk 8192 slots.
    if matches!(cam.read_word(host_bridge, 0), 0 | 0xffff_ffff) {
        return found;
    }
    let mut root = PciRoot::new(cam);
    for bus in 0..=255u8 {
        let functions: Vec<_> = root.enumerate_bus(bus).collect();
        for (f, info) in functions {
            if info.header_type != HeaderType::Standard {
                continue;
            }
            let Some(kind) = virtio_device_type(&info) else {
                continue;
            };
            if !bars_mapped(&mut root, f) {
                defmt::warn!(
                    "virtio-pci {=u8}:{=u8}.{=u8}: a BAR cannot be mapped; skipped",
                    f.bus,
                    f.device,
                    f.function
                );
                continue;
            }
            let (_, command) = root.get_status_command(f);
            root.set_command(f, command | Command::MEMORY_SPACE | Command::BUS_MASTER);
            match PciTransport::new::<KernelHal, _>(&mut root, f) {
                Ok(t) => found.push((kind, f, t)),
                Err(e) => defmt::warn!(
                    "virtio-pci {=u8}:{=u8}.{=u8}: {}",
                    f.bus,
                    f.device,
                    f.function,
                    defmt::Display2Format(&e)
                ),
            }
        }
    }
    found
}
