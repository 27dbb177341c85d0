//! Architecture code: boot, descriptor tables, exceptions, CPU features, memory
//! functions, machine exit. All of the kernel's own `unsafe` lives in this module
//! (device access lives in `vnetcrypt-drivers`).

pub mod boot;
pub mod cpu;
pub mod exceptions;
pub mod exit;
#[cfg(feature = "test-faults")]
pub mod fault;
pub mod gdt;
pub mod idt;
pub mod interrupts;
mod mem;
pub mod paging;
pub mod physmem;

/// The boot code maps the first 4 GiB, identity.
pub const IDENTITY_MAPPED: u64 = 1 << 32;
