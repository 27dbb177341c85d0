//! Interrupt routes of virtio devices: which line or MSI-X table wakes the CPU when a
//! NIC uses a buffer. Recorded while the transports are discovered, programmed by
//! [`route_interrupts`] once the drivers have initialised their devices (a virtio
//! reset clears the MSI-X queue vectors). Only NICs are routed: the configuration
//! disk is driven synchronously.

use crate::arch::interrupts::{allocate_msi, route_gsi, source};
use alloc::vec::Vec;
use spin::Mutex;
use vnetcrypt_drivers::apic::Trigger;

/// Where a virtio-pci function's MSI-X capability and common configuration live.
#[derive(Clone, Copy, Debug)]
pub struct Msix {
    /// The function, for messages and configuration writes.
    pub function: virtio_drivers::transport::pci::bus::DeviceFunction,
    /// Offset of the MSI-X capability in configuration space.
    pub cap: u8,
    /// Physical address of the MSI-X table (identity-mapped, checked).
    pub table: u64,
    /// Physical address of the virtio common configuration structure.
    pub common: u64,
}

#[derive(Clone, Copy, Debug)]
pub enum Route {
    /// A virtio-mmio window and its I/O APIC input (`virtio_mmio.device=…:IRQ`).
    Mmio {
        base: u64,
        irq: u32,
    },
    Msix(Msix),
}

static ROUTES: Mutex<Vec<Route>> = Mutex::new(Vec::new());

pub fn record(route: Route) {
    ROUTES.lock().push(route);
}

/// Routes every recorded NIC to the CPU. Call once, after the drivers' initialisation
/// and `arch::interrupts::init`.
pub fn route_interrupts() {
    for route in ROUTES.lock().iter() {
        match *route {
            // The handler acknowledges the window's interrupt status, which lowers the
            // line: level-triggered, so a line already high when unmasked still fires.
            Route::Mmio { base, irq } => {
                if !route_gsi(irq, Trigger::Level, source::DEVICE, Some(base)) {
                    defmt::warn!("virtio-mmio {=u64:#x}: IRQ {=u32} not routable", base, irq);
                }
            }
            Route::Msix(m) => match allocate_msi(source::DEVICE) {
                Some((address, data)) => {
                    if !super::pci::program_msix(&m, address, data) {
                        defmt::warn!(
                            "virtio-pci {}: MSI-X refused",
                            defmt::Display2Format(&m.function)
                        );
                    }
                }
                None => defmt::warn!(
                    "no MSI vector left for virtio-pci {}",
                    defmt::Display2Format(&m.function)
                ),
            },
        }
    }
}
