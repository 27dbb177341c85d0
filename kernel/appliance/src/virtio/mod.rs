//! virtio transports and the DMA HAL, for every virtio driver in the kernel (net now,
//! blk for the configuration disk).
//!
//! Unsafe boundary: this module is where the kernel vouches for memory it shares with
//! virtio devices. [`hal::KernelHal`] hands out identity-mapped heap memory; the
//! transports are built only over register windows checked to lie inside the identity
//! mapping; [`net::NetQueues`] keeps every buffer it has posted to a queue owned (moved
//! into its in-flight table) until the device has returned it, so the device and Rust
//! code never touch a buffer at the same time. Everything above this module is safe code.

pub mod hal;
mod irq;
mod mmio;
pub mod net;
mod pci;

use alloc::vec::Vec;
pub use irq::route_interrupts;
pub use virtio_drivers::transport::{DeviceType, SomeTransport};
use vnetcrypt_bootinfo::Cmdline;

/// One discovered virtio device, ready for its driver.
pub struct VirtioDevice {
    pub kind: DeviceType,
    /// `pci 0:3.0` or `mmio 0xfeb00e00`, for messages.
    pub location: alloc::string::String,
    pub transport: SomeTransport<'static>,
}

/// Every virtio device of the machine, in bus order: PCI functions (q35/pc; nothing on
/// microvm, whose configuration ports read all ones) then the command line's
/// virtio-mmio windows. Call once: each transport owns its device from then on.
/// The NICs' interrupt routes are recorded for [`route_interrupts`].
pub fn transports(cmdline: &Cmdline<'_>) -> Vec<VirtioDevice> {
    let mut out = Vec::new();
    {
        for (kind, f, t) in pci::transports() {
            out.push(VirtioDevice {
                kind,
                location: alloc::format!("pci {f}"),
                transport: t.into(),
            });
        }
    }
    for (kind, base, t) in mmio::transports(cmdline) {
        out.push(VirtioDevice {
            kind,
            location: alloc::format!("mmio {base:#x}"),
            transport: t.into(),
        });
    }
    out
}
