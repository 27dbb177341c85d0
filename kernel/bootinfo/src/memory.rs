//! The boot memory map (E820 types, shared by PVH and multiboot2) and the choice of
//! the heap's span inside it.

use crate::bytes::{u32_at, u64_at};

/// What a range of physical memory is, by its E820 type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// RAM the kernel may use (type 1).
    Usable,
    /// Reserved by firmware or devices (type 2).
    Reserved,
    /// ACPI tables, reclaimable after reading them (type 3).
    AcpiReclaimable,
    /// ACPI non-volatile storage (type 4).
    AcpiNvs,
    /// Defective RAM (type 5).
    Bad,
    /// Any other type number.
    Other(u32),
}

impl MemoryKind {
    /// The kind of an E820 type number.
    pub fn from_e820(kind: u32) -> Self {
        match kind {
            1 => Self::Usable,
            2 => Self::Reserved,
            3 => Self::AcpiReclaimable,
            4 => Self::AcpiNvs,
            5 => Self::Bad,
            other => Self::Other(other),
        }
    }
}

/// One entry of the memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    pub start: u64,
    pub len: u64,
    pub kind: MemoryKind,
}

impl MemoryRegion {
    /// Iterates over E820-style entries (`u64 addr, u64 len, u32 type, ...`), each
    /// `entry_len` bytes long (at least 20). A trailing partial entry is ignored.
    pub fn iter_e820(bytes: &[u8], entry_len: usize) -> impl Iterator<Item = MemoryRegion> + '_ {
        let step = entry_len.max(20);
        bytes.chunks_exact(step).filter_map(|e| {
            Some(MemoryRegion {
                start: u64_at(e, 0)?,
                len: u64_at(e, 8)?,
                kind: MemoryKind::from_e820(u32_at(e, 16)?),
            })
        })
    }

    /// The exclusive end address, saturating at `u64::MAX`.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// A half-open physical address range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Chooses where the heap goes: the largest usable range that lies above
/// `reserved_end` (the end of the kernel image and anything else in use) and below
/// `limit` (the end of the identity mapping), with its start aligned up to `align`
/// (a power of two). `None` when no usable RAM is left.
pub fn heap_span(
    regions: impl Iterator<Item = MemoryRegion>,
    reserved_end: u64,
    limit: u64,
    align: u64,
) -> Option<Span> {
    let mask = align.max(1).next_power_of_two() - 1;
    regions
        .filter(|r| r.kind == MemoryKind::Usable)
        .filter_map(|r| {
            let start = r.start.max(reserved_end).checked_add(mask)? & !mask;
            let end = r.end().min(limit);
            (start < end).then_some(Span { start, end })
        })
        .max_by_key(Span::len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn entry(start: u64, len: u64, kind: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&start.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(&kind.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v
    }

    /// The map QEMU gives a microvm guest with `-m 32M`.
    fn microvm_32m() -> Vec<u8> {
        let mut v = entry(0, 0x9fc00, 1);
        v.extend(entry(0x9fc00, 0x400, 2));
        v.extend(entry(0xf0000, 0x10000, 2));
        v.extend(entry(0x100000, 0x1f00000, 1));
        v
    }

    #[test]
    fn parses_e820_entries() {
        let map = microvm_32m();
        let r: Vec<_> = MemoryRegion::iter_e820(&map, 24).collect();
        assert_eq!(r.len(), 4);
        assert_eq!(r[1].kind, MemoryKind::Reserved);
        assert_eq!(
            r[3],
            MemoryRegion {
                start: 0x100000,
                len: 0x1f00000,
                kind: MemoryKind::Usable
            }
        );
        assert_eq!(r[3].end(), 0x2000000);
    }

    #[test]
    fn ignores_trailing_partial_entry() {
        let mut map = microvm_32m();
        map.extend_from_slice(&[1, 2, 3]);
        assert_eq!(MemoryRegion::iter_e820(&map, 24).count(), 4);
        assert_eq!(MemoryRegion::iter_e820(&map[..10], 24).count(), 0);
    }

    #[test]
    fn heap_goes_above_the_kernel_in_the_largest_region() {
        let map = microvm_32m();
        let s = heap_span(MemoryRegion::iter_e820(&map, 24), 0x123456, 1 << 32, 4096).unwrap();
        assert_eq!(
            s,
            Span {
                start: 0x124000,
                end: 0x2000000
            }
        );
    }

    #[test]
    fn heap_is_clipped_to_the_mapping_limit() {
        let mut map = entry(0x100000, 0x1_0000_0000, 1);
        map.extend(entry(0x1_0000_0000, 0x1000_0000, 1));
        let s = heap_span(
            MemoryRegion::iter_e820(&map, 24),
            0x200000,
            0xc000_0000,
            4096,
        )
        .unwrap();
        assert_eq!(
            s,
            Span {
                start: 0x200000,
                end: 0xc000_0000
            }
        );
    }

    #[test]
    fn no_heap_without_usable_ram() {
        let map = entry(0x100000, 0x1000, 2);
        assert_eq!(
            heap_span(MemoryRegion::iter_e820(&map, 24), 0, u64::MAX, 4096),
            None
        );
        let map = entry(0x100000, 0x1000, 1);
        assert_eq!(
            heap_span(MemoryRegion::iter_e820(&map, 24), 0x200000, u64::MAX, 4096),
            None
        );
    }

    #[test]
    fn overflowing_region_saturates() {
        let map = entry(u64::MAX - 10, 100, 1);
        let r: Vec<_> = MemoryRegion::iter_e820(&map, 24).collect();
        assert_eq!(r[0].end(), u64::MAX);
        assert_eq!(heap_span(r.into_iter(), 0, u64::MAX, 4096), None);
    }
}
