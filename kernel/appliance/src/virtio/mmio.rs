//! virtio-mmio transports for the `virtio_mmio.device=SIZE@BASE:IRQ` windows the VMM
//! puts on the kernel command line (QEMU microvm with `acpi=off`, Firecracker), as
//! device discovery found them.

use crate::arch::IDENTITY_MAPPED;
use core::ptr::NonNull;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};

/// The register window must at least hold the header (0x100 bytes).
const MIN_WINDOW: u64 = 0x100;

/// The transport of the populated virtio-mmio window at `base` (`size` bytes, interrupt
/// line `irq`), which discovery found on the command line; `None` (with a warning) for
/// a window this crate cannot drive.
pub fn transport(base: u64, size: u64, irq: u32) -> Option<(DeviceType, MmioTransport<'static>)> {
    let in_map = base
        .checked_add(size)
        .is_some_and(|end| end <= IDENTITY_MAPPED);
    if size < MIN_WINDOW || !in_map || !base.is_multiple_of(4) {
        return None;
    }
    let header = NonNull::new(base as *mut VirtIOHeader)?;
    // SAFETY: the window is inside the identity mapping (3..4 GiB is mapped uncached for
    // devices), 4-byte aligned, at least a header long, and the VMM names it as a
    // virtio-mmio device; discovery yields each window once and only this transport
    // accesses it from now on, for the kernel's life.
    match unsafe { MmioTransport::new(header, size as usize) } {
        Ok(t) => {
            if t.device_type() == DeviceType::Network {
                super::irq::record(super::irq::Route::Mmio { base, irq });
            }
            Some((t.device_type(), t))
        }
        Err(e) => {
            defmt::warn!("virtio-mmio {=u64:#x}: {}", base, defmt::Display2Format(&e));
            None
        }
    }
}
