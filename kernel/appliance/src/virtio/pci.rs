//! virtio-pci (modern) transports for the virtio functions device discovery found on
//! machines with a PCI host bridge (q35, pc).
//! The firmware (SeaBIOS) has assigned the BARs; we enable memory decoding and bus
//! mastering, check that every memory BAR lies inside the identity mapping, and let
//! `virtio-drivers` read the virtio capabilities.

use super::hal::KernelHal;
use super::irq::Msix;
use virtio_drivers::transport::pci::bus::{
    Command, ConfigurationAccess, DeviceFunction, DeviceFunctionInfo, HeaderType, PciRoot,
};
use virtio_drivers::transport::pci::{virtio_device_type, PciTransport};
use virtio_drivers::transport::DeviceType;
use vnetcrypt_drivers::pci::PciFunction;
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
        // SAFETY: PortCams exist only in this module, after device discovery is done,
        // during transport discovery and MSI-X set-up, all on the one thread with
        // interrupts off; an address write followed by a data read touches nothing
        // but configuration space.
        unsafe {
            outl(0xcf8, Self::address(f, offset));
            inl(0xcfc)
        }
    }

    fn write_word(&mut self, f: DeviceFunction, offset: u8, data: u32) {
        // SAFETY: as for `read_word`; callers write only registers the PCI spec lets a
        // driver write (command, BAR sizing with the original value restored, the
        // MSI-X message control).
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

/// The modern virtio transport of `found`, a virtio function that discovery found on
/// the bus; `None` (with a warning) when it cannot be driven.
pub fn transport(found: PciFunction) -> Option<(DeviceType, DeviceFunction, PciTransport)> {
    let f = DeviceFunction {
        bus: found.addr.bus,
        device: found.addr.device,
        function: found.addr.function,
    };
    let cam = PortCam(());
    let header_type = HeaderType::from((cam.read_word(f, 0x0c) >> 16) as u8 & 0x7f);
    let info = DeviceFunctionInfo {
        vendor_id: found.vendor,
        device_id: found.device,
        class: found.class,
        subclass: found.subclass,
        prog_if: 0,
        revision: 0,
        header_type,
    };
    if header_type != HeaderType::Standard {
        return None;
    }
    let kind = virtio_device_type(&info)?;
    let mut root = PciRoot::new(cam);
    if !bars_mapped(&mut root, f) {
        defmt::warn!(
            "virtio-pci {=u8}:{=u8}.{=u8}: a BAR cannot be mapped; skipped",
            f.bus,
            f.device,
            f.function
        );
        return None;
    }
    let (_, command) = root.get_status_command(f);
    root.set_command(f, command | Command::MEMORY_SPACE | Command::BUS_MASTER);
    if kind == DeviceType::Network {
        match find_msix(&mut root, f) {
            Some(m) => super::irq::record(super::irq::Route::Msix(m)),
            None => defmt::warn!(
                "virtio-pci {=u8}:{=u8}.{=u8}: no MSI-X; the NIC is only polled",
                f.bus,
                f.device,
                f.function
            ),
        }
    }
    match PciTransport::new::<KernelHal, _>(&mut root, f) {
        Ok(t) => Some((kind, f, t)),
        Err(e) => {
            defmt::warn!(
                "virtio-pci {=u8}:{=u8}.{=u8}: {}",
                f.bus,
                f.device,
                f.function,
                defmt::Display2Format(&e)
            );
            None
        }
    }
}

const CAP_MSIX: u8 = 0x11;
const CAP_VENDOR: u8 = 0x09;
const VIRTIO_PCI_CAP_COMMON_CFG: u8 = 1;
/// MSI-X message control: enable, function mask (upper half of the capability's first word).
const MSIX_ENABLE: u32 = 1 << 31;
const MSIX_FUNCTION_MASK: u32 = 1 << 30;
// virtio common configuration registers (virtio 1.x, 4.1.4.3).
const COMMON_MSIX_CONFIG: u64 = 0x10;
const COMMON_NUM_QUEUES: u64 = 0x12;
const COMMON_QUEUE_SELECT: u64 = 0x16;
const COMMON_QUEUE_MSIX_VECTOR: u64 = 0x1a;
const NO_VECTOR: u16 = 0xffff;

/// The MSI-X table and the virtio common configuration of `f`, both inside BARs that
/// `bars_mapped` has checked.
fn find_msix(root: &mut PciRoot<PortCam>, f: DeviceFunction) -> Option<Msix> {
    let bars = root.bars(f).ok()?;
    let bar_at = |bir: u32, offset: u32| -> Option<u64> {
        let (base, size) = bars.get(bir as usize)?.as_ref()?.memory_address_size()?;
        (u64::from(offset) < size).then(|| base + u64::from(offset))
    };
    let cam = PortCam(());
    let (mut table, mut common) = (None, None);
    for cap in root.capabilities(f) {
        match cap.id {
            CAP_MSIX => {
                let word = cam.read_word(f, cap.offset + 4);
                table = bar_at(word & 7, word & !7).map(|t| (cap.offset, t));
            }
            CAP_VENDOR if (cap.private_header >> 8) as u8 == VIRTIO_PCI_CAP_COMMON_CFG => {
                let bir = cam.read_word(f, cap.offset + 4) & 0xff;
                let offset = cam.read_word(f, cap.offset + 8);
                common = common.or(bar_at(bir, offset));
            }
            _ => {}
        }
    }
    let ((cap, table), common) = (table?, common?);
    Some(Msix {
        function: f,
        cap,
        table,
        common,
    })
}

/// Points MSI-X table entry 0 at (`address`, `data`), enables MSI-X, and gives entry 0
/// to the configuration change interrupt and every queue. Run after the driver has
/// reset and set up the device, from the main loop's thread only (it selects queues
/// through the common configuration, which the transport also uses). False if the
/// device refused a vector.
pub fn program_msix(m: &Msix, address: u64, data: u32) -> bool {
    let entry = m.table;
    // SAFETY: the table lies in a BAR checked to be identity-mapped (uncached device
    // window); entry 0 is 16 bytes: address low/high, data, vector control (0 = not
    // masked). Nothing else writes the table.
    unsafe {
        (entry as *mut u32).write_volatile(address as u32);
        ((entry + 4) as *mut u32).write_volatile((address >> 32) as u32);
        ((entry + 8) as *mut u32).write_volatile(data);
        ((entry + 12) as *mut u32).write_volatile(0);
    }
    let mut cam = PortCam(());
    let word = cam.read_word(m.function, m.cap);
    cam.write_word(
        m.function,
        m.cap,
        (word | MSIX_ENABLE) & !MSIX_FUNCTION_MASK,
    );
    let reg16 = |offset: u64| (m.common + offset) as *mut u16;
    // SAFETY: the common configuration lies in a checked, identity-mapped BAR; these
    // are its 16-bit registers. The transport is not in use while this runs (same
    // thread, between its calls), so selecting a queue here races nothing.
    unsafe {
        reg16(COMMON_MSIX_CONFIG).write_volatile(0);
        let mut ok = reg16(COMMON_MSIX_CONFIG).read_volatile() != NO_VECTOR;
        let queues = reg16(COMMON_NUM_QUEUES).read_volatile();
        for q in 0..queues {
            reg16(COMMON_QUEUE_SELECT).write_volatile(q);
            reg16(COMMON_QUEUE_MSIX_VECTOR).write_volatile(0);
            ok &= reg16(COMMON_QUEUE_MSIX_VECTOR).read_volatile() != NO_VECTOR;
        }
        ok
    }
}
