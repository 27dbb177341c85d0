//! What the boot loader hands the appliance, parsed as pure code.
//!
//! The kernel copies nothing and trusts nothing: it hands these parsers byte slices
//! read from the physical addresses the loader gave it, and gets back typed values.
//! Guarantees: no input can panic; malformed input is an error value that says what
//! was wrong. Nothing here allocates.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod bytes;
mod cmdline;
mod memory;
mod multiboot2;
mod pvh;
mod virtio_mmio;

pub use cmdline::{Cmdline, Param};
pub use memory::{heap_span, MemoryKind, MemoryRegion, Span};
pub use multiboot2::{Multiboot2Info, MULTIBOOT2_BOOT_MAGIC};
pub use pvh::{PvhStartInfo, PVH_MEMMAP_ENTRY_LEN, PVH_START_INFO_LEN, PVH_START_MAGIC};
pub use virtio_mmio::{VirtioMmioDevice, VirtioMmioError};

/// Why a boot structure could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    /// The structure is shorter than its fixed part or than its own length field.
    Truncated,
    /// The magic number is not the protocol's.
    BadMagic(u32),
    /// A length or size field is inconsistent.
    BadLength,
}

impl core::fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated => f.write_str("boot structure truncated"),
            Self::BadMagic(m) => write!(f, "boot structure has bad magic {m:#x}"),
            Self::BadLength => f.write_str("boot structure has an inconsistent length"),
        }
    }
}
