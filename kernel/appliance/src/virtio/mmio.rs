//! virtio-mmio transports from the `virtio_mmio.device=SIZE@BASE:IRQ` entries the VMM
//! puts on the kernel command line (QEMU microvm with `acpi=off`, Firecracker).

use crate::arch::IDENTITY_MAPPED;
use alloc::vec::Vec;
use core::ptr::NonNull;
use virtio_drivers::transport::mmio::{MmioError, MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};
use vnetcrypt_bootinfo::Cmdline;

/// The register window must at least hold the header (0x100 bytes).
const MIN_WINDOW: u64 = 0x100;

/// Every populated virtio-mmio window the command line names.
pub fn transports(cmdline: &Cmdline<'_>) -> Vec<(DeviceType, u64, MmioTransport<'static>)> {
    let mut found = Vec::new();
    for entry in cmdline.virtio_mmio_devices() {
        let Ok(d) = entry else { continue }; // devices::discover already warned
        let in_map = d
            .base
            .checked_add(d.size)
            .is_some_and(|end| end <= IDENTITY_MAPPED);
        if d.size < MIN_WINDOW || !in_map || d.base % 4 != 0 || d.base == 0 {
            continue;
        }
        let Some(header) = NonNull::new(d.base as *mut VirtIOHeader) else {
            continue;
        };
        // SAFETY: the window is inside the identity mapping (3..4 GiB is mapped
        // uncached for devices), 4-byte aligned, at least a header long, and the VMM
        // names it as a virtio-mmio device; each window appears once on the command
        // line and only this transport accesses it from now on, for the kernel's life.
        match unsafe { MmioTransport::new(header, d.size as usize) } {
            Ok(t) => {
                if t.device_type() == DeviceType::Network {
                    super::irq::record(super::irq::Route::Mmio {
                        base: d.base,
                        irq: d.irq,
                    });
                }
                found.push((t.device_type(), d.base, t))
            }
            // An empty slot (device id 0) or a type this crate does not know.
            Err(MmioError::InvalidDeviceID(_)) => {}
            Err(e) => defmt::warn!(
                "virtio-mmio {=u64:#x}: {}",
                d.base,
                defmt::Display2Format(&e)
            ),
        }
    }
    found
}
