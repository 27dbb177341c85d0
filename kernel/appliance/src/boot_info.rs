//! Which boot protocol brought us here, and what its loader told us: the command
//! line and the memory map. The parsing is `vnetcrypt-bootinfo`'s; this module only
//! fetches the bytes.

use crate::arch::physmem;
use vnetcrypt_bootinfo::{
    Cmdline, MemoryRegion, Multiboot2Info, PvhStartInfo, MULTIBOOT2_BOOT_MAGIC,
    PVH_MEMMAP_ENTRY_LEN, PVH_START_INFO_LEN,
};

/// The longest command line read.
const CMDLINE_MAX: usize = 4096;
/// The most memory map entries kept.
const MAX_REGIONS: usize = 64;

pub struct BootInfo {
    pub protocol: &'static str,
    pub cmdline: Cmdline<'static>,
    /// The end of the highest range the loader's data occupies; the heap stays above.
    pub loader_end: u64,
    regions: [Option<MemoryRegion>; MAX_REGIONS],
}

impl BootInfo {
    pub fn regions(&self) -> impl Iterator<Item = MemoryRegion> + Clone + '_ {
        self.regions.iter().flatten().copied()
    }

    fn new(
        protocol: &'static str,
        cmdline: &'static [u8],
        map: impl Iterator<Item = MemoryRegion>,
        used: &[&'static [u8]],
    ) -> Self {
        let loader_end = used
            .iter()
            .map(|s| s.as_ptr() as u64 + s.len() as u64)
            .max()
            .unwrap_or(0);
        let mut regions = [None; MAX_REGIONS];
        for (slot, r) in regions.iter_mut().zip(map) {
            *slot = Some(r);
        }
        Self {
            protocol,
            cmdline: Cmdline::from_bytes(cmdline),
            loader_end,
            regions,
        }
    }
}

/// Reads the boot information `info` points to, as `magic` says. Panics (a clear
/// report and a failure exit) when neither protocol's information is there: the
/// kernel cannot run without a memory map.
pub fn read(magic: u32, info: u32) -> BootInfo {
    let info = u64::from(info);
    if magic == MULTIBOOT2_BOOT_MAGIC {
        // SAFETY: a multiboot2 loader passes its boot information at `info`; it lies
        // below the kernel and is never reused (see physmem::slice).
        let header = unsafe { physmem::slice(info, 8) }.expect("multiboot2 info unmapped");
        let total = Multiboot2Info::total_size(header).expect("multiboot2 info header");
        // SAFETY: as above, for the size the structure declares.
        let bytes = unsafe { physmem::slice(info, total) }.expect("multiboot2 info unmapped");
        let mb = Multiboot2Info::parse(bytes).expect("multiboot2 info malformed");
        return BootInfo::new(
            "multiboot2",
            mb.cmdline.unwrap_or(b""),
            mb.memory_map(),
            &[bytes],
        );
    }
    // SAFETY: a PVH loader passes `hvm_start_info` at `info` (checked by its magic).
    let bytes = unsafe { physmem::slice(info, PVH_START_INFO_LEN) }.expect("boot info unmapped");
    let start = PvhStartInfo::parse(bytes).expect("neither multiboot2 nor PVH boot information");
    let cmdline = if start.cmdline_paddr != 0 {
        // SAFETY: the PVH loader put the NUL-terminated command line there.
        unsafe { physmem::c_string(start.cmdline_paddr, CMDLINE_MAX) }.unwrap_or(b"")
    } else {
        b""
    };
    let map = start
        .memmap_len()
        // SAFETY: the PVH loader put `memmap_entries` entries there.
        .and_then(|len| unsafe { physmem::slice(start.memmap_paddr, len) })
        .unwrap_or(&[]);
    BootInfo::new(
        "PVH",
        cmdline,
        MemoryRegion::iter_e820(map, PVH_MEMMAP_ENTRY_LEN),
        &[bytes, cmdline, map],
    )
}
