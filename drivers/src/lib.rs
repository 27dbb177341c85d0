//! Device drivers for the vnetcrypt appliance: the unsafe edge next to the hardware.
//!
//! Every access to a port or a device register lives here, behind an `unsafe`
//! constructor whose contract says which device the caller vouches for; after that,
//! the driver's methods are safe. Logic that needs no hardware (decoding RTC
//! registers, walking PCI configuration space, naming devices) is written against
//! plain values or the [`pci::ConfigSpace`] trait so that host tests can drive it.
#![no_std]

#[cfg(test)]
extern crate std;

extern crate alloc;

pub mod apic;
pub mod igb;
pub mod pci;
pub mod pit;
pub mod port;
pub mod rtc;
pub mod uart16550;
pub mod virtio_mmio;
