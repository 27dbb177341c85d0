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

use crate::devices::VirtioSlot;
use alloc::vec::Vec;
pub use irq::route_interrupts;
pub use virtio_drivers::transport::{DeviceType, SomeTransport};

/// One discovered virtio device, ready for its driver.
pub struct VirtioDevice {
    pub kind: DeviceType,
    /// `pci 0:3.0` or `mmio 0xfeb00e00`, for messages.
    pub location: alloc::string::String,
    pub transport: SomeTransport<'static>,
}

/// A transport for each virtio device that discovery found (`devices::discover`), in
/// its order: PCI functions (q35/pc) then the command line's virtio-mmio windows.
/// Call once, with the one discovery's slots: each transport owns its device from then
/// on. The NICs' interrupt routes are recorded for [`route_interrupts`].
pub fn transports(slots: &[VirtioSlot]) -> Vec<VirtioDevice> {
    let mut out = Vec::new();
    for slot in slots {
        let device = match *slot {
            VirtioSlot::Pci(f) => pci::transport(f).map(|(kind, f, t)| VirtioDevice {
                kind,
                location: alloc::format!("pci {f}"),
                transport: t.into(),
            }),
            VirtioSlot::Mmio { base, size, irq } => {
                mmio::transport(base, size, irq).map(|(kind, t)| VirtioDevice {
                    kind,
                    location: alloc::format!("mmio {base:#x}"),
                    transport: t.into(),
                })
            }
        };
        out.extend(device);
    }
    out
}
